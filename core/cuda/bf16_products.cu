// The device side of --precision bf16 (core/cuda/bf16_products.h): rounding float32 values
// to bf16, kept as float32.
#include "core/cuda/bf16_products.h"
#include "core/cuda/device_math.cuh"
#include "core/precision.h"

namespace slab::cuda::detail {

namespace {

// Round to nearest, ties to even, on the bit pattern; a NaN stays a quiet NaN (core/cpu/bf16.h).
__global__ void round_through_bf16_kernel(const float* in, float* out, int64_t n) {
  SLAB_GRID_STRIDE_LOOP(i, n) {
    uint32_t bits = __float_as_uint(in[i]);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
      bits |= 0x00400000u;
    else
      bits += 0x7FFFu + ((bits >> 16) & 1u);
    out[i] = __uint_as_float(bits & 0xFFFF0000u);
  }
}

}  // namespace

bool bf16_products(DType dtype) { return dtype == DType::f32 && matmul_precision() == Precision::bf16; }

void round_through_bf16(const float* in, float* out, int64_t n, int device) {
  if (n == 0) return;
  round_through_bf16_kernel<<<grid_for(n, device), kThreads, 0, stream(device)>>>(in, out, n);
  SLAB_CUDA_CHECK_LAUNCH("round_through_bf16_kernel");
}

Tensor rounded_through_bf16(const Tensor& t) {
  SLAB_CHECK(t.dtype() == DType::f32 && t.device().is_cuda(), "rounded_through_bf16: expected a float32 CUDA tensor, got ",
             t.dtype(), " on ", t.device().str());
  const Tensor out = Tensor::empty(t.shape(), DType::f32, t.device());
  round_through_bf16(t.data<float>(), out.data<float>(), t.numel(), t.device().index);
  return out;
}

}  // namespace slab::cuda::detail
