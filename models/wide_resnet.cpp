#include "models/wide_resnet.h"

#include "layers/init.h"

namespace slab {

namespace {
// The port nests each group's Sequential as `blockN.layer`.
class NetworkBlock : public Module {
 public:
  explicit NetworkBlock(std::shared_ptr<Sequential> layer_) : layer(register_module("layer", std::move(layer_))) {}
  Tensor forward(const Tensor& input) override { return layer->forward(input); }
  std::string type_name() const override { return "NetworkBlock"; }
  std::shared_ptr<Sequential> layer;
};
}  // namespace

WideBasicBlock::WideBasicBlock(int64_t in_planes, int64_t out_planes, int64_t stride, double dropout_rate,
                               uint64_t dropout_seed, Generator& generator) {
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in_planes));
  conv1 = register_module(
      "conv1", std::make_shared<Conv2d>(in_planes, out_planes, 3, generator, conv_options(stride, 1, false)));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out_planes));
  conv2 = register_module("conv2",
                          std::make_shared<Conv2d>(out_planes, out_planes, 3, generator, conv_options(1, 1, false)));
  if (in_planes != out_planes)
    shortcut = register_module(
        "convShortcut", std::make_shared<Conv2d>(in_planes, out_planes, 1, generator, conv_options(stride, 0, false)));
  if (dropout_rate > 0) dropout = register_module("dropout", std::make_shared<Dropout>(dropout_rate, dropout_seed));
}

Tensor WideBasicBlock::forward(const Tensor& x) {
  const Tensor activated = bn1->forward_relu(x);
  Tensor out = bn2->forward_relu(conv1->forward(activated));
  if (dropout) out = dropout->forward(out);
  out = conv2->forward(out);
  return add(shortcut ? shortcut->forward(activated) : x, out);
}

ChannelValue WideBasicBlock::declare_channels(ChannelGraphBuilder& graph, ChannelValue x) {
  const ChannelValue activated = graph.pass(graph.child("bn1", *bn1, x), clamps_constants_at_zero());
  ChannelValue out = graph.pass(graph.child("bn2", *bn2, graph.child("conv1", *conv1, activated)), clamps_constants_at_zero());
  if (dropout) out = graph.child("dropout", *dropout, out);
  out = graph.child("conv2", *conv2, out);
  const ChannelValue identity = shortcut ? graph.child("convShortcut", *shortcut, activated) : x;
  return graph.add({{identity, 0, {}}, {out, 0, {}}}, graph.channels(out));
}

WideResNet::WideResNet(int64_t depth_, int64_t widen, int64_t in_channels, int64_t classes, Generator& generator,
                       double dropout_rate)
    : depth(depth_), widen_factor(widen) {
  SLAB_CHECK(depth >= 10 && (depth - 4) % 6 == 0, "WideResNet: depth ", depth, " is not of the form 6n + 4 (e.g. 28)");
  SLAB_CHECK(widen >= 1, "WideResNet: widen factor must be at least 1, got ", widen);
  const int64_t blocks = (depth - 4) / 6;
  const int64_t widths[4] = {16, 16 * widen, 32 * widen, 64 * widen};
  conv1 = register_module("conv1",
                          std::make_shared<Conv2d>(in_channels, widths[0], 3, generator, conv_options(1, 1, false)));
  int64_t in_planes = widths[0];
  uint64_t dropout_seed = generator.seed() ^ 0x5744524eull;  // each Dropout gets its own Philox stream below
  for (int s = 0; s < 3; ++s) {
    auto layer = std::make_shared<Sequential>();
    for (int64_t b = 0; b < blocks; ++b) {
      layer->emplace<WideBasicBlock>(in_planes, widths[s + 1], (s > 0 && b == 0) ? 2 : 1, dropout_rate, dropout_seed++,
                                     generator);
      in_planes = widths[s + 1];
    }
    register_module("block" + std::to_string(s + 1), std::make_shared<NetworkBlock>(layer));
    stages.push_back(layer);
  }
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(in_planes));
  LinearOptions head;
  head.grouping = PriorGrouping::None;
  fc = register_module("fc", std::make_shared<Linear>(in_planes, classes, generator, head));
  he_normal_init(*this, generator);
  fc->bias.fill(0.0);
}

Tensor WideResNet::forward(const Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() == 4 && input.size(1) == conv1->in_channels && input.size(2) == 32 &&
                 input.size(3) == 32,
             "WRN-", depth, "-", widen_factor, ": expected images [n, ", conv1->in_channels, ", 32, 32], got shape ",
             input.defined() ? input.shape() : Shape{});
  Tensor out = conv1->forward(input);
  for (auto& stage : stages) out = stage->forward(out);
  out = bn1->forward_relu(out);
  Pool2dOptions eight;
  eight.kernel = {8, 8};
  eight.stride = {8, 8};
  return fc->forward(flatten(avg_pool2d(out, eight), 1));
}

ChannelValue WideResNet::declare_channels(ChannelGraphBuilder& graph, ChannelValue input) {
  ChannelValue out = graph.child("conv1", *conv1, input);
  for (size_t s = 0; s < stages.size(); ++s) {
    // block<s>.layer is the stage (the port's NetworkBlock wrapper).
    out = graph.child("block" + std::to_string(s + 1) + ".layer", *stages[s], out);
  }
  out = graph.pass(graph.child("bn1", *bn1, out), clamps_constants_at_zero());
  out = graph.pass(out, keeps_constants());  // the unpadded 8x8 average pool
  return graph.child("fc", *fc, graph.flatten(out));
}

}  // namespace slab
