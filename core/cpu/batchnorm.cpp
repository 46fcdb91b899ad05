// Batch normalisation kernels: channels split across threads; per channel one pass for the
// statistics (shifted sums in double: sum (x - k), sum (x - k)^2 with k the channel's first
// value, which keeps the variance accurate when |mean| >> std) and one fused pass that
// writes x scale + shift. The backward likewise makes one pass for the two sums and one
// that writes dx.
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

// out = x scale + shift over one channel.
template <typename T>
void apply_affine(const Layout& l, const T* x, T* out, int64_t c, T scale, T shift) {
  for (int64_t n = 0; n < l.batch; ++n) {
    const int64_t base = (n * l.channels + c) * l.inner;
    for (int64_t i = 0; i < l.inner; ++i) out[base + i] = x[base + i] * scale + shift;
  }
}

}  // namespace

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 const Tensor& running_mean, const Tensor& running_var, double momentum,
                                 double eps, const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd) {
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
      apply_affine<T>(l, px, po, c, static_cast<T>(scale), static_cast<T>(shift));
    }
  });
}

void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  const Tensor& running_mean, const Tensor& running_var, double eps,
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
      apply_affine<T>(l, px, po, c, static_cast<T>(scale), static_cast<T>(shift));
    }
  });
}

void batch_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool batch_statistics, const Tensor& grad_x,
                         const Tensor& grad_weight, const Tensor& grad_bias) {
  const Layout l = layout_of(x);
  dispatch_float(x.dtype(), "batch_norm backward", [&](auto zero) {
    using T = decltype(zero);
    const T* pg = grad_out.data<T>();
    const T* px = x.data<T>();
    const T* pw = optional_data<T>(weight);
    const T* pmean = mean.data<T>();
    const T* pinvstd = invstd.data<T>();
    T* pdx = optional_mutable<T>(grad_x);
    T* pdw = optional_mutable<T>(grad_weight);
    T* pdb = optional_mutable<T>(grad_bias);
    const double count = static_cast<double>(l.per_channel());
#pragma omp parallel for if (x.numel() > kParallelGrain) schedule(static)
    for (int64_t c = 0; c < l.channels; ++c) {
      const T mu = pmean[c], inv = pinvstd[c];
      // sum g and sum g x_hat = invstd sum g (x - mean)
      double sum_g = 0, sum_g_centred = 0;
      for (int64_t n = 0; n < l.batch; ++n) {
        const int64_t base = (n * l.channels + c) * l.inner;
        T partial_g = 0, partial_gx = 0;
        for (int64_t i = 0; i < l.inner; ++i) {
          partial_g += pg[base + i];
          partial_gx += pg[base + i] * (px[base + i] - mu);
        }
        sum_g += partial_g;
        sum_g_centred += partial_gx;
      }
      const double sum_g_xhat = sum_g_centred * inv;
      if (pdb != nullptr) pdb[c] = static_cast<T>(sum_g);
      if (pdw != nullptr) pdw[c] = static_cast<T>(sum_g_xhat);
      if (pdx == nullptr) continue;
      const double gain = (pw ? pw[c] : 1.0) * inv;
      if (!batch_statistics) {
        for (int64_t n = 0; n < l.batch; ++n) {
          const int64_t base = (n * l.channels + c) * l.inner;
          for (int64_t i = 0; i < l.inner; ++i) pdx[base + i] = static_cast<T>(gain) * pg[base + i];
        }
        continue;
      }
      // dx = gain (g - sum_g / M - x_hat sum_g_xhat / M), x_hat = (x - mean) invstd
      const T a = static_cast<T>(gain);
      const T b = static_cast<T>(-gain * sum_g / count);
      const T k = static_cast<T>(-gain * sum_g_xhat / count * inv);
      for (int64_t n = 0; n < l.batch; ++n) {
        const int64_t base = (n * l.channels + c) * l.inner;
        for (int64_t i = 0; i < l.inner; ++i) pdx[base + i] = a * pg[base + i] + b + k * (px[base + i] - mu);
      }
    }
  });
}

}  // namespace slab::cpu
