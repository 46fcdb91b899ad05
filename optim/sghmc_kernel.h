// The per-weight maths of the preconditioned SGHMC step (ALGORITHM.md 2), as one inline
// function for host and device code: the CPU loop in optim/sghmc.cpp calls it per element,
// and a CUDA kernel calls the same function per thread.
#pragma once
#include <cmath>

#include "optim/sghmc_noise.h"

namespace slab {

// The step's scalars, formed once per tensor per step in double and rounded to float.
struct SghmcCoefficients {
  float decay_scale = 0;           // eta T^2 C^3        (multiplies lambda tau_old)
  float gradient_noise_scale = 0;  // eta T C^1.5        (multiplies xi_prev g)
  float entropy_scale = 0;         // eta / N            (divided by tau_old)
  float beta1 = 0;                 // momentum retention
  float gradient_scale = 0;        // C^2 beta2          (multiplies g + lambda w)
  float noise_scale = 0;           // sqrt(2 + 2 beta1^2) C^1.5 T (multiplies xi)

  // c2 = C^2, the scheduled learning rate.
  static SghmcCoefficients make(double c2, double temperature, double data_size, double eta, double beta1,
                                double beta2) {
    const double c = std::sqrt(c2), c15 = c2 / std::sqrt(c) /* C^1.5 */, c3 = c2 * c;
    SghmcCoefficients k;
    k.decay_scale = static_cast<float>(eta * temperature * temperature * c3);
    k.gradient_noise_scale = static_cast<float>(eta * temperature * c15);
    k.entropy_scale = static_cast<float>(eta / data_size);
    k.beta1 = static_cast<float>(beta1);
    k.gradient_scale = static_cast<float>(c2 * beta2);
    k.noise_scale = static_cast<float>(std::sqrt(2.0 + 2.0 * beta1 * beta1) * c15 * temperature);
    return k;
  }
};

// One weight, in ALGORITHM.md 2's order:
//   tau_old = sigmoid(rho)
//   rho    -= eta (T^2 C^3 lambda tau_old + T C^1.5 xi_prev g - 1/(tau_old N))
//   tau     = sigmoid(rho)
//   m       = beta1 m - C^2 beta2 (g + lambda w) + sqrt(2 + 2 beta1^2) C^1.5 T xi
//   w       = (w + tau m) keep
// keep is 1 or 0; slab also multiplies m by keep so a pruned weight's momentum is zero
// (the reference lets it drift; it cannot reach the weight either way).
SLAB_HOST_DEVICE void sghmc_update(float& weight, float& momentum, float& rho, float gradient, float xi_prev,
                                   float xi, float weight_decay, float keep, const SghmcCoefficients& k) {
  const float inverse_tau_old = 1.0f + noise::fast_exp(-rho);  // 1/sigmoid(rho), no division
  const float tau_old = 1.0f / inverse_tau_old;
  rho -= k.decay_scale * weight_decay * tau_old + k.gradient_noise_scale * xi_prev * gradient -
         k.entropy_scale * inverse_tau_old;
  const float tau = noise::fast_sigmoid(rho);
  momentum = (k.beta1 * momentum - k.gradient_scale * (gradient + weight_decay * weight) + k.noise_scale * xi) * keep;
  weight = (weight + tau * momentum) * keep;
}

}  // namespace slab
