// Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016), CIFAR form, with the names of the
// common PyTorch port (xternalz/WideResNet-pytorch):
//
//   conv1 3x3 16; block1, block2 (stride 2), block3 (stride 2) of n = (d - 4) / 6
//   pre-activation blocks of widths 16k, 32k, 64k; bn1, ReLU; avg_pool2d(8) (32x32
//   images); fc.
//   block (in -> out): a = relu(bn1(x));
//     out = conv2(dropout(relu(bn2(conv1(a))))) + (in == out ? x : convShortcut(a))
//
// Keys: conv1, block1.layer.0.bn1, block1.layer.0.conv1, block1.layer.0.bn2,
// block1.layer.0.conv2, block1.layer.0.convShortcut, bn1, fc. Convolutions have no bias.
// Initialisation as that port: convs He-normal (fan_out), BN 1 and 0, fc bias 0.
// WRN-28-10 with 10 classes has 36,479,194 parameters.
#pragma once
#include <vector>

#include "core/random.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/sequential.h"
#include "models/model.h"

namespace slab {

class WideBasicBlock : public Module {
 public:
  WideBasicBlock(int64_t in_planes, int64_t out_planes, int64_t stride, double dropout_rate, uint64_t dropout_seed,
                 Generator& generator);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "WideBasicBlock"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;

  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<Conv2d> shortcut;  // "convShortcut", null when in == out
  std::shared_ptr<Dropout> dropout;  // null when the rate is 0
};

class WideResNet : public Model {
 public:
  WideResNet(int64_t depth, int64_t widen_factor, int64_t in_channels, int64_t num_classes, Generator& generator,
             double dropout_rate = 0.0);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "WideResNet"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;

  const int64_t depth;
  const int64_t widen_factor;
  std::shared_ptr<Conv2d> conv1;
  std::vector<std::shared_ptr<Sequential>> stages;  // block1.layer, block2.layer, block3.layer
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<Linear> fc;
};

}  // namespace slab
