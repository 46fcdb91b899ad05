// bfloat16: the upper half of an IEEE float32 (sign, 8 exponent bits, 7 fraction bits).
// Rounding a float to bf16 keeps its range and leaves 8 significand bits, so the unit
// roundoff is u = 2^-8: |bf16(x) - x| <= 2^-8 |x| (docs/algorithm.md#bf16-matrix-products).
//
// One rounding rule on every path: round to nearest, ties to even, on the bit pattern
// (add 0x7FFF plus the lowest kept bit, then drop the low 16 bits); a NaN stays a quiet NaN
// (the carry could otherwise turn it into an infinity). Subnormal floats round like any
// other value, so the bf16 inputs of a product are the same whichever kernel reads them.
#pragma once
#include <cstdint>
#include <cstring>

namespace slab::cpu {

using bf16_bits = uint16_t;

inline bf16_bits float_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<bf16_bits>((bits >> 16) | 0x0040u);  // quiet NaN
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<bf16_bits>(bits >> 16);
}

inline float bf16_to_float(bf16_bits value) {
  const uint32_t bits = static_cast<uint32_t>(value) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// Rounds `count` floats to bf16 (the vector form of float_to_bf16, bit for bit).
void round_to_bf16(const float* in, bf16_bits* out, int64_t count);
// out = bf16_to_float(float_to_bf16(in)) on `count` floats: bf16 values kept as float32,
// whose products a float32 kernel forms exactly (8 x 8 significand bits fit in 24).
void round_through_bf16(const float* in, float* out, int64_t count);

}  // namespace slab::cpu
