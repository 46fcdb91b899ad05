// The per-weight maths of the naive adaptive VB (optim/vb_adaptive.h), one inline function
// for host and device code: optim/vb_adaptive.cpp's CPU loop and the CUDA kernel
// (optim/cuda/optimizer_kernels.cu) both call it, with eps from the same Philox draw.
//
//   m   = beta m + (1 - beta) g
//   P   = (1 - kappa gamma) P + gamma (g g + delta/N)
//   mu -= l_t P^(-alpha) (m + (delta/N) mu)
//   w   = mu + P^(-1/2) eps                                (the next step's sample)
#pragma once
#include <cmath>

#include "optim/gaussian_sample_kernel.h"

namespace slab {

// The step's scalars (optim/vb_adaptive.cpp forms them once per step).
struct VbAdaptiveCoefficients {
  float learning_rate = 0;  // l_t
  float beta = 0;           // gradient momentum
  float retain = 1;         // 1 - kappa gamma
  float gamma = 0;
  float weight_decay = 0;   // delta / N
  float alpha = 0.5f;       // preconditioner power
};

// The sample mu + eps / sqrt(P).
SLAB_HOST_DEVICE float vb_adaptive_sample(float mean, float precision, float eps) {
  return gaussian_sample(mean, precision, 1.0f, 0.0f, eps);
}

SLAB_HOST_DEVICE void vb_adaptive_update(float& weight, float& mean, float& precision, float& momentum, float gradient,
                                         float eps, const VbAdaptiveCoefficients& k) {
  momentum = k.beta * momentum + (1.0f - k.beta) * gradient;
  precision = k.retain * precision + k.gamma * (gradient * gradient + k.weight_decay);
  mean -= k.learning_rate * powf(precision, -k.alpha) * (momentum + k.weight_decay * mean);
  weight = vb_adaptive_sample(mean, precision, eps);
}

}  // namespace slab
