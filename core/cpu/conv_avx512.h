// The AVX-512 primitives of the float32 convolution paths (16 lanes, 32 registers) for the
// kernels of core/cpu/conv_blocked_kernels.h, and the tile shapes that fit them. Included
// only where __AVX512F__ and __FMA__ are defined.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

// GCC 12's AVX-512 shuffles start from _mm512_undefined_ps(), which it then reports as
// used uninitialised once inlined (GCC bug 105593): silenced for that header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "core/cpu/conv_blocked_kernels.h"

namespace slab::cpu::conv::avx512 {

using namespace blocked;

// In-register 16 x 16 transpose: afterwards r[j] holds what was column j (lane i = old r[i]
// lane j). Unpack pairs, then pairs of pairs, then 128-bit lanes twice.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // r[4 i + j] now holds rows 4i..4i+3 of columns j, 4 + j, 8 + j, 12 + j (one per 128-bit lane).
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88), u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
    const __m512 u2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    const __m512 u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
    t[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    t[8 + j] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
    t[12 + j] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

struct Isa {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_load_ps(p); }
  static Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_store_ps(p, v); }
  static void storeu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec set1(float x) { return _mm512_set1_ps(x); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec sub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static __mmask16 first(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }
  static Vec load_first(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static void store_first(float* p, int64_t n, Vec v) { _mm512_mask_storeu_ps(p, first(n), v); }
  static void transpose(Vec r[16]) { transpose16(r); }
  // Lane i at base[index_i], for lanes < n (the others read as 0, or not written).
  using Index = __m512i;
  static Index lane_offsets(int32_t stride) {
    return _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                              _mm512_set1_epi32(stride));
  }
  static Vec gather_first(const float* base, Index index, int64_t n) {
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), first(n), index, base, 4);
  }
  static void scatter_first(float* base, Index index, int64_t n, Vec v) {
    _mm512_mask_i32scatter_ps(base, first(n), index, v, 4);
  }
  // out[k] = line[k step]: k < n (lanes past n 0), `span` floats readable from line. Step 2
  // as two loads keeping the even lanes.
  static void gather_strided(const float* line, int64_t n, int64_t step, int64_t span, float* out) {
    if (step == 2) {
      const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
      span = std::min<int64_t>(2 * kLanes, span);
      const Vec low = load_first(line, std::min<int64_t>(span, kLanes));
      const Vec high = span > kLanes ? load_first(line + kLanes, span - kLanes) : zero();
      _mm512_storeu_ps(out, _mm512_permutex2var_ps(low, even, high));
      return;
    }
    for (int64_t k = 0; k < n; ++k) out[k] = line[k * step];
  }
  // The tiles of choose_tile and winograd_tile below.
  template <int CB, int PITCH, Epilogue E>
  static TileKernel kernel_for_tile(const Tile& t) {
    if (t.B == 2) return t.R == 1 ? &tile_kernel<Isa, 2, 1, 8, CB, PITCH, E> : &tile_kernel<Isa, 2, 2, 4, CB, PITCH, E>;
    if (t.R == 1) return &tile_kernel<Isa, 1, 1, 16, CB, PITCH, E>;
    return t.R == 2 ? &tile_kernel<Isa, 1, 2, 8, CB, PITCH, E> : &tile_kernel<Isa, 1, 4, 4, CB, PITCH, E>;
  }
  static Vec shift_down(Vec v, int k) {
    const __m512i index = _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(k));
    return _mm512_permutexvar_ps(index, v);
  }
};
constexpr int64_t kLanes = Isa::kLanes;

// The pixels (i step_h, j step_w) of one NCHW image into the blocked layout
// (to_blocked_sampled_rows), with sampled rows shorter than a vector gathered across rows.
inline void to_blocked_sampled(const float* src, int64_t height, int64_t width, int64_t step_h, int64_t step_w,
                               const Blocked& layout, float* dst) {
  const int64_t rows_out = (height + step_h - 1) / step_h, cols_out = (width + step_w - 1) / step_w;
  if (cols_out < kLanes && layout.top == 0 && layout.left == 0 && layout.cols == cols_out) {
    // Short sampled rows back to back in the plane: gather 16 pixels at a time, then transpose.
    const int64_t pixels = rows_out * cols_out;
    alignas(64) float gathered[kLanes * kLanes];
    for (int64_t p = 0; p < pixels; p += kLanes) {
      const int64_t n = std::min(kLanes, pixels - p);
      alignas(64) int32_t offsets[kLanes];
      for (int64_t k = 0; k < kLanes; ++k) {
        const int64_t q = p + std::min(k, n - 1);
        offsets[k] = static_cast<int32_t>((q / cols_out) * step_h * width + (q % cols_out) * step_w);
      }
      const __m512i index = _mm512_load_si512(offsets);
      for (int64_t block = 0; block < layout.blocks; ++block) {
        const float* channels = src + block * kLanes * height * width;
        for (int64_t c = 0; c < kLanes; ++c)
          _mm512_store_ps(gathered + c * kLanes, _mm512_i32gather_ps(index, channels + c * height * width, 4));
        transpose_block<Isa>(gathered, kLanes, kLanes, n, dst + block * layout.plane() + p * kLanes, kLanes);
      }
    }
    for (int64_t block = 0; block < layout.blocks; ++block)
      std::memset(dst + block * layout.plane() + pixels * kLanes, 0,
                  static_cast<size_t>((layout.rows - rows_out) * layout.cols * kLanes) * sizeof(float));
    return;
  }
  to_blocked_sampled_rows<Isa>(src, height, width, step_h, step_w, layout, dst);
}

// Tile shape for out_channels (a multiple of 16) and an output row of out_w pixels: 16 to 24
// accumulators, so the FMA units, not the loads, set the pace.
inline Tile choose_tile(int64_t out_channels, int64_t out_w) {
  if (out_channels % (2 * kLanes) == 0) return out_w >= 8 ? Tile{2, 1, 8} : Tile{2, 2, 4};
  if (out_w >= 16) return {1, 1, 16};
  if (out_w >= 8) return {1, 2, 8};
  return {1, 4, 4};
}

// Winograd's products (conv_winograd.cpp): B output blocks x U tiles in a row.
inline Tile winograd_tile(int64_t out_channels) {
  return out_channels % (2 * kLanes) == 0 ? Tile{2, 1, 8} : Tile{1, 1, 16};
}
inline TileKernel winograd_kernel(const Tile& t) { return Isa::kernel_for_tile<16, 16, Epilogue::store_blocked>(t); }
// Entries of a vector of input channels that one call of Winograd's weight-gradient kernel takes.
inline int64_t winograd_weight_chunk(int B) { return B == 2 ? 8 : 16; }

// Entries of a run of `length` consecutive reduction entries that one weight-kernel call
// takes, with B blocks of output channels (up to 24 accumulators).
inline int64_t weight_chunk(int64_t length, int B) {
  if (B == 1 && length % 16 == 0) return 16;
  for (int64_t t : {12, 8, 9, 3})
    if (length % t == 0) return t;
  return 1;
}

template <int B>
WeightKernel weight_kernel_for(int64_t t) {
  switch (t) {
    case 16:
      return &weight_kernel<Isa, B, 16>;
    case 12:
      return &weight_kernel<Isa, B, 12>;
    case 9:
      return &weight_kernel<Isa, B, 9>;
    case 8:
      return &weight_kernel<Isa, B, 8>;
    case 3:
      return &weight_kernel<Isa, B, 3>;
    default:
      return &weight_kernel<Isa, B, 1>;
  }
}

}  // namespace slab::cpu::conv::avx512
