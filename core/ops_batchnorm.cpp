// Batch normalisation (Ioffe & Szegedy) over [n, c] or [n, c, h, w], statistics per channel,
// with PyTorch's conventions: training normalises with the batch mean and biased variance
// and moves the running statistics towards the batch's (unbiased variance, running =
// (1 - momentum) running + momentum batch); evaluation normalises with the running ones.
//
// With x_hat = (x - mean) invstd, invstd = 1 / sqrt(var + eps), y = weight x_hat + bias and M
// the values per channel, the backward is
//   d bias = sum g,  d weight = sum g x_hat,
//   dx = weight invstd (g - d bias / M - x_hat d weight / M)   (training: mean and var depend on x)
//   dx = weight invstd g                                       (evaluation: they are constants)
#include <algorithm>

#include "core/ops_common.h"
#include "core/trace.h"

namespace slab {

using detail::check_compatible;
using detail::check_float;
using detail::saved;

namespace {

void check_channel_vector(const Tensor& x, const Tensor& v, const char* what) {
  if (!v.defined()) return;
  check_compatible(x, v, "batch_norm");
  SLAB_CHECK(v.dim() == 1 && v.size(0) == x.size(1), "batch_norm: ", what, " of shape ", v.shape(),
             " for input ", x.shape(), " (expected [", x.size(1), "])");
}

// batch_norm, followed by a ReLU in the same passes where `relu`.
Tensor normalise(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                 const Tensor& running_var, bool training, double momentum, double eps, bool relu) {
  check_float(x, "batch_norm");
  SLAB_CHECK(x.dim() == 2 || x.dim() == 4, "batch_norm: input must be [n, c] or [n, c, h, w], got ", x.shape());
  SLAB_CHECK(eps >= 0, "batch_norm: eps must be >= 0, got ", eps);
  check_channel_vector(x, weight, "weight");
  check_channel_vector(x, bias, "bias");
  check_channel_vector(x, running_mean, "running_mean");
  check_channel_vector(x, running_var, "running_var");
  SLAB_CHECK(running_mean.defined() == running_var.defined(),
             "batch_norm: running_mean and running_var must be given together");
  const int64_t channels = x.size(1);
  const int64_t per_channel = x.numel() / std::max<int64_t>(channels, 1);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean, invstd;
  if (training) {
    SLAB_CHECK(per_channel > 1, "batch_norm: training needs more than one value per channel, got input ",
               x.shape());
    mean = Tensor::empty({channels}, x.dtype(), x.device());
    invstd = Tensor::empty({channels}, x.dtype(), x.device());
    SLAB_KERNEL(x.device(), batch_norm_forward_training, x, weight, bias, running_mean, running_var, momentum, eps,
                relu, out, mean, invstd);
  } else {
    SLAB_CHECK(running_mean.defined(), "batch_norm: evaluation needs running_mean and running_var (input ",
               x.shape(), ")");
    SLAB_KERNEL(x.device(), batch_norm_forward_inference, x, weight, bias, running_mean, running_var, eps, relu,
                out);
  }
  if (any_requires_grad({x, weight, bias})) {
    const bool need_x = x.requires_grad();
    const bool need_weight = weight.defined() && weight.requires_grad();
    const bool need_bias = bias.defined() && bias.requires_grad();
    if (!training) {  // constants of the normalisation: the running statistics as they are now
      NoGradGuard constants;
      mean = running_mean.clone();
      invstd = pow(add(running_var, eps), -0.5);
    }
    // The fused ReLU's mask is its output (kept without a grad edge, so the tape holds no
    // cycle through it); the next layer keeps that tensor alive anyway.
    const Tensor relu_output = relu ? saved(out) : Tensor();
    record_op(out, relu ? "batch_norm_relu" : "batch_norm", {x, weight, bias},
              [x = saved(x), weight = saved(weight), mean, invstd, relu_output, training, need_x, need_weight,
               need_bias](const Tensor& grad_out) {
                const Device device = grad_out.device();
                std::vector<Tensor> grads(3);
                if (need_x) grads[0] = Tensor::empty(x.shape(), x.dtype(), device);
                if (need_weight) grads[1] = Tensor::empty(weight.shape(), x.dtype(), device);
                if (need_bias) grads[2] = Tensor::empty(mean.shape(), x.dtype(), device);
                SLAB_KERNEL(device, batch_norm_backward, grad_out, x, weight, mean, invstd, training, relu_output,
                            grads[0], grads[1], grads[2]);
                return grads;
              });
  }
  // Attributes: training (0/1); eps.
  if (trace::active())
    trace::record("batch_norm", {x, weight, bias, running_mean, running_var}, out, {training ? 1 : 0}, {eps});
  return out;
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  return normalise(x, weight, bias, running_mean, running_var, training, momentum, eps, false);
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps) {
  // Two ops where a trace records (it names each op it sees: the exported graph has a
  // BatchNormalization and a Relu), and on the CPU for maps of fewer than 32 pixels: there a
  // channel's rows are single cache lines a whole image apart, and the fused passes' third
  // strided stream (the mask) costs more than the ReLU's contiguous passes (slab-bench ops,
  // 128 x 512 x 4 x 4: 2.7 ms fused, 2.2 ms as two ops; 8 x 8 and larger gain).
  constexpr int64_t kFusedMinimumPixels = 32;
  const bool small_maps = x.device().is_cpu() && x.dim() == 4 && x.size(2) * x.size(3) < kFusedMinimumPixels;
  if (trace::active() || small_maps)
    return relu(batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps));
  return normalise(x, weight, bias, running_mean, running_var, training, momentum, eps, true);
}

}  // namespace slab
