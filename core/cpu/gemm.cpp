// GEMM on Eigen maps over raw row-major buffers. Eigen parallelises a large product with
// OpenMP by itself, and runs serially when called inside a parallel region, so there is
// only ever one level of threads.
#include <Eigen/Core>

#include "core/kernels.h"

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

}  // namespace

void gemm(DType dtype, bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, double alpha,
          const void* a, int64_t lda, int64_t stride_a, const void* b, int64_t ldb, int64_t stride_b, double beta,
          void* c, int64_t ldc, int64_t stride_c, int64_t batch) {
  dispatch_float(dtype, "gemm", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* pa = static_cast<const scalar_t*>(a);
    const scalar_t* pb = static_cast<const scalar_t*>(b);
    scalar_t* pc = static_cast<scalar_t*>(c);
    for (int64_t i = 0; i < batch; ++i)
      gemm_one<scalar_t>(transpose_a, transpose_b, m, n, k, static_cast<scalar_t>(alpha), pa + i * stride_a, lda,
                         pb + i * stride_b, ldb, static_cast<scalar_t>(beta), pc + i * stride_c, ldc);
  });
}

}  // namespace slab::cpu
