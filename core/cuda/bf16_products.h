// --precision bf16 on the GPU: convolutions and matrix products of float32 tensors multiply
// their inputs rounded to bf16 and sum in float32, the contract of the CPU paths
// (core/precision.h, docs/algorithm.md#bf16-matrix-products). The inputs are rounded on the
// device into float32 copies (core/bf16_rounding.h, the CPU's rule), which cuDNN and
// cuBLAS then multiply with TF32 tensor cores allowed: a bf16 value has 8 significand bits
// and TF32 keeps 11, so the tensor cores take it exactly, each product of two is exact in
// their float32 accumulators, and the sums are float32. Reduced-precision reductions and the
// Winograd and FFT engines (which would round transformed values) stay excluded.
// Internal to the CUDA backend: include only from core/cuda/ sources.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace slab::cuda::detail {

// Whether a product on tensors of this dtype runs in bf16: float32 under --precision bf16.
bool bf16_products(DType dtype);
// The n floats at `data` on `device`, rounded to bf16 (kept as float32) into a new buffer,
// on the device's stream; the caller keeps it alive while the product reads it.
Tensor rounded_copy(const float* data, int64_t n, int device);

}  // namespace slab::cuda::detail
