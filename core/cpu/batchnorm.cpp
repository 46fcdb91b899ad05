// Batch normalisation kernels: channels split across threads; per channel one pass for the
// statistics (shifted sums in double: sum (x - k), sum (x - k)^2 with k the channel's first
// value, which keeps the variance accurate when |mean| >> std) and one fused pass that
// writes x scale + shift (and, for a fused ReLU, max(0, that)). The backward likewise makes
// one pass for the two sums and one that writes dx; with a fused ReLU both passes read its
// output y and take the gradient as g (y > 0), so the ReLU's own backward pass, and the
// tensor it would write, never exist.
#include <cmath>

#include "core/batch_norm_math.h"
#include "core/cpu/parallel.h"
#include "core/kernels.h"

namespace slab::cpu {

namespace {

// x viewed as [batch, channels, inner] (inner = h w, or 1 for [n, c]).
struct Layout {
  int64_t batch, channels, inner;
  int64_t per_channel() const { return batch * inner; }
};

Layout layout_of(const Tensor& x) {
  const int64_t inner = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  return {x.size(0), x.size(1), inner};
}

template <typename T>
const T* optional_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <typename T>
T* optional_mutable(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// out = x scale + shift over one channel, or max(0, that) (the ReLU of core/elementwise_math.h,
// which sends NaN to 0 as the unfused op does).
template <typename T>
void apply_affine(const Layout& l, const T* x, T* out, int64_t c, T scale, T shift, bool relu) {
  for (int64_t n = 0; n < l.batch; ++n) {
    const int64_t base = (n * l.channels + c) * l.inner;
    if (relu) {
      for (int64_t i = 0; i < l.inner; ++i) {
        const T v = x[base + i] * scale + shift;
        out[base + i] = v > T(0) ? v : T(0);
      }
    } else {
      for (int64_t i = 0; i < l.inner; ++i) out[base + i] = x[base + i] * scale + shift;
    }
  }
}

}  // namespace

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 const Tensor& running_mean, const Tensor& running_var, double momentum,
                                 double eps, bool relu, const Tensor& out, const Tensor& save_mean,
                                 const Tensor& save_invstd) {
  const Layout l = layout_of(x);
  dispatch_float(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pw = optional_data<T>(weight);
    const T* pb = optional_data<T>(bias);
    T* prm = optional_mutable<T>(running_mean);
    T* prv = optional_mutable<T>(running_var);
    T* po = out.data<T>();
    T* pmean = save_mean.data<T>();
    T* pinvstd = save_invstd.data<T>();
    const double count = static_cast<double>(l.per_channel());
#pragma omp parallel for if (x.numel() > kParallelGrain) schedule(static)
    for (int64_t c = 0; c < l.channels; ++c) {
      const double shift_point = px[c * l.inner];
      double sum = 0, sum_squares = 0;
      for (int64_t n = 0; n < l.batch; ++n) {
        const T* row = px + (n * l.channels + c) * l.inner;
        T partial = 0, partial_squares = 0;  // one row in the working type, rows summed in double
#pragma omp simd reduction(+ : partial, partial_squares)
        for (int64_t i = 0; i < l.inner; ++i) {
          const T d = row[i] - static_cast<T>(shift_point);
          partial += d;
          partial_squares += d * d;
        }
        sum += partial;
        sum_squares += partial_squares;
      }
      const double mean = shift_point + sum / count;
      const double var = batch_norm_math::biased_variance(sum, sum_squares, count);  // unchanged by the shift
      const double invstd = batch_norm_math::inverse_std(var, eps);
      pmean[c] = static_cast<T>(mean);
      pinvstd[c] = static_cast<T>(invstd);
      if (prm != nullptr) {
        prm[c] = static_cast<T>(batch_norm_math::running_mean(prm[c], mean, momentum));
        prv[c] = static_cast<T>(batch_norm_math::running_variance(prv[c], var, count, momentum));
      }
      const double scale = (pw ? pw[c] : 1.0) * invstd;
      const double shift = (pb ? pb[c] : 0.0) - mean * scale;
      apply_affine<T>(l, px, po, c, static_cast<T>(scale), static_cast<T>(shift), relu);
    }
  });
}

void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  const Tensor& running_mean, const Tensor& running_var, double eps, bool relu,
                                  const Tensor& out) {
  const Layout l = layout_of(x);
  dispatch_float(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pw = optional_data<T>(weight);
    const T* pb = optional_data<T>(bias);
    const T* prm = running_mean.data<T>();
    const T* prv = running_var.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain) schedule(static)
    for (int64_t c = 0; c < l.channels; ++c) {
      const double scale = (pw ? pw[c] : 1.0) / std::sqrt(static_cast<double>(prv[c]) + eps);
      const double shift = (pb ? pb[c] : 0.0) - prm[c] * scale;
      apply_affine<T>(l, px, po, c, static_cast<T>(scale), static_cast<T>(shift), relu);
    }
  });
}

