// bf16 matrix products with float32 accumulation (docs/algorithm.md#bf16-matrix-products):
// C[m, n] = sum_k bf16(A[m, k]) bf16(B[k, n]) (+ C when accumulating). The float32 inputs are
// rounded to bf16 as they are packed into the tile layouts below; the sums stay float32.
// The instructions are those of bf16_path() (core/cpu/matrix_units.h).
//
// Packed layouts (k padded with zeros to a multiple of 32, m and n to multiples of 16):
//   A: per block of 16 rows, per 32 columns of k, a 16 x 32 bf16 tile, row-major (one AMX
//      A tile: 16 rows of 64 bytes);
//   B: per block of 16 columns, per 32 rows of k, a 16 x 16 tile of bf16 pairs: row p holds
//      (B[2p, j], B[2p + 1, j]) for the 16 columns j (one AMX B tile; VDPBF16PS's pair layout).
// A matrix used many times (a layer's weights in one step) is packed once and reused.
#pragma once
#include <cstdint>
#include <vector>

#include "core/cpu/bf16.h"

namespace slab::cpu {

constexpr int64_t kBf16TileRows = 16;  // rows of an A tile, columns of a B tile
constexpr int64_t kBf16TileK = 32;     // k per tile
constexpr int64_t kBf16TileElements = kBf16TileRows * kBf16TileK;

struct PackedBf16 {
  int64_t rows = 0, k = 0;        // the logical matrix: rows (m of A, n of B) x k
  int64_t row_blocks = 0, k_tiles = 0;
  std::vector<bf16_bits> tiles;   // row_blocks x k_tiles tiles of kBf16TileElements
  const bf16_bits* block(int64_t row_block) const { return tiles.data() + row_block * k_tiles * kBf16TileElements; }
};

// Packs A [m, k] (row stride lda), or A^T when `transpose` (A stored [k, m]).
void pack_bf16_a(bool transpose, int64_t m, int64_t k, const float* a, int64_t lda, PackedBf16& out);
// Packs B [k, n] (row stride ldb), or B^T when `transpose` (B stored [n, k]).
void pack_bf16_b(bool transpose, int64_t k, int64_t n, const float* b, int64_t ldb, PackedBf16& out);

// C [a.rows, b.rows] (row stride ldc) = A B, or += when `accumulate`. Threads split the rows.
void gemm_bf16_packed(const PackedBf16& a, const PackedBf16& b, float* c, int64_t ldc, bool accumulate);

// Packs and multiplies: the float32 interface, with cpu::gemm's transposes and strides. On
// the float32 path (core/cpu/matrix_units.h) it rounds A and B into float32 copies instead
// and multiplies them with gemm_float32.
void gemm_bf16(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);

// C = A B + beta C in float32 on Eigen whatever the matmul precision (core/cpu/gemm.cpp),
// with cpu::gemm's transposes and strides: the product of the float32 bf16 path.
void gemm_float32(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace slab::cpu
