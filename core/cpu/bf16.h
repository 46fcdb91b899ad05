// bfloat16: the upper half of an IEEE float32 (sign, 8 exponent bits, 7 fraction bits).
// Rounding a float to bf16 keeps its range and leaves 8 significand bits, so the unit
// roundoff is u = 2^-8: |bf16(x) - x| <= 2^-8 |x| (docs/algorithm.md#bf16-matrix-products).
//
// One rounding rule on every path (core/bf16_rounding.h, shared with the CUDA kernels; the
// vector forms below repeat it lane-wise): round to nearest, ties to even, on the bit
// pattern; a NaN stays a quiet NaN. Subnormal floats round like any other value, so the
// bf16 inputs of a product are the same whichever kernel reads them.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/bf16_rounding.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace slab::cpu {

using bf16_bits = uint16_t;

inline bf16_bits float_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bf16_bits_of(bits);
}

inline float bf16_to_float(bf16_bits value) {
  const uint32_t bits = static_cast<uint32_t>(value) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

#ifdef __AVX512F__
// float_to_bf16 on 16 lanes (the same rounding, the same quiet NaNs): each bf16 in the low
// half of its 32-bit lane.
inline __m512i bf16_lanes(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), lsb));
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  const __m512i quiet = _mm512_or_si512(bits, _mm512_set1_epi32(0x00400000));
  return _mm512_srli_epi32(_mm512_mask_mov_epi32(rounded, nan, quiet), 16);
}
#elif defined(__AVX2__)
// bf16_to_float(float_to_bf16(x)) on 8 lanes (the same rounding, the same quiet NaNs): each
// bf16 in the upper half of its lane, i.e. a float32 (the float32 link's rounding on AVX2).
inline __m256 through_bf16_lanes(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), lsb));
  // |bits| > infinity's pattern: both sides below 2^31, so the signed compare is exact.
  const __m256i nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
  const __m256i quiet = _mm256_or_si256(bits, _mm256_set1_epi32(0x00400000));
  const __m256i chosen = _mm256_blendv_epi8(rounded, quiet, nan);
  return _mm256_castsi256_ps(_mm256_and_si256(chosen, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
}
#endif

// Rounds `count` floats to bf16 (the vector form of float_to_bf16, bit for bit).
void round_to_bf16(const float* in, bf16_bits* out, int64_t count);
// out = bf16_to_float(float_to_bf16(in)) on `count` floats: bf16 values kept as float32,
// whose products a float32 kernel forms exactly (8 x 8 significand bits fit in 24).
void round_through_bf16(const float* in, float* out, int64_t count);

}  // namespace slab::cpu
