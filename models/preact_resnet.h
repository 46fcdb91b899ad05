// PreAct ResNet-18 (He et al. 2016, "Identity mappings in deep residual networks"), the
// CIFAR form of kuangliu/pytorch-cifar's preact_resnet.py:
//
//   conv1 3x3 64 (no BN after it: each block normalises its own input)
//   layer1..layer4 of pre-activation blocks (widths 64, 128, 256, 512; 2 blocks each)
//   block: a = relu(bn1(x)); out = conv2(relu(bn2(conv1(a)))) + shortcut
//          shortcut = shortcut.0(a) (1x1 conv, where the shape changes) or x
//   bn, ReLU (the final pre-activation), avg_pool2d(4) (32x32 images), linear
//
// Keys: conv1, layer1.0.bn1, layer1.0.conv1, layer1.0.bn2, layer1.0.conv2,
// layer2.0.shortcut.0, bn, linear. (Older copies of that file lack the final `bn`; the
// current one, used here, has it.) PyTorch's default initialisation.
#pragma once
#include <vector>

#include "core/random.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "models/model.h"

namespace slab {

class PreActBlock : public Module {
 public:
  PreActBlock(int64_t in_planes, int64_t planes, int64_t stride, Generator& generator);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "PreActBlock"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;

  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<Sequential> shortcut;  // a 1x1 conv, or null for the identity
};

class PreActResNet : public Model {
 public:
  // depth: 18 (blocks 2, 2, 2, 2) or 34 (3, 4, 6, 3).
  PreActResNet(int64_t depth, int64_t in_channels, int64_t num_classes, Generator& generator);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "PreActResNet"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;

  const int64_t depth;
  std::shared_ptr<Conv2d> conv1;
  std::vector<std::shared_ptr<Sequential>> stages;
  std::shared_ptr<BatchNorm2d> bn;
  std::shared_ptr<Linear> linear;
};

}  // namespace slab
