// The rule of every running maximum in the kernels (max along a dimension, max pooling) on
// both backends: a value replaces the best so far when it is greater, or when it is NaN and
// the best is not, so the first maximum wins and the first NaN beats any number (PyTorch's
// choice: a NaN in the input shows in the output).
#pragma once
#include <cstdint>

#include "core/host_device.h"

namespace slab {

// value > best || (value is NaN && best is not), written as one test that a number at or
// below the best fails at once: the common case of a running maximum costs one compare
// (GCC otherwise tests both NaNs on every element, a loop-carried chain of moves).
template <typename T>
SLAB_HOST_DEVICE bool replaces_max(T value, T best) {
  return !(value <= best) && best == best;
}

template <typename T>
struct MaxAt {
  T value;
  int64_t index;
};

// The maximum of x[e stride] for e in [0, extent) (extent >= 1) and the first e holding it.
template <typename T>
SLAB_HOST_DEVICE MaxAt<T> max_of_line(const T* x, int64_t extent, int64_t stride) {
  MaxAt<T> best{x[0], 0};
  for (int64_t e = 1; e < extent; ++e) {
    const T v = x[e * stride];
    if (replaces_max(v, best.value)) best = {v, e};
  }
  return best;
}

}  // namespace slab
