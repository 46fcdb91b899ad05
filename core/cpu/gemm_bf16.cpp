// Packing float32 matrices into the bf16 tile layouts of core/cpu/gemm_bf16.h, and the
// block loop that hands 32 x 32 blocks of C to the kernel of the bf16 path.
#include "core/cpu/gemm_bf16.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/cpu/gemm_bf16_kernels.h"
#include "core/cpu/matrix_units.h"
#include "core/error.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace slab::cpu {

void round_through_bf16(const float* in, float* out, int64_t count) {
  int64_t i = 0;
#ifdef __AVX512F__
  for (; i + 16 <= count; i += 16) _mm512_storeu_si512(out + i, _mm512_slli_epi32(bf16_lanes(_mm512_loadu_ps(in + i)), 16));
#elif defined(__AVX2__)
  for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, through_bf16_lanes(_mm256_loadu_ps(in + i)));
#endif
  for (; i < count; ++i) out[i] = bf16_to_float(float_to_bf16(in[i]));
}

void round_to_bf16(const float* in, bf16_bits* out, int64_t count) {
  int64_t i = 0;
#ifdef __AVX512F__
  for (; i + 16 <= count; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(bf16_lanes(_mm512_loadu_ps(in + i))));
  // The tail under a mask: rows of 8 or 12 pixels (small feature maps) are whole tails, so
  // they must not fall to the scalar loop.
#if defined(__AVX512BW__) && defined(__AVX512VL__)
  if (i < count) {
    const __mmask16 tail = static_cast<__mmask16>((1u << (count - i)) - 1u);
    _mm256_mask_storeu_epi16(out + i, tail, _mm512_cvtepi32_epi16(bf16_lanes(_mm512_maskz_loadu_ps(tail, in + i))));
    return;
  }
#endif
#endif
  for (; i < count; ++i) out[i] = float_to_bf16(in[i]);
}

namespace {

void shape_packed(int64_t rows, int64_t k, PackedBf16& out) {
  if (rows < 0 || k < 0) throw Error("bf16 packing: negative extent");
  out.rows = rows;
  out.k = k;
  out.row_blocks = (rows + kBf16TileRows - 1) / kBf16TileRows;
  out.k_tiles = (k + kBf16TileK - 1) / kBf16TileK;
  out.tiles.assign(static_cast<size_t>(out.row_blocks * out.k_tiles * kBf16TileElements), 0);
}

// Where element (row, kk) of a packed A lives.
int64_t a_offset(const PackedBf16& p, int64_t row, int64_t kk) {
  return ((row / kBf16TileRows * p.k_tiles + kk / kBf16TileK) * kBf16TileRows + row % kBf16TileRows) * kBf16TileK +
         kk % kBf16TileK;
}

// Where element (kk, col) of a packed B lives: tile row kk/2 (within its tile), column
// `col`, half kk%2 of the pair.
int64_t b_offset(const PackedBf16& p, int64_t kk, int64_t col) {
  const int64_t pair = (kk % kBf16TileK) / 2;
  return ((col / kBf16TileRows * p.k_tiles + kk / kBf16TileK) * (kBf16TileK / 2) + pair) * 2 * kBf16TileRows +
         (col % kBf16TileRows) * 2 + kk % 2;
}

using BlockKernel = void (*)(const bf16_kernels::Block&);

BlockKernel kernel_for(Bf16Path path) {
  switch (path) {
    case Bf16Path::amx: return bf16_kernels::amx_block;
    case Bf16Path::avx512_bf16: return bf16_kernels::avx512_bf16_block;
    case Bf16Path::avx512f: return bf16_kernels::avx512f_block;
    case Bf16Path::float32: break;
  }
  throw Error(std::string("bf16: the ") + bf16_path_name(path) +
              " path multiplies rounded float32 copies (gemm_bf16), not packed tiles");
}

constexpr double kParallelMacs = 1 << 20;  // below this a product stays on one thread

}  // namespace

