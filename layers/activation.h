// Parameter-free layers that map one tensor to one tensor: ReLU, Identity, Flatten.
#pragma once
#include "layers/module.h"

namespace slab {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& input) override { return relu(input); }
  std::string type_name() const override { return "ReLU"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    return graph.pass_through(*this, input, clamps_constants_at_zero());
  }
};

// Returns its input (a placeholder where an architecture has an optional layer).
class Identity : public Module {
 public:
  Tensor forward(const Tensor& input) override { return input; }
  std::string type_name() const override { return "Identity"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    return graph.pass_through(*this, input, keeps_constants());
  }
};

// Merges dimensions start_dim..end_dim into one (PyTorch's nn.Flatten: 1..-1 by default).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& input) override { return flatten(input, start_dim, end_dim); }
  std::string type_name() const override { return "Flatten"; }
  // A flatten from dim 1 turns each channel into a block of features.
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    SLAB_CHECK(start_dim == 1 && end_dim == -1, "Flatten at '", graph.current_name(), "': only flatten(1, -1) has a channel role");
    return graph.flatten(this, input);
  }

  const int64_t start_dim;
  const int64_t end_dim;
};

}  // namespace slab
