// conv2d: a 2-D cross-correlation over NCHW tensors with stride, zero padding, dilation and
// groups (PyTorch's conv2d), with its backward for the input, the weight and the bias.
//
// out[n, o, i, j] = bias[o] + sum over c in o's group, (p, q) < (kh, kw) of
//     weight[o, c, p, q] * x[n, c, i stride_h + p dilation_h - pad_h, j stride_w + q dilation_w - pad_w]
// (x read as 0 outside the image). Both gradients are correlations of the same kind, which
// the kernels compute (core/cpu/conv.cpp); the bias gradient sums grad_out per channel.
#include "core/ops_common.h"
#include "core/trace.h"

namespace slab {

using detail::check_compatible;
using detail::check_float;
using detail::saved;

namespace {

struct ConvGeometry {
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
};

// Output extent along one axis; throws naming both shapes when the (dilated) kernel does
// not fit in the padded input.
int64_t output_extent(int64_t input, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, const char* axis,
                      const Tensor& x, const Tensor& weight) {
  const int64_t span = dilation * (kernel - 1) + 1;
  SLAB_CHECK(span <= input + 2 * pad, "conv2d: kernel ", weight.shape(), " (dilated ", axis, " extent ", span,
             ") is larger than the padded input ", x.shape(), " (", axis, " ", input, " + 2 x padding ", pad, " = ",
             input + 2 * pad, ")");
  return (input + 2 * pad - span) / stride + 1;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options) {
  check_float(x, "conv2d");
  check_float(weight, "conv2d");
  check_compatible(x, weight, "conv2d");
  SLAB_CHECK(x.dim() == 4, "conv2d: input must be [n, c, h, w] (rank 4), got ", x.shape());
  SLAB_CHECK(weight.dim() == 4, "conv2d: weight must be [c_out, c_in / groups, kh, kw] (rank 4), got ", weight.shape());
  const ConvGeometry g{options.stride[0],   options.stride[1],   options.padding[0], options.padding[1],
                       options.dilation[0], options.dilation[1], options.groups};
  SLAB_CHECK(g.groups >= 1, "conv2d: groups must be >= 1, got ", g.groups);
  SLAB_CHECK(g.stride_h >= 1 && g.stride_w >= 1, "conv2d: stride must be >= 1, got [", g.stride_h, ", ", g.stride_w,
             "]");
  SLAB_CHECK(g.dilation_h >= 1 && g.dilation_w >= 1, "conv2d: dilation must be >= 1, got [", g.dilation_h, ", ",
             g.dilation_w, "]");
  SLAB_CHECK(g.pad_h >= 0 && g.pad_w >= 0, "conv2d: padding must be >= 0, got [", g.pad_h, ", ", g.pad_w, "]");
  const int64_t batch = x.size(0), c_in = x.size(1), c_out = weight.size(0);
  SLAB_CHECK(c_in % g.groups == 0, "conv2d: input channels ", c_in, " of input ", x.shape(),
             " are not divisible by groups = ", g.groups);
  SLAB_CHECK(c_out % g.groups == 0, "conv2d: output channels ", c_out, " of weight ", weight.shape(),
             " are not divisible by groups = ", g.groups);
  SLAB_CHECK(weight.size(1) * g.groups == c_in, "conv2d: weight ", weight.shape(), " expects ",
             weight.size(1) * g.groups, " input channels (", weight.size(1), " per group x ", g.groups,
             " groups) but the input ", x.shape(), " has ", c_in);
  SLAB_CHECK(weight.size(2) >= 1 && weight.size(3) >= 1 && c_out >= 1, "conv2d: empty weight ", weight.shape());
  if (bias.defined()) {
    check_compatible(x, bias, "conv2d");
    SLAB_CHECK(bias.dim() == 1 && bias.size(0) == c_out, "conv2d: bias of shape ", bias.shape(), " for weight ",
               weight.shape(), " (expected [", c_out, "])");
  }
  const int64_t out_h =
      output_extent(x.size(2), weight.size(2), g.stride_h, g.pad_h, g.dilation_h, "height", x, weight);
  const int64_t out_w = output_extent(x.size(3), weight.size(3), g.stride_w, g.pad_w, g.dilation_w, "width", x, weight);

  Tensor out = Tensor::empty({batch, c_out, out_h, out_w}, x.dtype(), x.device());
  SLAB_KERNEL(x.device(), conv2d_forward, x, weight, bias, out, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dilation_h,
              g.dilation_w, g.groups);

  if (any_requires_grad({x, weight, bias})) {
    const bool need_x = x.requires_grad(), need_weight = weight.requires_grad();
    const bool need_bias = bias.defined() && bias.requires_grad();
    // The input gradient needs only the weight, the weight gradient only the input.
    record_op(out, "conv2d", {x, weight, bias},
              [x = need_weight ? saved(x) : Tensor(), weight = need_x ? saved(weight) : Tensor(), x_shape = x.shape(),
               weight_shape = weight.shape(), need_x, need_weight, need_bias, g](const Tensor& grad_out) {
                std::vector<Tensor> grads(3);
                const Device device = grad_out.device();
                if (need_x) {
                  grads[0] = Tensor::empty(x_shape, grad_out.dtype(), device);
                  SLAB_KERNEL(device, conv2d_backward_input, grad_out, weight, grads[0], g.stride_h, g.stride_w,
                              g.pad_h, g.pad_w, g.dilation_h, g.dilation_w, g.groups);
                }
                if (need_weight) {
                  grads[1] = Tensor::empty(weight_shape, grad_out.dtype(), device);
                  SLAB_KERNEL(device, conv2d_backward_weight, grad_out, x, grads[1], g.stride_h, g.stride_w, g.pad_h,
                              g.pad_w, g.dilation_h, g.dilation_w, g.groups);
                }
                if (need_bias) {
                  grads[2] = Tensor::empty({weight_shape[0]}, grad_out.dtype(), device);
                  SLAB_KERNEL(device, conv2d_backward_bias, grad_out, grads[2]);
                }
                return grads;
              });
  }
  // Attributes: stride h w, padding h w, dilation h w, groups.
  if (trace::active())
    trace::record("conv2d", {x, weight, bias}, out,
                  {g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dilation_h, g.dilation_w, g.groups});
  return out;
}

}  // namespace slab
