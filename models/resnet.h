// ResNet-18/34/50 with projection shortcuts, in two forms that differ in stem, head and
// names:
//
//   CIFAR (kuangliu/pytorch-cifar): conv1 3x3 64 stride 1, bn1, ReLU, no max-pool;
//     layer1..layer4; avg_pool2d(4) (32x32 images); `linear`; shortcut = Sequential(conv
//     1x1, BN) named `shortcut.0`, `shortcut.1`; PyTorch's default initialisation.
//   ImageNet (torchvision.models.resnet): conv1 7x7 64 stride 2 pad 3, bn1, ReLU,
//     maxpool 3x3 stride 2 pad 1; layer1..layer4; adaptive average pool; `fc`; shortcut
//     named `downsample.0`, `downsample.1`; convolutions He-normal (fan_out), BN 1 and 0.
//
// Blocks: basic (two 3x3 convs, expansion 1) for 18/34; bottleneck (1x1, 3x3 with the
// stride, 1x1 to 4x planes; expansion 4) for 50, as torchvision's v1.5 and kuangliu's.
// Stage widths 64, 128, 256, 512; block counts 18: 2,2,2,2; 34 and 50: 3,4,6,3.
#pragma once
#include <vector>

#include "core/random.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "models/model.h"

namespace slab {

enum class ResNetStyle { Cifar, ImageNet };

// One residual block, basic or bottleneck; `shortcut` is null for the identity.
class ResNetBlock : public Module {
 public:
  ResNetBlock(int64_t in_planes, int64_t planes, int64_t stride, bool bottleneck, ResNetStyle style,
              Generator& generator);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return bottleneck ? "Bottleneck" : "BasicBlock"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;

  int64_t out_channels() const { return planes * (bottleneck ? 4 : 1); }
  // (conv, bn) pairs of the main branch, in order, as names relative to the block.
  std::vector<std::pair<std::string, std::string>> branch_pairs() const;
  std::string last_batch_norm() const { return bottleneck ? "bn3" : "bn2"; }

  const int64_t planes;
  const bool bottleneck;
  std::string shortcut_name;  // "shortcut" (CIFAR) or "downsample" (ImageNet)
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> shortcut;  // conv 1x1 + BN, or null
};

class ResNet : public Model {
 public:
  // depth: 18, 34 or 50.
  ResNet(int64_t depth, ResNetStyle style, int64_t in_channels, int64_t num_classes, Generator& generator);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "ResNet"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;

  const int64_t depth;
  const ResNetStyle style;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<MaxPool2d> maxpool;  // ImageNet form only
  std::vector<std::shared_ptr<Sequential>> stages;
  std::shared_ptr<Linear> classifier;  // "linear" (CIFAR) or "fc" (ImageNet)
};

}  // namespace slab
