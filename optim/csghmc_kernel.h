// The per-weight maths of cyclical SGHMC (optim/csghmc.h), one inline function for host
// and device code: optim/csghmc.cpp's CPU loop calls it per element and the CUDA kernel
// (optim/cuda/optimizer_kernels.cu) per thread, so the update exists once.
//
//   d = g + wd w
//   v = (1 - alpha) v - lr d + sqrt(2 lr alpha T / N) xi     (xi = 0 outside the sampling phase)
//   w = w + v
#pragma once
#include <cmath>

#include "core/philox.h"  // the noise draws (and SLAB_HOST_DEVICE)

namespace slab {

// The step's scalars, formed once per step in double and rounded to float.
struct CsghmcCoefficients {
  float learning_rate = 0;  // lr, the scheduled value
  float friction = 0;       // 1 - alpha, the momentum retention
  float weight_decay = 0;
  float noise_scale = 0;    // sqrt(2 lr alpha T / N); 0 when the noise is off
  bool with_noise = false;  // draw xi (else xi = 0 and no Philox block is generated)

  static CsghmcCoefficients make(double learning_rate, double alpha, double weight_decay, double temperature,
                                 double data_size, bool with_noise) {
    CsghmcCoefficients k;
    k.learning_rate = static_cast<float>(learning_rate);
    k.friction = static_cast<float>(1.0 - alpha);
    k.weight_decay = static_cast<float>(weight_decay);
    k.noise_scale =
        with_noise ? static_cast<float>(std::sqrt(2.0 * learning_rate * alpha * temperature / data_size)) : 0.0f;
    k.with_noise = with_noise;
    return k;
  }
};

SLAB_HOST_DEVICE void csghmc_update(float& weight, float& velocity, float gradient, float xi,
                                    const CsghmcCoefficients& k) {
  const float d = gradient + k.weight_decay * weight;
  velocity = k.friction * velocity - k.learning_rate * d + k.noise_scale * xi;
  weight += velocity;
}

}  // namespace slab
