#include "models/preact_resnet.h"

namespace slab {

PreActBlock::PreActBlock(int64_t in_planes, int64_t planes, int64_t stride, Generator& generator) {
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in_planes));
  conv1 = register_module("conv1",
                          std::make_shared<Conv2d>(in_planes, planes, 3, generator, conv_options(stride, 1, false)));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, generator, conv_options(1, 1, false)));
  if (stride != 1 || in_planes != planes) {
    auto projection = std::make_shared<Sequential>();
    projection->emplace<Conv2d>(in_planes, planes, 1, generator, conv_options(stride, 0, false));
    shortcut = register_module("shortcut", projection);
  }
}

Tensor PreActBlock::forward(const Tensor& x) {
  const Tensor activated = bn1->forward_relu(x);
  const Tensor identity = shortcut ? shortcut->forward(activated) : x;
  Tensor out = conv1->forward(activated);
  out = conv2->forward(bn2->forward_relu(out));
  return add(out, identity);
}

ChannelValue PreActBlock::declare_channels(ChannelGraphBuilder& graph, ChannelValue x) {
  const ChannelValue activated = graph.pass(graph.child("bn1", *bn1, x), clamps_constants_at_zero());
  const ChannelValue identity = shortcut ? graph.child("shortcut", *shortcut, activated) : x;
  ChannelValue out = graph.child("conv1", *conv1, activated);
  out = graph.child("conv2", *conv2, graph.pass(graph.child("bn2", *bn2, out), clamps_constants_at_zero()));
  return graph.add({{out, 0, {}}, {identity, 0, {}}}, graph.channels(out));
}

PreActResNet::PreActResNet(int64_t depth_, int64_t in_channels, int64_t classes, Generator& generator) : depth(depth_) {
  SLAB_CHECK(depth == 18 || depth == 34, "PreActResNet: depth ", depth, " is not 18 or 34");
  const std::vector<int64_t> counts = depth == 18 ? std::vector<int64_t>{2, 2, 2, 2} : std::vector<int64_t>{3, 4, 6, 3};
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, 64, 3, generator, conv_options(1, 1, false)));
  int64_t in_planes = 64;
  for (size_t s = 0; s < counts.size(); ++s) {
    const int64_t planes = int64_t{64} << s;
    auto layer = register_module("layer" + std::to_string(s + 1), std::make_shared<Sequential>());
    for (int64_t b = 0; b < counts[s]; ++b) {
      layer->emplace<PreActBlock>(in_planes, planes, (s > 0 && b == 0) ? 2 : 1, generator);
      in_planes = planes;
    }
    stages.push_back(layer);
  }
  bn = register_module("bn", std::make_shared<BatchNorm2d>(512));
  LinearOptions head;
  head.grouping = PriorGrouping::None;
  linear = register_module("linear", std::make_shared<Linear>(512, classes, generator, head));
}

Tensor PreActResNet::forward(const Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() == 4 && input.size(1) == conv1->in_channels && input.size(2) == 32 &&
                 input.size(3) == 32,
             "PreActResNet-", depth, ": expected images [n, ", conv1->in_channels, ", 32, 32], got shape ",
             input.defined() ? input.shape() : Shape{});
  Tensor out = conv1->forward(input);
  for (auto& stage : stages) out = stage->forward(out);
  out = bn->forward_relu(out);
  Pool2dOptions four;
  four.kernel = {4, 4};
  four.stride = {4, 4};
  return linear->forward(flatten(avg_pool2d(out, four), 1));
}

ChannelValue PreActResNet::declare_channels(ChannelGraphBuilder& graph, ChannelValue input) {
  ChannelValue out = graph.child("conv1", *conv1, input);
  for (size_t s = 0; s < stages.size(); ++s) out = graph.child("layer" + std::to_string(s + 1), *stages[s], out);
  out = graph.pass(graph.child("bn", *bn, out), clamps_constants_at_zero());
  out = graph.pass(out, keeps_constants());  // the unpadded 4x4 average pool
  return graph.child("linear", *linear, graph.flatten(out));
}

}  // namespace slab
