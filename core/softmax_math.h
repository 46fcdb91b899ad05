// Softmax, log-softmax and their backward along one strided line of `extent` values, and
// the per-value formulas, written once for the CPU kernels (core/cpu/softmax.cpp) and the
// CUDA kernels (core/cuda/softmax.cu; its one-warp-per-row kernels split a line across
// lanes and use the per-value formulas). The maximum is subtracted in the tensor's type T;
// exponentials and sums are taken in double.
//   softmax:      y = exp(x - peak) / sum exp(x - peak)
//   log-softmax:  y = x - peak - log sum exp(x - peak)
//   backward:     softmax dx = y (g - sum g y);  log-softmax dx = g - exp(y) sum g
#pragma once
#include <cstdint>

#include "core/scalar_math.h"

namespace slab::softmax_math {

// The value x - peak enters the sum as exp(double(x - peak)).
template <typename T>
SLAB_HOST_DEVICE double shifted_exp(T x, T peak) {
  return math::exp(static_cast<double>(x - peak));
}

template <typename T>
SLAB_HOST_DEVICE T log_softmax_value(T x, T peak, T log_total) {
  return x - peak - log_total;
}

// scale = 1 / sum exp(x - peak)
template <typename T>
SLAB_HOST_DEVICE T softmax_value(T x, T peak, double scale) {
  return static_cast<T>(shifted_exp(x, peak) * scale);
}

// out[e stride] for e in [0, extent): the (log-)softmax of x[e stride].
template <typename T>
SLAB_HOST_DEVICE void softmax_line(const T* x, T* out, int64_t extent, int64_t stride, bool log) {
  T peak = math::negative_infinity<T>();
  for (int64_t e = 0; e < extent; ++e) peak = math::max(peak, x[e * stride]);
  double total = 0;
  for (int64_t e = 0; e < extent; ++e) total += shifted_exp(x[e * stride], peak);
  if (log) {
    const T log_total = static_cast<T>(math::log(total));
    for (int64_t e = 0; e < extent; ++e) out[e * stride] = log_softmax_value(x[e * stride], peak, log_total);
  } else {
    const double scale = 1.0 / total;
    for (int64_t e = 0; e < extent; ++e) out[e * stride] = softmax_value(x[e * stride], peak, scale);
  }
}

// One term of the backward's sum: g (log-softmax) or g y (softmax), in double.
template <typename T>
SLAB_HOST_DEVICE double backward_term(T g, T y, bool log) {
  return log ? static_cast<double>(g) : static_cast<double>(g) * y;
}

// dx from g, y and the line's sum of backward_term.
template <typename T>
SLAB_HOST_DEVICE T backward_value(T g, T y, double total, bool log) {
  return log ? static_cast<T>(g - math::exp(static_cast<double>(y)) * total) : static_cast<T>(y * (g - total));
}

template <typename T>
SLAB_HOST_DEVICE void softmax_backward_line(const T* g, const T* y, T* out, int64_t extent, int64_t stride,
                                            bool log) {
  double total = 0;
  for (int64_t e = 0; e < extent; ++e) total += backward_term(g[e * stride], y[e * stride], log);
  for (int64_t e = 0; e < extent; ++e) out[e * stride] = backward_value(g[e * stride], y[e * stride], total, log);
}

// d loss / d log_probs of the mean negative log-likelihood: exp(log_prob) scale, less
// scale at the target (scale = upstream gradient / rows).
template <typename T>
SLAB_HOST_DEVICE T nll_backward_value(T log_prob, T scale, bool is_target) {
  const T value = math::exp(log_prob) * scale;
  return is_target ? value - scale : value;
}

}  // namespace slab::softmax_math
