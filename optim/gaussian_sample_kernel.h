// The weight sample of a diagonal Gaussian posterior, shared by the variational baselines
// (IVON and the naive adaptive VB) on host and device:
//   w = m + z / sqrt(scale (p + shift)),   z ~ N(0, 1)
// with p the per-weight precision-like state: IVON's Hessian estimate h with
// (scale, shift) = (lambda, delta), so sigma = 1/sqrt(lambda (h + delta)); the naive VB's
// precision P with (1, 0), so sigma = P^(-1/2) (1 (P + 0) is P exactly in float).
//
// sqrtf and the division are correctly rounded on both sides (nvcc's defaults,
// -prec-sqrt=true -prec-div=true), so only fused multiply-adds can part the two devices.
#pragma once
#include <cmath>

#include "core/host_device.h"

namespace slab {

SLAB_HOST_DEVICE float gaussian_sample(float mean, float precision, float scale, float shift, float z) {
  return mean + z / sqrtf(scale * (precision + shift));
}

}  // namespace slab
