// The per-element maths of Adam and AdamW (PyTorch's torch.optim.Adam / AdamW), one
// inline function for host and device code.
//
// At step t (counted per parameter from 1):
//   AdamW:  w = w (1 - lr weight_decay)           (decoupled decay, before the moments)
//   Adam:   g = g + weight_decay w                (L2 penalty folded into the gradient)
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g^2
//   v_max = max(v_max, v)                         (amsgrad only; then v_max replaces v below)
//   w = w - step_size m / (sqrt(v) / sqrt(1 - beta2^t) + eps),  step_size = lr / (1 - beta1^t)
// The bias corrections are per-tensor scalars computed in double once per step.
#pragma once
#include <cmath>

#include "core/host_device.h"

namespace slab {

template <typename T>
struct AdamCoefficients {
  T beta1 = 0, one_minus_beta1 = 0;
  T beta2 = 0, one_minus_beta2 = 0;
  T eps = 0;
  T l2_weight_decay = 0;        // Adam's weight decay (added to the gradient)
  T decoupled_decay = 1;        // AdamW's factor 1 - lr weight_decay (1 for Adam)
  T step_size = 0;              // lr / (1 - beta1^t)
  T bias_correction2_sqrt = 1;  // sqrt(1 - beta2^t)
  bool amsgrad = false;
};

template <typename T>
SLAB_HOST_DEVICE void adam_update(T& weight, T& exp_avg, T& exp_avg_sq, T& max_exp_avg_sq, T gradient,
                                  const AdamCoefficients<T>& k) {
  weight = weight * k.decoupled_decay;
  const T g = k.l2_weight_decay != T(0) ? gradient + k.l2_weight_decay * weight : gradient;
  exp_avg = k.beta1 * exp_avg + k.one_minus_beta1 * g;
  exp_avg_sq = k.beta2 * exp_avg_sq + k.one_minus_beta2 * g * g;
  T second = exp_avg_sq;
  if (k.amsgrad) {
    max_exp_avg_sq = max_exp_avg_sq > exp_avg_sq ? max_exp_avg_sq : exp_avg_sq;
    second = max_exp_avg_sq;
  }
  const T denominator = std::sqrt(second) / k.bias_correction2_sqrt + k.eps;
  weight = weight - k.step_size * (exp_avg / denominator);
}

}  // namespace slab
