// Conv2d: 2-D cross-correlation over NCHW images, PyTorch's nn.Conv2d.
//
// weight [out_channels, in_channels / groups, kh, kw], bias [out_channels] (optional).
// Prior grouping (docs/algorithm.md#prior-groups): PriorGrouping::ConvKernels, i.e. the soft
// groups are the kernel slices w[o, i, :, :] and the hard (pruning) units the input channels
// w[:, i, :, :] and output filters w[o, :, :, :]. The bias is never grouped.
// Initialisation is PyTorch's (layers/init.h); models may re-initialise (He-normal).
#pragma once
#include <array>

#include "core/ops.h"
#include "core/random.h"
#include "layers/module.h"

namespace slab {

// The op's geometry (core/ops.h Conv2dOptions: stride, padding, dilation, groups) and what
// the layer adds to it.
struct ConvOptions : Conv2dOptions {
  bool bias = true;
  PriorGrouping grouping = PriorGrouping::ConvKernels;
};

// Square shorthands: conv_options(stride, padding) with no bias is the common ResNet conv.
inline ConvOptions conv_options(int64_t stride, int64_t padding, bool bias = true) {
  ConvOptions options;
  options.stride = {stride, stride};
  options.padding = {padding, padding};
  options.bias = bias;
  return options;
}

class Conv2d : public Module {
 public:
  // Options are taken by reference: GCC 12.2 with -march=native (rocketlake/skylake-avx512
  // tuning) miscompiled the by-value form, storing the kernel size over the padding when
  // the kernel and stride were both 1 (see the regression test in tests/test_layers.cpp).
  Conv2d(int64_t in_channels, int64_t out_channels, const std::array<int64_t, 2>& kernel_size, Generator& generator,
         const ConvOptions& options = {});
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Generator& generator,
         const ConvOptions& options = {})
      : Conv2d(in_channels, out_channels, std::array<int64_t, 2>{kernel_size, kernel_size}, generator, options) {}

  // input [n, in_channels, h, w] -> [n, out_channels, h', w']
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Conv2d"; }
  // A mixer (grouped when groups > 1); a padded conv reads zeros beyond the border.
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;
  // Slices the filters and input channels; a depthwise conv keeps one group per channel.
  void keep_channels(const ChannelNode& node, const KeptChannels& kept) override;

  // The channel counts and groups change only when the network shrinks (keep_channels).
  int64_t in_channels;
  int64_t out_channels;
  const std::array<int64_t, 2> kernel_size;
  ConvOptions options;
  Tensor weight;  // [out_channels, in_channels / groups, kh, kw]
  Tensor bias;    // [out_channels] or undefined
};

}  // namespace slab