namespace {

template <typename T>
struct BackwardData {
  const T* g;       // grad_out
  const T* x;
  const T* y;       // the fused ReLU's output, or null
  const T* weight;  // or null
  const T* mean;
  const T* invstd;
  T* dx;            // each of dx, dw, db may be null
  T* dw;
  T* db;
  bool batch_statistics;
};

// The gradient reaching the batch norm at `at`: g, or behind a fused ReLU with output y,
// g (y > 0) (BinaryOp::ReluGrad's rule). A template flag, so that each loop vectorises.
template <bool Relu, typename T>
inline T gradient_at(const T* g, const T* y, int64_t at) {
  if constexpr (Relu) return y[at] > T(0) ? g[at] : T(0);
  else return g[at];
}

template <typename T, bool Relu>
void backward_channel(const Layout& l, const BackwardData<T>& d, int64_t c) {
  // dx is a fresh tensor, never one of the inputs: restrict spares each row's alias checks.
  const T* __restrict pg = d.g;
  const T* __restrict px = d.x;
  const T* __restrict py = d.y;
  const T* pw = d.weight;
  T* __restrict pdx = d.dx;
  const double count = static_cast<double>(l.per_channel());
  const T mu = d.mean[c], inv = d.invstd[c];
  // sum g and sum g x_hat = invstd sum g (x - mean)
  double sum_g = 0, sum_g_centred = 0;
  for (int64_t n = 0; n < l.batch; ++n) {
    const int64_t base = (n * l.channels + c) * l.inner;
    T partial_g = 0, partial_gx = 0;  // one row in the working type, rows summed in double
#pragma omp simd reduction(+ : partial_g, partial_gx)
    for (int64_t i = 0; i < l.inner; ++i) {
      const T g = gradient_at<Relu>(pg, py, base + i);
      partial_g += g;
      // An explicit fma: with the ReLU mask folded into g, the compiler may otherwise round
      // g (x - mu) before the add on one instruction set and not on another, and the fused
      // op would no longer equal relu followed by batch_norm's backward.
      partial_gx = std::fma(g, px[base + i] - mu, partial_gx);
    }
    sum_g += partial_g;
    sum_g_centred += partial_gx;
  }
  const double sum_g_xhat = sum_g_centred * inv;
  if (d.db != nullptr) d.db[c] = static_cast<T>(sum_g);
  if (d.dw != nullptr) d.dw[c] = static_cast<T>(sum_g_xhat);
  if (pdx == nullptr) return;
  const double gain = (pw ? pw[c] : 1.0) * inv;
  const T a = static_cast<T>(gain);
  if (!d.batch_statistics) {
    for (int64_t n = 0; n < l.batch; ++n) {
      const int64_t base = (n * l.channels + c) * l.inner;
      for (int64_t i = 0; i < l.inner; ++i) pdx[base + i] = a * gradient_at<Relu>(pg, py, base + i);
    }
    return;
  }
  // dx = gain (g - sum_g / M - x_hat sum_g_xhat / M), x_hat = (x - mean) invstd
  const T b = static_cast<T>(-gain * sum_g / count);
  const T k = static_cast<T>(-gain * sum_g_xhat / count * inv);
  for (int64_t n = 0; n < l.batch; ++n) {
    const int64_t base = (n * l.channels + c) * l.inner;
    for (int64_t i = 0; i < l.inner; ++i) pdx[base + i] = a * gradient_at<Relu>(pg, py, base + i) + b + k * (px[base + i] - mu);
  }
}

}  // namespace

void batch_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool batch_statistics, const Tensor& relu_output,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias) {
  const Layout l = layout_of(x);
  dispatch_float(x.dtype(), "batch_norm backward", [&](auto zero) {
    using T = decltype(zero);
    const BackwardData<T> d{grad_out.data<T>(),           x.data<T>(),
                            optional_data<T>(relu_output), optional_data<T>(weight),
                            mean.data<T>(),                invstd.data<T>(),
                            optional_mutable<T>(grad_x),   optional_mutable<T>(grad_weight),
                            optional_mutable<T>(grad_bias), batch_statistics};
    const bool relu = relu_output.defined();
#pragma omp parallel for if (x.numel() > kParallelGrain) schedule(static)
    for (int64_t c = 0; c < l.channels; ++c) {
      if (relu) backward_channel<T, true>(l, d, c);
      else backward_channel<T, false>(l, d, c);
    }
  });
}

}  // namespace slab::cpu
