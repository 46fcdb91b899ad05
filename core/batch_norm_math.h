// The per-channel statistics of batch normalisation, written once for the CPU kernels
// (core/cpu/batchnorm.cpp) and the CUDA kernels (core/cuda/batch_norm.cu). Over the M
// values of a channel:
//   biased variance  var = E[x^2] - E[x]^2 from the sums (clamped at 0 against rounding)
//   invstd           1 / sqrt(var + eps)
//   running stats    running = (1 - momentum) running + momentum (mean, var M / (M - 1))
// Each backend forms the sums its own way (the CPU's about a shift point, the GPU's in
// deterministic partial sums).
#pragma once

#include "core/scalar_math.h"

namespace slab::batch_norm_math {

SLAB_HOST_DEVICE double biased_variance(double sum, double sum_squares, double count) {
  const double mean = sum / count;
  return math::max(sum_squares / count - mean * mean, 0.0);
}

SLAB_HOST_DEVICE double inverse_std(double variance, double eps) { return 1.0 / math::sqrt(variance + eps); }

SLAB_HOST_DEVICE double running_mean(double running, double mean, double momentum) {
  return (1.0 - momentum) * running + momentum * mean;
}

// The running variance takes the unbiased variance var M / (M - 1).
SLAB_HOST_DEVICE double running_variance(double running, double variance, double count, double momentum) {
  return (1.0 - momentum) * running + momentum * variance * count / (count - 1.0);
}

}  // namespace slab::batch_norm_math