void pack_bf16_a(bool transpose, int64_t m, int64_t k, const float* a, int64_t lda, PackedBf16& out) {
  shape_packed(m, k, out);
  for (int64_t i = 0; i < m; ++i) {
    if (!transpose) {  // row i is contiguous in k: round it a tile row at a time
      for (int64_t k0 = 0; k0 < k; k0 += kBf16TileK)
        round_to_bf16(a + i * lda + k0, out.tiles.data() + a_offset(out, i, k0), std::min(kBf16TileK, k - k0));
    } else {
      for (int64_t kk = 0; kk < k; ++kk) out.tiles[a_offset(out, i, kk)] = float_to_bf16(a[kk * lda + i]);
    }
  }
}

void pack_bf16_b(bool transpose, int64_t k, int64_t n, const float* b, int64_t ldb, PackedBf16& out) {
  shape_packed(n, k, out);
  for (int64_t kk = 0; kk < k; ++kk)
    for (int64_t j = 0; j < n; ++j)
      out.tiles[b_offset(out, kk, j)] = float_to_bf16(transpose ? b[j * ldb + kk] : b[kk * ldb + j]);
}

void gemm_bf16_packed(const PackedBf16& a, const PackedBf16& b, float* c, int64_t ldc, bool accumulate) {
  if (a.k != b.k) throw Error("bf16 gemm: A has k = " + std::to_string(a.k) + ", B has k = " + std::to_string(b.k));
  const int64_t m = a.rows, n = b.rows;
  if (m == 0 || n == 0) return;
  if (a.k == 0) {  // an empty sum
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  const Bf16Path path = bf16_path();
  const BlockKernel kernel = kernel_for(path);
  const bool tiles = path == Bf16Path::amx;
  const int64_t row_pairs = (a.row_blocks + 1) / 2, col_pairs = (b.row_blocks + 1) / 2;
  const int64_t step = a.k_tiles * kBf16TileElements;
  const bool parallel = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(a.k) > kParallelMacs;
#pragma omp parallel if (parallel)
  {
    if (tiles) bf16_kernels::amx_tiles_begin();
#pragma omp for collapse(2) schedule(static)
    for (int64_t rp = 0; rp < row_pairs; ++rp)
      for (int64_t cp = 0; cp < col_pairs; ++cp) {
        const int64_t row0 = rp * 2 * kBf16TileRows, col0 = cp * 2 * kBf16TileRows;
        bf16_kernels::Block block{a.block(rp * 2), b.block(cp * 2), step, step, a.k_tiles, c + row0 * ldc + col0, ldc,
                                  static_cast<int>(std::min<int64_t>(m - row0, 2 * kBf16TileRows)),
                                  static_cast<int>(std::min<int64_t>(n - col0, 2 * kBf16TileRows)), accumulate};
        kernel(block);
      }
    if (tiles) bf16_kernels::amx_tiles_end();
  }
}

namespace {

// The float32 link: a [rows, cols] matrix (row stride ld) rounded to bf16 into a compact
// float32 copy (row stride cols).
const float* rounded_copy(const float* x, int64_t rows, int64_t cols, int64_t ld, std::vector<float>& copy) {
  copy.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) round_through_bf16(x + r * ld, copy.data() + r * cols, cols);
  return copy.data();
}

}  // namespace

void gemm_bf16(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (!multiplies_packed_tiles(bf16_path())) {
    thread_local std::vector<float> rounded_a, rounded_b;
    const int64_t a_cols = transpose_a ? m : k, b_cols = transpose_b ? k : n;
    const float* ra = rounded_copy(a, transpose_a ? k : m, a_cols, lda, rounded_a);
    const float* rb = rounded_copy(b, transpose_b ? n : k, b_cols, ldb, rounded_b);
    gemm_float32(transpose_a, transpose_b, m, n, k, ra, a_cols, rb, b_cols, accumulate ? 1.0f : 0.0f, c, ldc);
    return;
  }
  thread_local PackedBf16 packed_a, packed_b;
  pack_bf16_a(transpose_a, m, k, a, lda, packed_a);
  pack_bf16_b(transpose_b, k, n, b, ldb, packed_b);
  gemm_bf16_packed(packed_a, packed_b, c, ldc, accumulate);
}

}  // namespace slab::cpu
