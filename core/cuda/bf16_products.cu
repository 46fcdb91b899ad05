// The device side of --precision bf16 (core/cuda/bf16_products.h): rounding float32 values
// to bf16, kept as float32.
#include "core/cuda/bf16_products.h"
#include "core/bf16_rounding.h"
#include "core/cuda/device_math.cuh"
#include "core/precision.h"

namespace slab::cuda::detail {

namespace {

// out[i] = bf16(in[i]), kept as float32.
__global__ void round_through_bf16_kernel(const float* in, float* out, int64_t n) {
  SLAB_GRID_STRIDE_LOOP(i, n) {
    out[i] = __uint_as_float(static_cast<uint32_t>(bf16_bits_of(__float_as_uint(in[i]))) << 16);
  }
}

}  // namespace

bool bf16_products(DType dtype) { return dtype == DType::f32 && matmul_precision() == Precision::bf16; }

Tensor rounded_copy(const float* data, int64_t n, int device) {
  const Tensor copy = Tensor::empty({n}, DType::f32, Device::cuda(device));
  if (n == 0) return copy;
  round_through_bf16_kernel<<<grid_for(n, device), kThreads, 0, stream(device)>>>(data, copy.data<float>(), n);
  SLAB_CUDA_CHECK_LAUNCH("round_through_bf16_kernel");
  return copy;
}

}  // namespace slab::cuda::detail
