// --precision bf16 on the GPU: convolutions and matrix products of float32 tensors multiply
// their inputs rounded to bf16 and sum in float32, the contract of the CPU paths
// (core/precision.h, docs/algorithm.md#bf16-matrix-products). The inputs are rounded on the
// device into float32 copies (the rule of core/cpu/bf16.h, bit for bit), which cuDNN and
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
// out[i] = bf16(in[i]) as float32 for n floats on `device`'s stream (in == out allowed).
void round_through_bf16(const float* in, float* out, int64_t n, int device);
// A rounded copy of a float32 CUDA tensor.
Tensor rounded_through_bf16(const Tensor& t);

}  // namespace slab::cuda::detail
