// ResNet-20/32/44/56/110 of He et al. (2016, section 4.2), the CIFAR form with option-A
// shortcuts, as in the widely used PyTorch port (akamaster/pytorch_resnet_cifar10):
//
//   conv1 3x3 16, bn1, ReLU
//   layer1: n basic blocks of 16 channels, layer2: n of 32 (stride 2), layer3: n of 64
//   (stride 2), depth = 6n + 2; global average pool; linear(64 -> classes)
//   block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
//   option A: where the shape changes, shortcut(x) = x[:, :, ::2, ::2] with planes/4 zero
//   channels on each side: no parameters.
//
// Keys: conv1, bn1, layer1.0.conv1, layer1.0.bn1, ..., linear. Initialisation as that
// port: kaiming_normal_ (fan_in, gain sqrt 2) on every conv and linear weight. 10 classes
// give 269,722 parameters for ResNet-20.
#pragma once
#include <vector>

#include "core/random.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "models/model.h"

namespace slab {

class CifarBasicBlock : public Module {
 public:
  CifarBasicBlock(int64_t in_planes, int64_t planes, int64_t stride, Generator& generator);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "CifarBasicBlock"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;
  // The option-A shortcut of a shrunken block places the kept input channels at their
  // kept output positions (a channel's position moves when channels before it leave).
  void keep_channels(const ChannelNode& node, const KeptChannels& kept) override;

  // True when the shortcut subsamples and zero-pads (option A).
  bool padded_shortcut() const { return padding_ > 0 || stride_ != 1; }
  int64_t shortcut_padding() const { return padding_; }

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;

 private:
  int64_t stride_;
  int64_t padding_;  // zero channels added on each side by the option-A shortcut
  // After shrinking: the output channel of each kept input channel (empty: the padding rule).
  std::vector<int64_t> shortcut_targets_;
  int64_t shortcut_channels_ = 0;  // output channels of a shrunken shortcut
};

class CifarResNet : public Model {
 public:
  // depth = 6n + 2: 20, 32, 44, 56, 110, ...
  CifarResNet(int64_t depth, int64_t in_channels, int64_t num_classes, Generator& generator);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "CifarResNet"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;

  const int64_t depth;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::vector<std::shared_ptr<Sequential>> stages;  // layer1, layer2, layer3
  std::shared_ptr<Linear> linear;
};

}  // namespace slab
