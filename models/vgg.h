// VGG-11/13/16/19 with BatchNorm, CIFAR form (kuangliu/pytorch-cifar's VGG):
//
//   features: for each entry of the configuration, conv(3x3, pad 1, with bias) BN ReLU,
//             or maxpool(2) for "M"; then AvgPool2d(1, 1) (a no-op kept for the indices)
//   classifier: Linear(512 -> classes)
//
// Keys: features.0.weight, features.0.bias, features.1.weight, ... classifier.weight, as
// PyTorch's. For 32x32 images (five poolings leave 1x1x512). Convolution weights take part
// in the prior (ConvKernels); biases, BN and the classifier do not.
#pragma once
#include "core/random.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "models/model.h"

namespace slab {

class VGG : public Model {
 public:
  // depth: 11, 13, 16 or 19.
  VGG(int64_t depth, int64_t in_channels, int64_t num_classes, Generator& generator);
  Tensor forward(const Tensor& input) override;
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    return declare_features_head(graph, input, *features, *classifier);
  }
  std::string type_name() const override { return "VGG"; }

  const int64_t depth;
  const int64_t in_channels;
  std::shared_ptr<Sequential> features;
  std::shared_ptr<Linear> classifier;
};

}  // namespace slab
