// SmallCNN: the default model of the Fashion-MNIST job, for 28x28 images.
//
//   features:   conv(in -> c1, 3x3, pad 1) BN ReLU maxpool(2)      28 -> 14
//               conv(c1 -> c2, 3x3, pad 1) BN ReLU maxpool(2)      14 -> 7
//   classifier: Linear(c2 * 7 * 7 -> classes)
//
// PyTorch equivalent: `features = nn.Sequential(...)` (keys features.0, .1, .4, .5) and
// `classifier = nn.Linear(...)`; convolutions have no bias (BN follows). The classifier is
// outside the prior (PriorGrouping::None), as every CNN's (docs/algorithm.md#prior-groups).
// Widths: c1 = 16, c2 = 32 by default (20,538 parameters for 10 classes), because twice the
// width (4x the FLOPs) is no more accurate on Fashion-MNIST in a short run (measured with the
// PyTorch twin: docs/results.md#fashion-mnist); "small-cnn-<c1>-<c2>" in make_model picks
// other widths.
#pragma once
#include "core/random.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "models/model.h"

namespace slab {

class SmallCNN : public Model {
 public:
  SmallCNN(int64_t in_channels, int64_t num_classes, Generator& generator, int64_t width1 = 16, int64_t width2 = 32);
  Tensor forward(const Tensor& input) override;
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    return declare_features_head(graph, input, *features, *classifier);
  }
  std::string type_name() const override { return "SmallCNN"; }

  const int64_t in_channels;
  std::shared_ptr<Sequential> features;
  std::shared_ptr<Linear> classifier;
};

}  // namespace slab
