#include "layers/conv2d.h"

#include "layers/init.h"

namespace slab {

Conv2d::Conv2d(int64_t in, int64_t out, const std::array<int64_t, 2>& kernel, Generator& generator,
               const ConvOptions& opts)
    : in_channels(in), out_channels(out), kernel_size(kernel), options(opts) {
  SLAB_CHECK(in > 0 && out > 0, "Conv2d: channel counts must be positive, got ", in, " -> ", out);
  SLAB_CHECK(kernel[0] > 0 && kernel[1] > 0, "Conv2d: kernel size must be positive, got ", kernel[0], "x", kernel[1]);
  SLAB_CHECK(opts.groups > 0 && in % opts.groups == 0 && out % opts.groups == 0, "Conv2d: groups = ", opts.groups,
             " must divide both in_channels ", in, " and out_channels ", out);
  for (int d = 0; d < 2; ++d)
    SLAB_CHECK(opts.stride[d] > 0 && opts.dilation[d] > 0 && opts.padding[d] >= 0,
               "Conv2d: stride and dilation must be positive and padding non-negative, got stride ", opts.stride[d],
               ", dilation ", opts.dilation[d], ", padding ", opts.padding[d]);
  SLAB_CHECK(opts.grouping != PriorGrouping::LinearColumns,
             "Conv2d: a convolution weight cannot be grouped as linear columns (use ConvKernels or None)");
  weight = register_parameter("weight", Tensor::empty({out, in / opts.groups, kernel[0], kernel[1]}), opts.grouping);
  if (opts.bias) bias = register_parameter("bias", Tensor::empty({out}), PriorGrouping::None);
  pytorch_default_init(weight, bias, generator);
}

Tensor Conv2d::forward(const Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() == 4 && input.size(1) == in_channels, "Conv2d(", in_channels, " -> ",
             out_channels, "): expected an input [n, ", in_channels, ", h, w], got shape ",
             input.defined() ? input.shape() : Shape{});
  return conv2d(input, weight, bias, options);
}

}  // namespace slab

namespace slab {

ChannelValue Conv2d::declare_channels(ChannelGraphBuilder& graph, ChannelValue input) {
  MixerChannels tensors;
  tensors.weight = weight;
  tensors.bias = bias;
  tensors.groups = options.groups;
  tensors.zero_padded = options.padding[0] > 0 || options.padding[1] > 0;
  return graph.mixer(*this, input, tensors);
}

void Conv2d::keep_channels(const ChannelNode& node, const KeptChannels& kept) {
  const auto in = static_cast<int64_t>(kept.inputs[0].size()), out = static_cast<int64_t>(kept.output.size());
  if (options.groups == 1) {
    keep_along(weight, 1, kept.inputs[0]);
  } else {
    // The channel analysis ties a depthwise conv's input and output channels (it shrinks
    // both alike) and never shrinks another grouped conv.
    const bool depthwise = options.groups == in_channels && in_channels == out_channels;
    SLAB_CHECK(depthwise ? kept.inputs[0] == kept.output : (in == in_channels && out == out_channels), "Conv2d at '",
               node.name, "': a grouped conv cannot lose channels outside its group structure");
    options.groups = depthwise ? out : options.groups;
  }
  keep_along(weight, 0, kept.output);
  keep_along(bias, 0, kept.output);
  in_channels = in;
  out_channels = out;
}

}  // namespace slab
