// channel_scaled_tanh: a differentiable op written outside slab, with its own forward and
// backward kernels and a backward closure on slab's autograd tape (docs/adding-an-op.md).
//
//   y[n, c, ...] = a[c] tanh(x[n, c, ...])        x [n, c, ...] (rank >= 2), a [c]
//
// Backward, with t = tanh(x) and g = dL/dy:
//   dL/dx[n, c, i] = g[n, c, i] a[c] (1 - t[n, c, i]^2)
//   dL/da[c]       = sum over n, i of g[n, c, i] t[n, c, i]
// The forward keeps t (not y: y / a is undefined where a = 0) for the backward.
// float32 and float64, on the CPU (a GPU version would add a CUDA kernel for each loop).
#pragma once
#include "core/ops.h"

namespace custom_layer {

slab::Tensor channel_scaled_tanh(const slab::Tensor& x, const slab::Tensor& amplitude);

}  // namespace custom_layer
