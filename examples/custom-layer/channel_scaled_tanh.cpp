#include "channel_scaled_tanh.h"

#include <cmath>
#include <vector>

namespace custom_layer {

namespace {

using slab::DType;
using slab::Tensor;

// x viewed as [batch, channels, inner] (inner: the product of the dimensions after 1).
struct ChannelLayout {
  int64_t batch = 1, channels = 1, inner = 1;
};

ChannelLayout layout_of(const slab::Shape& shape) {
  ChannelLayout layout{shape[0], shape[1], 1};
  for (size_t d = 2; d < shape.size(); ++d) layout.inner *= shape[d];
  return layout;
}

template <typename T>
void forward_kernel(const T* x, const T* a, T* t, T* y, const ChannelLayout& l) {
#pragma omp parallel for collapse(2) if (l.batch * l.channels * l.inner > 32768)
  for (int64_t n = 0; n < l.batch; ++n)
    for (int64_t c = 0; c < l.channels; ++c) {
      const int64_t base = (n * l.channels + c) * l.inner;
      for (int64_t i = 0; i < l.inner; ++i) {
        t[base + i] = std::tanh(x[base + i]);
        y[base + i] = a[c] * t[base + i];
      }
    }
}

// grad_x may be null (x needs no gradient), grad_a likewise. dL/da[c] is summed per
// channel by one thread in a fixed order, so it does not depend on the thread count.
template <typename T>
void backward_kernel(const T* g, const T* t, const T* a, T* grad_x, T* grad_a, const ChannelLayout& l) {
  const bool parallel = l.batch * l.channels * l.inner > 32768;
  if (grad_x != nullptr) {
#pragma omp parallel for collapse(2) if (parallel)
    for (int64_t n = 0; n < l.batch; ++n)
      for (int64_t c = 0; c < l.channels; ++c) {
        const int64_t base = (n * l.channels + c) * l.inner;
        for (int64_t i = 0; i < l.inner; ++i) grad_x[base + i] = g[base + i] * a[c] * (1 - t[base + i] * t[base + i]);
      }
  }
  if (grad_a != nullptr) {
#pragma omp parallel for if (parallel)
    for (int64_t c = 0; c < l.channels; ++c) {
      double total = 0;
      for (int64_t n = 0; n < l.batch; ++n) {
        const int64_t base = (n * l.channels + c) * l.inner;
        for (int64_t i = 0; i < l.inner; ++i) total += static_cast<double>(g[base + i]) * t[base + i];
      }
      grad_a[c] = static_cast<T>(total);
    }
  }
}

// Binds the element type: f(float{}) or f(double{}).
template <typename F>
void dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::f32) f(float{});
  else f(double{});
}

}  // namespace

Tensor channel_scaled_tanh(const Tensor& x, const Tensor& amplitude) {
  SLAB_CHECK(x.defined() && amplitude.defined(), "channel_scaled_tanh: undefined input");
  SLAB_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, "channel_scaled_tanh: expected float32 or float64, got ",
             x.dtype());
  SLAB_CHECK(amplitude.dtype() == x.dtype(), "channel_scaled_tanh: dtype mismatch, x ", x.dtype(), " vs amplitude ",
             amplitude.dtype());
  SLAB_CHECK(x.device().is_cpu() && amplitude.device().is_cpu(), "channel_scaled_tanh: CPU tensors only, got ",
             x.device(), " and ", amplitude.device());
  SLAB_CHECK(x.dim() >= 2 && amplitude.dim() == 1 && amplitude.size(0) == x.size(1),
             "channel_scaled_tanh: expected x [n, c, ...] and amplitude [c], got ", x.shape(), " and ",
             amplitude.shape());
  const ChannelLayout layout = layout_of(x.shape());
  Tensor t = Tensor::empty(x.shape(), x.dtype());
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    forward_kernel(x.data<T>(), amplitude.data<T>(), t.data<T>(), y.data<T>(), layout);
  });
  if (slab::any_requires_grad({x, amplitude})) {
    // The closure keeps t and a history-free handle on a: what the backward reads, nothing more.
    const bool need_x = x.requires_grad(), need_a = amplitude.requires_grad();
    slab::record_op(y, "channel_scaled_tanh", {x, amplitude},
                    [t, a = amplitude.detach(), layout, need_x, need_a](const Tensor& g) {
                      std::vector<Tensor> grads(2);
                      if (need_x) grads[0] = Tensor::empty(t.shape(), t.dtype());
                      if (need_a) grads[1] = Tensor::empty(a.shape(), a.dtype());
                      dispatch_float(t.dtype(), [&](auto zero) {
                        using T = decltype(zero);
                        backward_kernel(g.data<T>(), t.data<T>(), a.data<T>(),
                                        need_x ? grads[0].data<T>() : nullptr,
                                        need_a ? grads[1].data<T>() : nullptr, layout);
                      });
                      return grads;
                    });
  }
  return y;
}

}  // namespace custom_layer
