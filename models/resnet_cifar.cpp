#include "models/resnet_cifar.h"

#include <algorithm>

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

namespace {

// The shrunken option-A shortcut: input channel p goes to output channel targets[p]
// (ascending); every other output channel is zero.
Tensor scatter_channels(const Tensor& x, const std::vector<int64_t>& targets, int64_t channels) {
  std::vector<Tensor> pieces;
  auto zero_block = [&](int64_t count) {
    Shape shape = x.shape();
    shape[1] = count;
    pieces.push_back(zeros(shape, {x.dtype(), x.device()}));
  };
  int64_t next = 0;  // the next output channel to fill
  size_t p = 0;
  while (p < targets.size()) {
    if (targets[p] > next) zero_block(targets[p] - next);
    size_t run = 1;  // consecutive inputs that land on consecutive outputs
    while (p + run < targets.size() && targets[p + run] == targets[p] + static_cast<int64_t>(run)) ++run;
    pieces.push_back(narrow(x, 1, static_cast<int64_t>(p), static_cast<int64_t>(run)));
    next = targets[p] + static_cast<int64_t>(run);
    p += run;
  }
  if (channels > next) zero_block(channels - next);
  return pieces.size() == 1 ? pieces[0] : cat(pieces, 1);
}

}  // namespace

ChannelValue CifarBasicBlock::declare_channels(ChannelGraphBuilder& graph, ChannelValue x) {
  ChannelValue out = graph.pass(graph.child("bn1", *bn1, graph.child("conv1", *conv1, x)), clamps_constants_at_zero());
  out = graph.child("bn2", *bn2, graph.child("conv2", *conv2, out));
  // The option-A subsampling is a 1x1 pooling window: it keeps constants.
  const ChannelValue shortcut = padded_shortcut() ? graph.pass(x, keeps_constants()) : x;
  ChannelTerm placed{shortcut, padding_, shortcut_targets_};
  if (shortcut_channels_ > 0) placed.offset = 0;
  const ChannelValue sum = graph.add({{out, 0, {}}, placed}, graph.channels(out));
  return graph.pass(sum, clamps_constants_at_zero());
}

void CifarBasicBlock::keep_channels(const ChannelNode& node, const KeptChannels& kept) {
  if (node.role != ChannelRole::ResidualAdd || !padded_shortcut()) return;
  // kept.inputs[1]: the shortcut's kept input channels, c -> output node.inputs[1].target(c) before.
  std::vector<int64_t> targets;
  for (int64_t c : kept.inputs[1]) {
    const int64_t old_out = node.inputs[1].target(c);
    const auto at = std::lower_bound(kept.output.begin(), kept.output.end(), old_out);
    SLAB_CHECK(at != kept.output.end() && *at == old_out, "CifarBasicBlock at '", node.name,
               "': a kept shortcut channel lands on a removed output channel");
    targets.push_back(at - kept.output.begin());
  }
  shortcut_targets_ = std::move(targets);
  shortcut_channels_ = static_cast<int64_t>(kept.output.size());
}

Tensor CifarBasicBlock::forward(const Tensor& x) {
  Tensor out = bn1->forward_relu(conv1->forward(x));
  out = bn2->forward(conv2->forward(out));
  Tensor shortcut = x;
  if (padded_shortcut() && shortcut_channels_ > 0) {
    Pool2dOptions every_other;
    every_other.kernel = {1, 1};
    every_other.stride = {stride_, stride_};
    shortcut = scatter_channels(avg_pool2d(x, every_other), shortcut_targets_, shortcut_channels_);
  } else if (padded_shortcut()) {
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
  Tensor out = bn1->forward_relu(conv1->forward(input));
  for (auto& stage : stages) out = stage->forward(out);
  out = adaptive_avg_pool2d(out, {1, 1});  // avg_pool2d over the whole map, as the port
  return linear->forward(flatten(out, 1));
}

ChannelValue CifarResNet::declare_channels(ChannelGraphBuilder& graph, ChannelValue input) {
  ChannelValue out = graph.pass(graph.child("bn1", *bn1, graph.child("conv1", *conv1, input)), clamps_constants_at_zero());
  for (size_t s = 0; s < stages.size(); ++s) out = graph.child("layer" + std::to_string(s + 1), *stages[s], out);
  out = graph.pass(out, keeps_constants());  // the global average pool
  return graph.child("linear", *linear, graph.flatten(out));
}

}  // namespace slab
