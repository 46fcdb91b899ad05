#include "layers/linear.h"

#include "layers/init.h"

namespace slab {

Linear::Linear(int64_t in, int64_t out, Generator& generator, const LinearOptions& options)
    : in_features(in), out_features(out) {
  SLAB_CHECK(in > 0 && out > 0, "Linear: feature counts must be positive, got in_features ", in, ", out_features ",
             out);
  SLAB_CHECK(options.grouping != PriorGrouping::ConvKernels,
             "Linear: a Linear weight cannot be grouped as convolution kernels (use LinearColumns or None)");
  weight = register_parameter("weight", Tensor::empty({out, in}), options.grouping);
  if (options.bias) bias = register_parameter("bias", Tensor::empty({out}), PriorGrouping::None);
  pytorch_default_init(weight, bias, generator);
}

Tensor Linear::forward(const Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() >= 1 && input.size(-1) == in_features, "Linear(", in_features, " -> ",
             out_features, "): expected an input whose last dimension is ", in_features, ", got shape ",
             input.defined() ? input.shape() : Shape{});
  return linear(input, weight, bias);
}

}  // namespace slab

namespace slab {

ChannelValue Linear::declare_channels(ChannelGraphBuilder& graph, ChannelValue input) {
  MixerChannels tensors;
  tensors.weight = weight;
  tensors.bias = bias;
  return graph.mixer(*this, input, tensors);
}

void Linear::keep_channels(const ChannelNode& node, const KeptChannels& kept) {
  const int64_t channels = kept.input_channels[0];
  SLAB_CHECK(channels > 0 && in_features % channels == 0, "Linear at '", node.name, "': ", in_features,
             " columns do not split into ", channels, " channels");
  const int64_t per_channel = in_features / channels;
  std::vector<int64_t> columns;
  for (int64_t c : kept.inputs[0])
    for (int64_t k = 0; k < per_channel; ++k) columns.push_back(c * per_channel + k);
  keep_along(weight, 1, columns);
  keep_along(weight, 0, kept.output);
  keep_along(bias, 0, kept.output);
  in_features = static_cast<int64_t>(columns.size());
  out_features = static_cast<int64_t>(kept.output.size());
}

}  // namespace slab
