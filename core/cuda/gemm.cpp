// GEMM through cuBLAS. cuBLAS is column-major; a row-major matrix with leading dimension ld
// is the column-major view of its transpose. So row-major C = op(A) op(B) is computed as
// the column-major product C^T = op(B)^T op(A)^T: swap the operands (and m with n), keep
// each operand's transpose flag. Full float32 by default; TF32 tensor cores when
// cuda::tf32_enabled() (runtime.h), chosen per call through the handle's math mode. Under
// --precision bf16 the operands are rounded to bf16 into float32 copies first and multiplied
// on TF32 tensor cores, which take bf16 values exactly (core/cuda/bf16_products.h).
#include <climits>

#include "core/cuda/bf16_products.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/kernels.h"

namespace slab::cuda {

namespace {

int as_int(int64_t value, const char* what) {
  SLAB_CHECK(value >= 0 && value <= INT_MAX, "gemm: ", what, " = ", value, " exceeds cuBLAS's 32-bit limit");
  return static_cast<int>(value);
}

// C = beta C when there is nothing to multiply (k = 0), one matrix at a time.
template <typename T>
void scale_only(cublasHandle_t handle, cudaStream_t stream, int64_t m, int64_t n, T beta, T* c, int64_t ldc,
                int64_t stride_c, int64_t batch) {
  for (int64_t b = 0; b < batch; ++b) {
    T* matrix = c + b * stride_c;
    if (beta == T(0)) {
      SLAB_CUDA_CHECK(cudaMemset2DAsync(matrix, static_cast<size_t>(ldc) * sizeof(T), 0,
                                        static_cast<size_t>(n) * sizeof(T), static_cast<size_t>(m), stream));
    } else {
      const T zero = 0;
      if constexpr (sizeof(T) == 4)
        SLAB_CUDA_CHECK(cublasSgeam(handle, CUBLAS_OP_N, CUBLAS_OP_N, as_int(n, "n"), as_int(m, "m"), &beta, matrix,
                                    as_int(ldc, "ldc"), &zero, matrix, as_int(ldc, "ldc"), matrix, as_int(ldc, "ldc")));
      else
        SLAB_CUDA_CHECK(cublasDgeam(handle, CUBLAS_OP_N, CUBLAS_OP_N, as_int(n, "n"), as_int(m, "m"), &beta, matrix,
                                    as_int(ldc, "ldc"), &zero, matrix, as_int(ldc, "ldc"), matrix, as_int(ldc, "ldc")));
    }
  }
}

// The floats of a row-major operand of `rows` x `cols` with leading dimension ld, repeated
// `batch` times `stride` apart (stride 0: one matrix shared by the batch).
int64_t operand_extent(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch) {
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

}  // namespace

void gemm(DType dtype, bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, double alpha,
          const void* a, int64_t lda, int64_t stride_a, const void* b, int64_t ldb, int64_t stride_b, double beta,
          void* c, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  // The signature carries raw pointers: the device is the one that owns C.
  cudaPointerAttributes attributes{};
  SLAB_CUDA_CHECK(cudaPointerGetAttributes(&attributes, c));
  const int device = attributes.device;
  cublasHandle_t handle = detail::cublas(device);
  const cublasOperation_t op_a = transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  dispatch_float(dtype, "gemm", [&](auto zero) {
    using scalar_t = decltype(zero);
    const auto s_alpha = static_cast<scalar_t>(alpha), s_beta = static_cast<scalar_t>(beta);
    const auto* pa = static_cast<const scalar_t*>(a);
    const auto* pb = static_cast<const scalar_t*>(b);
    auto* pc = static_cast<scalar_t*>(c);
    if (k == 0) {
      scale_only<scalar_t>(handle, detail::stream(device), m, n, s_beta, pc, ldc, stride_c, batch);
      return;
    }
    const int im = as_int(m, "m"), in = as_int(n, "n"), ik = as_int(k, "k");
    const int ilda = as_int(lda, "lda"), ildb = as_int(ldb, "ldb"), ildc = as_int(ldc, "ldc");
    if constexpr (sizeof(scalar_t) == 4) {
      const bool bf16 = detail::bf16_products(dtype);
      Tensor a_rounded, b_rounded;  // alive until the calls below are queued (stream order)
      if (bf16) {
        const int64_t a_extent = operand_extent(transpose_a ? k : m, transpose_a ? m : k, lda, stride_a, batch);
        const int64_t b_extent = operand_extent(transpose_b ? n : k, transpose_b ? k : n, ldb, stride_b, batch);
        a_rounded = detail::rounded_copy(pa, a_extent, device);
        b_rounded = detail::rounded_copy(pb, b_extent, device);
        pa = a_rounded.data<float>();
        pb = b_rounded.data<float>();
      }
      SLAB_CUDA_CHECK(
          cublasSetMathMode(handle, bf16 || tf32_enabled() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
      if (batch == 1)
        SLAB_CUDA_CHECK(cublasSgemm(handle, op_b, op_a, in, im, ik, &s_alpha, pb, ildb, pa, ilda, &s_beta, pc, ildc));
      else
        SLAB_CUDA_CHECK(cublasSgemmStridedBatched(handle, op_b, op_a, in, im, ik, &s_alpha, pb, ildb, stride_b, pa,
                                                  ilda, stride_a, &s_beta, pc, ildc, stride_c,
                                                  as_int(batch, "batch")));
    } else {
      if (batch == 1)
        SLAB_CUDA_CHECK(cublasDgemm(handle, op_b, op_a, in, im, ik, &s_alpha, pb, ildb, pa, ilda, &s_beta, pc, ildc));
      else
        SLAB_CUDA_CHECK(cublasDgemmStridedBatched(handle, op_b, op_a, in, im, ik, &s_alpha, pb, ildb, stride_b, pa,
                                                  ilda, stride_a, &s_beta, pc, ildc, stride_c,
                                                  as_int(batch, "batch")));
    }
  });
}

}  // namespace slab::cuda
