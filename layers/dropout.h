// Dropout: in training, zeroes each element with probability p and scales the survivors
// by 1 / (1 - p) (inverted dropout, as PyTorch); in evaluation, the identity.
//
// The layer owns its Generator (Philox, seeded from the constructor's seed), so its masks
// are reproducible and its state can be saved for an exact resume (optim/checkpoint.h
// collects the state of every Dropout in a model by its qualified name).
#pragma once
#include "core/random.h"
#include "layers/module.h"

namespace slab {

class Dropout : public Module {
 public:
  explicit Dropout(double probability = 0.5, uint64_t seed = 0, uint64_t stream = 0);
  Tensor forward(const Tensor& input) override { return dropout(input, probability, is_training(), generator_); }
  std::string type_name() const override { return "Dropout"; }
  // In training a constant channel is no longer constant (the mask varies); zero stays zero.
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    return graph.pass_through(*this, input, breaks_constants());
  }

  Generator& generator() { return generator_; }
  const double probability;

 private:
  Generator generator_;
};

}  // namespace slab
