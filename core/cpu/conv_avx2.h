// The AVX2 primitives of the float32 channel-blocked and Winograd convolution paths (8
// lanes, 16 registers) for the kernels of core/cpu/conv_blocked_kernels.h, and the tile
// shapes that fit them. Included only where __AVX2__ and __FMA__ are defined and __AVX512F__ is not (an
// AVX-512 build takes core/cpu/conv_avx512.h).
//
// Register budget. A forward tile of P pixels and B blocks of 8 output channels holds P B
// accumulators, B weight vectors and one broadcast: at most 16 registers, so P B <= 12 with
// B = 2 and P <= 8 (one vector of pixels, for the transposing store) with B = 1. An FMA has
// a latency of 4 to 5 cycles on two ports, so about 10 independent accumulators keep both
// busy: the tiles below hold 12 where the channels allow, 8 otherwise.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/cpu/conv_blocked_kernels.h"

namespace slab::cpu::conv::avx2 {

using namespace blocked;

struct Isa {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_load_ps(p); }
  static Vec loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_store_ps(p, v); }
  static void storeu(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec set1(float x) { return _mm256_set1_ps(x); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec sub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  // A masked load reads only lanes < n (nothing past them is touched, so a row may end where
  // its allocation does).
  static Vec load_first(const float* p, int64_t n) {
    if (n >= kLanes) return _mm256_loadu_ps(p);
    const __m256i first = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_ps(p, first);
  }
  // Lanes < n stored as pieces of 4, 2 and 1 floats: a masked store (vmaskmovps) is
  // microcoded on AMD's cores, many times the cost of these plain stores.
  static void store_first(float* p, int64_t n, Vec v) {
    if (n >= kLanes) {
      _mm256_storeu_ps(p, v);
      return;
    }
    __m128 part = _mm256_castps256_ps128(v);
    if (n >= 4) {
      _mm_storeu_ps(p, part);
      part = _mm256_extractf128_ps(v, 1);
      p += 4;
      n -= 4;
    }
    if (n >= 2) {
      _mm_storel_pi(reinterpret_cast<__m64*>(p), part);
      part = _mm_movehl_ps(part, part);
      p += 2;
      n -= 2;
    }
    if (n == 1) _mm_store_ss(p, part);
  }
  // 8 x 8 in registers: unpack pairs of rows, shuffle pairs of pairs (columns j and j + 4 of
  // four rows in the two 128-bit halves), then swap halves between the two groups of four rows.
  static void transpose(Vec r[8]) {
    Vec t[8], s[8];
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int half = 0; half < 2; ++half) {  // rows 4 half .. 4 half + 3
      const Vec* u = t + 4 * half;
      s[4 * half + 0] = _mm256_shuffle_ps(u[0], u[2], 0x44);  // columns 0 and 4
      s[4 * half + 1] = _mm256_shuffle_ps(u[0], u[2], 0xee);  // 1 and 5
      s[4 * half + 2] = _mm256_shuffle_ps(u[1], u[3], 0x44);  // 2 and 6
      s[4 * half + 3] = _mm256_shuffle_ps(u[1], u[3], 0xee);  // 3 and 7
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x20);
      r[4 + j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x31);
    }
  }
  // Lane i at base[index_i], for lanes < n (the others read as 0, or not written). AVX2 has
  // gathers but no scatters: the scatter stores lane by lane.
  using Index = __m256i;
  static Index lane_offsets(int32_t stride) {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(stride));
  }
  static Vec gather_first(const float* base, Index index, int64_t n) {
    const __m256i present = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<int64_t>(n, kLanes))),
                                               _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, index, _mm256_castsi256_ps(present), 4);
  }
  static void scatter_first(float* base, Index index, int64_t n, Vec v) {
    alignas(32) float values[kLanes];
    alignas(32) int32_t offsets[kLanes];
    _mm256_store_ps(values, v);
    _mm256_store_si256(reinterpret_cast<__m256i*>(offsets), index);
    for (int64_t i = 0; i < std::min<int64_t>(n, kLanes); ++i) base[offsets[i]] = values[i];
  }
  // out[k] = line[k step] for k < n.
  static void gather_strided(const float* line, int64_t n, int64_t step, int64_t, float* out) {
    for (int64_t k = 0; k < n; ++k) out[k] = line[k * step];
  }
  // The tiles of choose_tile below.
  template <int CB, int PITCH, Epilogue E>
  static TileKernel kernel_for_tile(const Tile& t) {
    if (t.B == 2) return t.U == 3 ? &tile_kernel<Isa, 2, 2, 3, CB, PITCH, E> : &tile_kernel<Isa, 2, 2, 2, CB, PITCH, E>;
    if (t.R == 1) return &tile_kernel<Isa, 1, 1, 8, CB, PITCH, E>;
    return t.R == 2 ? &tile_kernel<Isa, 1, 2, 4, CB, PITCH, E> : &tile_kernel<Isa, 1, 4, 2, CB, PITCH, E>;
  }
  static Vec shift_down(Vec v, int k) {
    return _mm256_permutevar8x32_ps(v, _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(k)));
  }
};
constexpr int64_t kLanes = Isa::kLanes;

