#include "models/resnet.h"

#include "layers/init.h"

namespace slab {

ResNetBlock::ResNetBlock(int64_t in_planes, int64_t planes_, int64_t stride, bool bottleneck_, ResNetStyle style,
                         Generator& generator)
    : planes(planes_), bottleneck(bottleneck_) {
  shortcut_name = style == ResNetStyle::Cifar ? "shortcut" : "downsample";
  if (bottleneck) {
    conv1 =
        register_module("conv1", std::make_shared<Conv2d>(in_planes, planes, 1, generator, conv_options(1, 0, false)));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    conv2 = register_module("conv2",
                            std::make_shared<Conv2d>(planes, planes, 3, generator, conv_options(stride, 1, false)));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
    conv3 =
        register_module("conv3", std::make_shared<Conv2d>(planes, 4 * planes, 1, generator, conv_options(1, 0, false)));
    bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(4 * planes));
  } else {
    conv1 = register_module("conv1",
                            std::make_shared<Conv2d>(in_planes, planes, 3, generator, conv_options(stride, 1, false)));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
    conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, generator, conv_options(1, 1, false)));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  }
  if (stride != 1 || in_planes != out_channels()) {
    auto projection = std::make_shared<Sequential>();
    projection->emplace<Conv2d>(in_planes, out_channels(), 1, generator, conv_options(stride, 0, false));
    projection->emplace<BatchNorm2d>(out_channels());
    shortcut = register_module(shortcut_name, projection);
  }
}

Tensor ResNetBlock::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu(conv1->forward(x));
  if (bottleneck) {
    out = bn2->forward_relu(conv2->forward(out));
    out = bn3->forward(conv3->forward(out));
  } else {
    out = bn2->forward(conv2->forward(out));
  }
  return relu(add(out, shortcut ? shortcut->forward(x) : x));
}

ChannelValue ResNetBlock::declare_channels(ChannelGraphBuilder& graph, ChannelValue x) {
  ChannelValue out = graph.pass(graph.child("bn1", *bn1, graph.child("conv1", *conv1, x)), clamps_constants_at_zero());
  if (bottleneck) {
    out = graph.pass(graph.child("bn2", *bn2, graph.child("conv2", *conv2, out)), clamps_constants_at_zero());
    out = graph.child("bn3", *bn3, graph.child("conv3", *conv3, out));
  } else {
    out = graph.child("bn2", *bn2, graph.child("conv2", *conv2, out));
  }
  const ChannelValue identity = shortcut ? graph.child(shortcut_name, *shortcut, x) : x;
  return graph.pass(graph.add({{out, 0, {}}, {identity, 0, {}}}, graph.channels(out)), clamps_constants_at_zero());
}

std::vector<std::pair<std::string, std::string>> ResNetBlock::branch_pairs() const {
  if (bottleneck) return {{"conv1", "bn1"}, {"conv2", "bn2"}, {"conv3", "bn3"}};
  return {{"conv1", "bn1"}, {"conv2", "bn2"}};
}

namespace {
std::vector<int64_t> block_counts(int64_t depth) {
  switch (depth) {
    case 18:
      return {2, 2, 2, 2};
    case 34:
      return {3, 4, 6, 3};
    case 50:
      return {3, 4, 6, 3};
    default:
      break;
  }
  SLAB_FAIL("ResNet: depth ", depth, " is not one of 18, 34, 50 (ResNet-20/32/44/56/110 are the CIFAR ResNets)");
}
}  // namespace

ResNet::ResNet(int64_t depth_, ResNetStyle style_, int64_t in_channels, int64_t classes, Generator& generator)
    : depth(depth_), style(style_) {
  const std::vector<int64_t> counts = block_counts(depth);
  const bool bottleneck = depth >= 50;
  if (style == ResNetStyle::Cifar) {
    conv1 =
        register_module("conv1", std::make_shared<Conv2d>(in_channels, 64, 3, generator, conv_options(1, 1, false)));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(64));
  } else {
    conv1 =
        register_module("conv1", std::make_shared<Conv2d>(in_channels, 64, 7, generator, conv_options(2, 3, false)));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(64));
    maxpool = register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1));
  }
  int64_t in_planes = 64;
  for (size_t s = 0; s < counts.size(); ++s) {
    const int64_t planes = int64_t{64} << s;
    auto layer = register_module("layer" + std::to_string(s + 1), std::make_shared<Sequential>());
    for (int64_t b = 0; b < counts[s]; ++b) {
      const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      auto block = layer->emplace<ResNetBlock>(in_planes, planes, stride, bottleneck, style, generator);
      in_planes = block->out_channels();
    }
    stages.push_back(layer);
  }
  LinearOptions head;
  head.grouping = PriorGrouping::None;
  classifier = register_module(style == ResNetStyle::Cifar ? "linear" : "fc",
                               std::make_shared<Linear>(in_planes, classes, generator, head));
  if (style == ResNetStyle::ImageNet) he_normal_init(*this, generator);
}

Tensor ResNet::forward(const Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() == 4 && input.size(1) == conv1->in_channels, "ResNet-", depth,
             ": expected images [n, ", conv1->in_channels, ", h, w], got shape ",
             input.defined() ? input.shape() : Shape{});
  SLAB_CHECK(style != ResNetStyle::Cifar || (input.size(2) == 32 && input.size(3) == 32), "ResNet-", depth,
             " (CIFAR form): expected 32x32 images (its head pools 4x4), got shape ", input.shape());
  Tensor out = bn1->forward_relu(conv1->forward(input));
  if (maxpool) out = maxpool->forward(out);
  for (auto& stage : stages) out = stage->forward(out);
  Pool2dOptions four;
  four.kernel = {4, 4};
  four.stride = {4, 4};
  out = style == ResNetStyle::Cifar ? avg_pool2d(out, four) : adaptive_avg_pool2d(out, {1, 1});
  return classifier->forward(flatten(out, 1));
}

ChannelValue ResNet::declare_channels(ChannelGraphBuilder& graph, ChannelValue input) {
  ChannelValue out = graph.pass(graph.child("bn1", *bn1, graph.child("conv1", *conv1, input)), clamps_constants_at_zero());
  if (maxpool) out = graph.child("maxpool", *maxpool, out);
  for (size_t s = 0; s < stages.size(); ++s) out = graph.child("layer" + std::to_string(s + 1), *stages[s], out);
  out = graph.pass(out, keeps_constants());  // the unpadded average pool
  return graph.child(style == ResNetStyle::Cifar ? "linear" : "fc", *classifier, graph.flatten(out));
}

}  // namespace slab
