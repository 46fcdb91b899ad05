// ScaledTanh: a layer with a learnt amplitude per channel, y = a[c] tanh(x[n, c, ...])
// (channel_scaled_tanh.h). Inputs [n, c] or [n, c, h, w]; a starts at 1 (plain tanh).
//
// Prior grouping (layers/module.h): the amplitude is PriorGrouping::None. A per-channel
// scale is like a BatchNorm weight: the spike-and-slab prior always gives it the slab and
// never prunes it; the groups that carry the pruning are the kernels of the convolutions
// before and after it (ConvKernels) and a Linear's input columns (LinearColumns). A rank-1
// tensor can only be None (optim/prior_state.h checks the rank).
//
// Channel role (docs/adding-a-layer.md#channel-roles): a pass-through, channel c to channel
// c and a zero channel to a zero one (tanh(0) = 0), so a channel pruned before it stays
// dead after it. A constant k becomes a[c] tanh(k), a different number per channel, which
// a pass-through's one ConstantMap cannot say: it declares that constants are not kept.
// When the network shrinks it slices its amplitude with the channels.
#pragma once
#include "layers/module.h"

namespace custom_layer {

class ScaledTanh : public slab::Module {
 public:
  explicit ScaledTanh(int64_t channels);
  slab::Tensor forward(const slab::Tensor& input) override;
  std::string type_name() const override { return "ScaledTanh"; }
  slab::ChannelValue declare_channels(slab::ChannelGraphBuilder& graph, slab::ChannelValue input) override {
    return graph.pass_through(*this, input, slab::breaks_constants());
  }
  void keep_channels(const slab::ChannelNode& node, const slab::KeptChannels& kept) override;

  int64_t channels;  // changes only when the network shrinks
  slab::Tensor amplitude;  // [channels]
};

}  // namespace custom_layer
