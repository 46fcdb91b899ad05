// The per-element maths of SGD with momentum (PyTorch's torch.optim.SGD), one inline
// function for host and device code: optim/sgd.cpp's CPU loop calls it per element and a
// CUDA kernel can call it per thread.
//
//   d   = g + weight_decay w
//   buf = d                                   on the first step (buffer not yet created)
//   buf = momentum buf + (1 - dampening) d    afterwards
//   d   = d + momentum buf   (Nesterov)   or   d = buf
//   w   = w - lr d
// Without momentum the buffer is neither read nor written.
#pragma once
#include "core/host_device.h"

namespace slab {

template <typename T>
struct SgdCoefficients {
  T learning_rate = 0;
  T momentum = 0;
  T one_minus_dampening = 1;
  T weight_decay = 0;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer is created from d on this step
};

template <typename T>
SLAB_HOST_DEVICE void sgd_update(T& weight, T& momentum_buffer, T gradient, const SgdCoefficients<T>& k) {
  T d = gradient;
  if (k.weight_decay != T(0)) d = d + k.weight_decay * weight;
  if (k.momentum != T(0)) {
    momentum_buffer = k.first_step ? d : k.momentum * momentum_buffer + k.one_minus_dampening * d;
    d = k.nesterov ? d + k.momentum * momentum_buffer : momentum_buffer;
  }
  weight = weight - k.learning_rate * d;
}

}  // namespace slab
