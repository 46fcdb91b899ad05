// The loop shared by the two AVX-512 kernels of bf16 matrix products (included by
// gemm_bf16_avx512bf16.cpp and gemm_bf16_avx512f.cpp, each compiled for its own instruction
// set): one 16 x 16 C tile in 16 zmm accumulators, a row each; per pair p of k, one B row of
// 16 column pairs is loaded and every A row's pair (A[r, 2p], A[r, 2p + 1]) is broadcast to
// all lanes and multiplied in by `PairStep` (acc += a0 b0 + a1 b1, however that path does it).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/cpu/gemm_bf16.h"
#include "core/cpu/gemm_bf16_kernels.h"

namespace slab::cpu::bf16_kernels {

template <typename PairStep>
inline void avx512_tile(const bf16_bits* a, const bf16_bits* b, int64_t k_tiles, float* c, int64_t ldc, int rows,
                        int cols, bool accumulate) {
  const __mmask16 lanes = static_cast<__mmask16>((1u << cols) - 1u);
  __m512 acc[kBf16TileRows];
  for (int r = 0; r < kBf16TileRows; ++r)
    acc[r] = accumulate && r < rows ? _mm512_maskz_loadu_ps(lanes, c + r * ldc) : _mm512_setzero_ps();
  for (int64_t t = 0; t < k_tiles; ++t) {
    const bf16_bits* at = a + t * kBf16TileElements;
    const bf16_bits* bt = b + t * kBf16TileElements;
    for (int p = 0; p < kBf16TileK / 2; ++p) {
      const __m512i pairs_b = _mm512_loadu_si512(bt + p * 2 * kBf16TileRows);
#pragma GCC unroll 16
      for (int r = 0; r < kBf16TileRows; ++r) {
        uint32_t pair_a;
        std::memcpy(&pair_a, at + r * kBf16TileK + 2 * p, sizeof pair_a);
        acc[r] = PairStep::step(acc[r], pair_a, pairs_b);
      }
    }
  }
  for (int r = 0; r < rows; ++r) _mm512_mask_storeu_ps(c + r * ldc, lanes, acc[r]);
}

// A Block (up to 2 x 2 tiles) as tiles of avx512_tile.
template <typename PairStep>
inline void avx512_block(const Block& blk) {
  for (int row0 = 0; row0 < blk.rows; row0 += kBf16TileRows)
    for (int col0 = 0; col0 < blk.cols; col0 += kBf16TileRows)
      avx512_tile<PairStep>(blk.a + (row0 / kBf16TileRows) * blk.a_step, blk.b + (col0 / kBf16TileRows) * blk.b_step,
                            blk.k_tiles, blk.c + row0 * blk.ldc + col0, blk.ldc,
                            std::min<int>(blk.rows - row0, kBf16TileRows), std::min<int>(blk.cols - col0, kBf16TileRows),
                            blk.accumulate);
}

}  // namespace slab::cpu::bf16_kernels
