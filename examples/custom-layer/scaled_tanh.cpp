#include "scaled_tanh.h"

#include "channel_scaled_tanh.h"

namespace custom_layer {

ScaledTanh::ScaledTanh(int64_t c) : channels(c) {
  SLAB_CHECK(c > 0, "ScaledTanh: channels must be positive, got ", c);
  amplitude = register_parameter("amplitude", slab::ones({c}), slab::PriorGrouping::None);
}

slab::Tensor ScaledTanh::forward(const slab::Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() >= 2 && input.size(1) == channels, "ScaledTanh(", channels,
             "): expected an input [n, ", channels, ", ...], got shape ", input.defined() ? input.shape() : slab::Shape{});
  return channel_scaled_tanh(input, amplitude);
}

void ScaledTanh::keep_channels(const slab::ChannelNode&, const slab::KeptChannels& kept) {
  slab::keep_along(amplitude, 0, kept.output);
  channels = static_cast<int64_t>(kept.output.size());
}

}  // namespace custom_layer