// The pixels (i step_h, j step_w) of one NCHW image into the blocked layout.
inline void to_blocked_sampled(const float* src, int64_t height, int64_t width, int64_t step_h, int64_t step_w,
                               const Blocked& layout, float* dst) {
  to_blocked_sampled_rows<Isa>(src, height, width, step_h, step_w, layout, dst);
}

// Tile shape for out_channels (a multiple of 8) and an output row of out_w pixels: 2 blocks x
// 2 rows x 3 columns (12 accumulators; rows of 32, 16 or 8 pixels round up by 1 column) where
// the channels come in 16s, 2 x 2 x 2 for rows of fewer than 6; one block x 8 pixels otherwise.
inline Tile choose_tile(int64_t out_channels, int64_t out_w) {
  if (out_channels % (2 * kLanes) == 0) return out_w >= 6 ? Tile{2, 2, 3} : Tile{2, 2, 2};
  if (out_w >= 8) return {1, 1, 8};
  if (out_w >= 4) return {1, 2, 4};
  return {1, 4, 2};
}

// Winograd's products (conv_winograd.cpp): B output blocks x U tiles in a row (12 or 8
// accumulators).
inline Tile winograd_tile(int64_t out_channels) {
  return out_channels % (2 * kLanes) == 0 ? Tile{2, 1, 6} : Tile{1, 1, 8};
}
inline TileKernel winograd_kernel(const Tile& t) {
  return t.B == 2 ? &tile_kernel<Isa, 2, 1, 6, kLanes, kLanes, Epilogue::store_blocked>
                  : &tile_kernel<Isa, 1, 1, 8, kLanes, kLanes, Epilogue::store_blocked>;
}
// Entries of a vector of input channels that one call of Winograd's weight-gradient kernel
// takes (T B accumulators: 8 either way).
inline int64_t winograd_weight_chunk(int B) { return B == 2 ? 4 : 8; }

// Entries of a run of `length` consecutive reduction entries that one weight-kernel call
// takes, with B blocks of output channels: T B accumulators, B dy vectors and a broadcast fit
// 16 registers for T <= 6 (B = 2) and T <= 12 (B = 1).
inline int64_t weight_chunk(int64_t length, int B) {
  if (B == 2) {
    for (int64_t t : {6, 4, 3, 2})
      if (length % t == 0) return t;
    return 1;
  }
  for (int64_t t : {12, 8, 9, 6, 4, 3})
    if (length % t == 0) return t;
  return 1;
}

template <int B>
WeightKernel weight_kernel_for(int64_t t) {
  if constexpr (B == 2) {
    switch (t) {
      case 6:
        return &weight_kernel<Isa, 2, 6>;
      case 4:
        return &weight_kernel<Isa, 2, 4>;
      case 3:
        return &weight_kernel<Isa, 2, 3>;
      case 2:
        return &weight_kernel<Isa, 2, 2>;
      default:
        return &weight_kernel<Isa, 2, 1>;
    }
  } else {
    switch (t) {
      case 12:
        return &weight_kernel<Isa, 1, 12>;
      case 9:
        return &weight_kernel<Isa, 1, 9>;
      case 8:
        return &weight_kernel<Isa, 1, 8>;
      case 6:
        return &weight_kernel<Isa, 1, 6>;
      case 4:
        return &weight_kernel<Isa, 1, 4>;
      case 3:
        return &weight_kernel<Isa, 1, 3>;
      default:
        return &weight_kernel<Isa, 1, 1>;
    }
  }
}

}  // namespace slab::cpu::conv::avx2
