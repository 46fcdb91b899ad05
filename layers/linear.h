// Linear: y = x W^T + b with W [out_features, in_features], b [out_features].
//
// Prior grouping (docs/algorithm.md#prior-groups): the weight's input columns W[:, j] are the
// groups by default, as in the fully connected networks of the paper; a CNN's classifier declares
// PriorGrouping::None, which keeps it out of the prior (always lambda1, never pruned).
// The bias is never grouped. Initialisation is PyTorch's (layers/init.h).
#pragma once
#include "core/random.h"
#include "layers/module.h"

namespace slab {

struct LinearOptions {
  bool bias = true;
  PriorGrouping grouping = PriorGrouping::LinearColumns;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, Generator& generator, const LinearOptions& options = {});

  // input [..., in_features] -> [..., out_features]
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Linear"; }
  // A mixer; after a flatten it reads in_features / channels columns per channel.
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;
  void keep_channels(const ChannelNode& node, const KeptChannels& kept) override;

  // Change only when the network shrinks (keep_channels).
  int64_t in_features;
  int64_t out_features;
  Tensor weight;  // [out_features, in_features]
  Tensor bias;    // [out_features], undefined without a bias
};

}  // namespace slab
