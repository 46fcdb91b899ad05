// The per-weight maths of IVON (optim/ivon.h), one inline function for host and device
// code: optim/ivon.cpp's CPU loop and the CUDA kernel (optim/cuda/optimizer_kernels.cu)
// both call it, with z and z_next regenerated from the same Philox draws.
//
//   sigma  = 1 / sqrt(lam (h + delta))                     (the h before the update)
//   hhat   = g z / sigma                                   (= g eps / sigma^2, eps = sigma z)
//   gbar   = b1 gbar + (1 - b1) g
//   h      = b2 h + (1 - b2) hhat + (1 - b2)^2 (h - hhat)^2 / (2 (h + delta))
//   m     -= a' clip((gbar / (1 - b1^t) + delta m) / (h + delta), +-r)
//   w      = m + z_next / sqrt(lam (h + delta))             (the next step's sample)
#pragma once
#include <cmath>

#include "optim/gaussian_sample_kernel.h"

namespace slab {

// The step's scalars (optim/ivon.cpp forms them once per step).
struct IvonCoefficients {
  float data_size = 1;      // lam, the effective sample size
  float weight_decay = 0;   // delta
  float beta1 = 0;
  float beta2 = 0;
  float debias = 1;         // 1 / (1 - b1^t)
  float learning_rate = 0;  // a' (rescaled by h0 + delta when asked)
  float clip_radius = 3.0e38f;
};

// The sample m + z / sqrt(lam (h + delta)).
SLAB_HOST_DEVICE float ivon_sample(float mean, float hessian, float z, const IvonCoefficients& k) {
  return gaussian_sample(mean, hessian, k.data_size, k.weight_decay, z);
}

SLAB_HOST_DEVICE void ivon_update(float& weight, float& mean, float& hessian, float& gradient_momentum, float gradient,
                                  float z, float z_next, const IvonCoefficients& k) {
  const float sigma = 1.0f / sqrtf(k.data_size * (hessian + k.weight_decay));
  const float hessian_sample = gradient * z / sigma;
  gradient_momentum = k.beta1 * gradient_momentum + (1.0f - k.beta1) * gradient;
  const float gap = hessian - hessian_sample;
  hessian = k.beta2 * hessian + (1.0f - k.beta2) * hessian_sample +
            0.5f * (1.0f - k.beta2) * (1.0f - k.beta2) * gap * gap / (hessian + k.weight_decay);
  const float direction = (gradient_momentum * k.debias + k.weight_decay * mean) / (hessian + k.weight_decay);
  // std::clamp's result, NaN passed through (std::clamp is not device code).
  const float clipped =
      direction < -k.clip_radius ? -k.clip_radius : (k.clip_radius < direction ? k.clip_radius : direction);
  mean -= k.learning_rate * clipped;
  weight = ivon_sample(mean, hessian, z_next, k);
}

}  // namespace slab
