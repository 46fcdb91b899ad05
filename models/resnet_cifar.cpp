#include "models/resnet_cifar.h"

#include "layers/init.h"

namespace slab {

CifarBasicBlock::CifarBasicBlock(int64_t in_planes, int64_t planes, int64_t stride, Generator& generator)
    : stride_(stride), padding_(0) {
  conv1 = register_module("conv1",
                          std::make_shared<Conv2d>(in_planes, planes, 3, generator, conv_options(stride, 1, false)));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, generator, conv_options(1, 1, false)));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  if (stride != 1 || in_planes != planes) {
    SLAB_CHECK(planes - in_planes == 2 * (planes / 4), "CifarBasicBlock: option-A shortcut from ", in_planes, " to ",
               planes, " channels needs planes = 2 in_planes");
    padding_ = planes / 4;
  }
}

Tensor CifarBasicBlock::forward(const Tensor& x) {
  Tensor out = relu(bn1->forward(conv1->forward(x)));
  out = bn2->forward(conv2->forward(out));
  Tensor shortcut = x;
  if (padded_shortcut()) {
    // x[:, :, ::s, ::s] is a 1x1 pooling window with stride s; then planes/4 zero channels
    // on each side, so input channel c becomes output channel c + planes/4.
    Pool2dOptions every_other;
    every_other.kernel = {1, 1};
    every_other.stride = {stride_, stride_};
    const Tensor subsampled = avg_pool2d(x, every_other);
    Shape pad_shape = subsampled.shape();
    pad_shape[1] = padding_;
    const Tensor pad = zeros(pad_shape, {subsampled.dtype(), subsampled.device()});
    shortcut = cat({pad, subsampled, pad}, 1);
  }
  return relu(add(out, shortcut));
}

CifarResNet::CifarResNet(int64_t depth_, int64_t in_channels, int64_t classes, Generator& generator) : depth(depth_) {
  SLAB_CHECK(depth >= 8 && (depth - 2) % 6 == 0, "CifarResNet: depth ", depth,
             " is not of the form 6n + 2 (20, 32, 44, 56, 110)");
  const int64_t blocks = (depth - 2) / 6;
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, 16, 3, generator, conv_options(1, 1, false)));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(16));
  int64_t in_planes = 16;
  const int64_t widths[3] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage) {
    auto layer = register_module("layer" + std::to_string(stage + 1), std::make_shared<Sequential>());
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      layer->emplace<CifarBasicBlock>(in_planes, widths[stage], stride, generator);
      in_planes = widths[stage];
    }
    stages.push_back(layer);
  }
  LinearOptions head;
  head.grouping = PriorGrouping::None;
  linear = register_module("linear", std::make_shared<Linear>(64, classes, generator, head));
  // The port's _weights_init: kaiming_normal_ with its defaults (fan_in, gain sqrt 2).
  for (auto& [name, module] : named_modules()) {
    if (auto* conv = dynamic_cast<Conv2d*>(module)) kaiming_normal_(conv->weight, generator);
  }
  kaiming_normal_(linear->weight, generator);
}

Tensor CifarResNet::forward(const Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() == 4 && input.size(1) == conv1->in_channels, "ResNet-", depth,
             ": expected images [n, ", conv1->in_channels, ", h, w], got shape ",
             input.defined() ? input.shape() : Shape{});
  Tensor out = relu(bn1->forward(conv1->forward(input)));
  for (auto& stage : stages) out = stage->forward(out);
  out = adaptive_avg_pool2d(out, {1, 1});  // avg_pool2d over the whole map, as the port
  return linear->forward(flatten(out, 1));
}

ChannelCouplings CifarResNet::channel_couplings() {
  ChannelCouplings couplings;
  couplings.conv_batch_norm.push_back({"conv1", "bn1"});
  ResidualStreamBuilder streams;
  streams.begin(16);
  streams.add("bn1");
  for (size_t s = 0; s < stages.size(); ++s) {
    const std::string stage_name = "layer" + std::to_string(s + 1);
    for (size_t b = 0; b < stages[s]->size(); ++b) {
      const std::string block = stage_name + "." + std::to_string(b);
      auto& unit = dynamic_cast<CifarBasicBlock&>((*stages[s])[b]);
      couplings.conv_batch_norm.push_back({block + ".conv1", block + ".bn1"});
      couplings.conv_batch_norm.push_back({block + ".conv2", block + ".bn2"});
      couplings.readers.push_back({block + ".conv1", block + ".conv2", false});
      streams.read_by(block + ".conv1");  // the block reads the stream so far
      if (unit.padded_shortcut()) streams.begin_padded(unit.bn2->num_features, unit.shortcut_padding());
      streams.add(block + ".bn2");
    }
  }
  streams.read_by("linear");  // through the global average pool
  couplings.residual_streams = streams.finish();
  couplings.readers.insert(couplings.readers.end(), streams.readers().begin(), streams.readers().end());
  return couplings;
}

}  // namespace slab
