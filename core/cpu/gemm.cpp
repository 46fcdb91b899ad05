// GEMM on Eigen maps over raw row-major buffers. Eigen parallelises a large product with
// OpenMP by itself, and runs serially when called inside a parallel region, so there is
// only ever one level of threads.
#include <Eigen/Core>
#include <type_traits>
#include <vector>

#include "core/cpu/gemm_bf16.h"
#include "core/kernels.h"
#include "core/precision.h"

namespace slab::cpu {

namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMap = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using MutableMap = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <typename T>
void gemm_one(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc) {
  MutableMap<T> C(c, m, n, Eigen::OuterStride<>(ldc));
  // A is stored [m,k] (or [k,m] when transposed), B [k,n] (or [n,k]).
  ConstMap<T> A(a, ta ? k : m, ta ? m : k, Eigen::OuterStride<>(lda));
  ConstMap<T> B(b, tb ? n : k, tb ? k : n, Eigen::OuterStride<>(ldb));
  if (beta == T(0)) {
    if (!ta && !tb) C.noalias() = alpha * (A * B);
    else if (ta && !tb) C.noalias() = alpha * (A.transpose() * B);
    else if (!ta && tb) C.noalias() = alpha * (A * B.transpose());
    else C.noalias() = alpha * (A.transpose() * B.transpose());
    return;
  }
  if (beta != T(1)) C *= beta;
  if (!ta && !tb) C.noalias() += alpha * (A * B);
  else if (ta && !tb) C.noalias() += alpha * (A.transpose() * B);
  else if (!ta && tb) C.noalias() += alpha * (A * B.transpose());
  else C.noalias() += alpha * (A.transpose() * B.transpose());
}

// C = alpha A B + beta C with bf16 inputs and float32 sums (Precision::bf16): the bf16
// product writes C directly when alpha = 1 and beta is 0 or 1, else goes through a buffer.
void gemm_one_bf16(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                   const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (alpha == 1.0f && (beta == 0.0f || beta == 1.0f)) {
    gemm_bf16(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, beta == 1.0f);
    return;
  }
  thread_local std::vector<float> product;
  product.resize(static_cast<size_t>(m * n));
  gemm_bf16(ta, tb, m, n, k, a, lda, b, ldb, product.data(), n, false);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float& out = c[i * ldc + j];
      out = alpha * product[i * n + j] + (beta == 0.0f ? 0.0f : beta * out);
    }
}

}  // namespace

void gemm_float32(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_one<float>(transpose_a, transpose_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

void gemm(DType dtype, bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, double alpha,
          const void* a, int64_t lda, int64_t stride_a, const void* b, int64_t ldb, int64_t stride_b, double beta,
          void* c, int64_t ldc, int64_t stride_c, int64_t batch) {
  dispatch_float(dtype, "gemm", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* pa = static_cast<const scalar_t*>(a);
    const scalar_t* pb = static_cast<const scalar_t*>(b);
    scalar_t* pc = static_cast<scalar_t*>(c);
    if constexpr (std::is_same_v<scalar_t, float>) {
      if (matmul_precision() == Precision::bf16) {
        for (int64_t i = 0; i < batch; ++i)
          gemm_one_bf16(transpose_a, transpose_b, m, n, k, static_cast<float>(alpha), pa + i * stride_a, lda,
                        pb + i * stride_b, ldb, static_cast<float>(beta), pc + i * stride_c, ldc);
        return;
      }
    }
    for (int64_t i = 0; i < batch; ++i)
      gemm_one<scalar_t>(transpose_a, transpose_b, m, n, k, static_cast<scalar_t>(alpha), pa + i * stride_a, lda,
                         pb + i * stride_b, ldb, static_cast<scalar_t>(beta), pc + i * stride_c, ldc);
  });
}

}  // namespace slab::cpu
