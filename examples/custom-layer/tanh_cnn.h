// TanhCNN: the small CNN of slab's Fashion-MNIST job with ScaledTanh in place of ReLU,
// for 28x28 images, and its registration under the names "tanh-cnn" and
// "tanh-cnn-<c1>-<c2>" (register_tanh_cnn, called at the start of each main).
//
//   features:   conv(in -> c1, 3x3, pad 1) BN ScaledTanh maxpool(2)      28 -> 14
//               conv(c1 -> c2, 3x3, pad 1) BN ScaledTanh maxpool(2)      14 -> 7
//   classifier: Linear(c2 * 7 * 7 -> classes), outside the prior (PriorGrouping::None)
//
// Widths c1 = 16, c2 = 32 by default. The convolutions are grouped by kernels (Conv2d's
// default), so sghmc-spl prunes their channels; the sparsity report follows a dead channel
// through ScaledTanh and the pooling into the weights that read it because
// ScaledTanh declares itself a pass-through (scaled_tanh.h).
#pragma once
#include "core/random.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "models/model.h"

namespace custom_layer {

class TanhCNN : public slab::Model {
 public:
  TanhCNN(int64_t in_channels, int64_t num_classes, slab::Generator& generator, int64_t width1 = 16,
          int64_t width2 = 32);
  slab::Tensor forward(const slab::Tensor& input) override;
  // features -> flatten -> classifier; ScaledTanh declares its own channel role.
  slab::ChannelValue declare_channels(slab::ChannelGraphBuilder& graph, slab::ChannelValue input) override {
    return declare_features_head(graph, input, *features, *classifier);
  }
  std::string type_name() const override { return "TanhCNN"; }

  const int64_t in_channels;
  std::shared_ptr<slab::Sequential> features;
  std::shared_ptr<slab::Linear> classifier;
};

// Registers "tanh-cnn" and "tanh-cnn-<c1>-<c2>" with slab's model registry
// (models/factory.h); safe to call more than once.
void register_tanh_cnn();

}  // namespace custom_layer
