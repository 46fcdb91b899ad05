// MLP: a fully connected ReLU network, in_features -> hidden... -> out_features.
//
// PyTorch equivalent: a module with `layers = nn.Sequential(Linear, ReLU, ..., Linear)`
// (layers/linear_stack.h), so the keys are "layers.0.weight", "layers.2.weight", ...
// Inputs of more than two
// dimensions are flattened from dimension 1 (images). Every Linear weight is grouped by
// input columns (docs/algorithm.md#prior-groups: in a fully connected net all layers take part in
// the prior, the first layer's columns being the variables of the selection examples).
#pragma once
#include <vector>

#include "core/random.h"
#include "layers/sequential.h"
#include "models/model.h"

namespace slab {

class MLP : public Model {
 public:
  MLP(int64_t in_features, const std::vector<int64_t>& hidden_features, int64_t out_features, Generator& generator);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "MLP"; }
  // An image input is flattened first (one feature per "channel" when it already is [n, f]).
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    return graph.child("layers", *layers, input);
  }

  const int64_t in_features;
  const int64_t out_features;
  std::shared_ptr<Sequential> layers;
};

}  // namespace slab
