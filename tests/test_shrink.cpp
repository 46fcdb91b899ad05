// Exact channel removal (layers/shrink.h): on every model family and a depthwise-separable
// block, a masked network and its shrunken copy give the same train-mode loss and
// eval-mode logits (per output max|a - b| <= 1e-5 max|b|, the same argmax per example).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "core/random.h"
#include "layers/layers.h"
#include "models/factory.h"
#include "tests/equal_within.h"

using namespace slab;

namespace {

void set_values(const Tensor& t, const std::vector<double>& values) {
  t.copy_from(from_vector(values, t.shape(), {t.dtype(), t.device()}));
}

// Prunes about 40% of every mixer's filters (a fixed pattern from `seed`), as sghmc-spl's
// masks leave them. prune_bn: the filter's BatchNorm scale and shift are zero too; without
// it the shift stays (0.3) and the running mean is random, so the dead channel is a
// constant that differs between training and evaluation. Every BatchNorm gets random
// running statistics so evaluation is not the identity.
void prune(Module& model, bool prune_bn, uint64_t seed) {
  NoGradGuard no_grad;
  Generator generator(seed);
  const ChannelGraph graph = channel_graph(model);
  for (const ChannelNode& node : graph.nodes) {
    if (node.role == ChannelRole::Normaliser) {
      const int64_t n = node.normaliser.running_mean.numel();
      set_values(node.normaliser.running_mean, mul(rand({n}, generator), 0.2).to_vector());
      set_values(node.normaliser.running_var, add(rand({n}, generator), 0.5).to_vector());
    }
  }
  for (const ChannelNode& node : graph.nodes) {
    if (node.role != ChannelRole::Mixer) continue;
    const Tensor& w = node.mixer.weight;
    const int64_t rows = w.size(0), per_row = w.numel() / rows;
    std::vector<double> values = w.to_vector();
    const std::vector<double> draw = rand({rows}, generator).to_vector();
    const int bn = sole_normaliser_reader(graph, node.output.id);
    for (int64_t o = 0; o < rows; ++o) {
      if (draw[static_cast<size_t>(o)] > 0.4) continue;
      std::fill_n(values.begin() + o * per_row, per_row, 0.0);
      if (bn < 0) continue;
      const NormaliserChannels& n = graph.nodes[static_cast<size_t>(bn)].normaliser;
      n.scale.set({o}, prune_bn ? 0.0 : n.scale.at({o}));
      n.shift.set({o}, prune_bn ? 0.0 : 0.3);
    }
    set_values(w, values);
  }
}

void check_close(const Tensor& shrunk, const Tensor& masked, double tol) {
  CHECK(slab::testing::relative_difference(shrunk, masked) <= tol);
  if (masked.dim() == 2) CHECK(slab::testing::same_argmax(shrunk, masked));
}

using Maker = std::function<std::shared_ptr<Module>()>;

void check_shrink_exact(const Maker& make, const Shape& input, bool prune_bn) {
  auto masked = make(), shrunk = make();
  prune(*masked, prune_bn, 7);
  prune(*shrunk, prune_bn, 7);
  const ShrinkReport report = shrink_dead_channels(*shrunk);
  INFO(report.summary());
  if (prune_bn) CHECK(report.channels_removed > 0);
  CHECK(report.parameters_after <= report.parameters_before);
  Generator generator(11);
  const Tensor x = randn(input, generator);
  NoGradGuard no_grad;
  masked->eval();
  shrunk->eval();
  check_close(shrunk->forward(x), masked->forward(x), 1e-5);
  masked->train();
  shrunk->train();
  const int64_t classes = masked->forward(x).size(1);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < input[0]; ++i) labels.push_back(i % classes);
  const Tensor y = labels_from_vector(labels);
  check_close(cross_entropy(shrunk->forward(x), y), cross_entropy(masked->forward(x), y), 1e-5);
  // A second shrink finds nothing more to remove.
  CHECK(shrink_dead_channels(*shrunk).channels_removed == 0);
}

Maker model(const std::string& name, int64_t in_channels) {
  return [=] { return make_model(name, 10, in_channels, 3); };
}

// A depthwise-separable block: 1x1 expand, 3x3 depthwise (groups = channels), 1x1 project.
std::shared_ptr<Module> depthwise_separable() {
  Generator g(4);
  auto net = std::make_shared<Sequential>();
  net->emplace<Conv2d>(3, 12, 1, g, conv_options(1, 0, false));
  net->emplace<BatchNorm2d>(12);
  net->emplace<ReLU>();
  ConvOptions depthwise = conv_options(1, 1, false);
  depthwise.groups = 12;
  net->emplace<Conv2d>(12, 12, 3, g, depthwise);
  net->emplace<BatchNorm2d>(12);
  net->emplace<ReLU>();
  net->emplace<Conv2d>(12, 8, 1, g, conv_options(1, 0, false));
  net->emplace<BatchNorm2d>(8);
  net->emplace<ReLU>();
  net->emplace<AdaptiveAvgPool2d>(1);
  net->emplace<Flatten>();
  net->emplace<Linear>(8, 10, g);
  return net;
}

}  // namespace

TEST_CASE("shrink: shrunken = masked on every model, prune-bn on and off") {
  for (bool prune_bn : {true, false}) {
    INFO("prune_bn ", prune_bn);
    SUBCASE("mlp") { check_shrink_exact(model("mlp-48-16-12", 3), {4, 3, 4, 4}, prune_bn); }
    SUBCASE("small-cnn") { check_shrink_exact(model("small-cnn-6-8", 1), {4, 1, 28, 28}, prune_bn); }
    SUBCASE("resnet20") { check_shrink_exact(model("resnet20", 3), {4, 3, 16, 16}, prune_bn); }
    SUBCASE("resnet18") { check_shrink_exact(model("resnet18", 3), {2, 3, 32, 32}, prune_bn); }
    SUBCASE("preact-resnet18") { check_shrink_exact(model("preact-resnet18", 3), {2, 3, 32, 32}, prune_bn); }
    SUBCASE("wrn-10-1") { check_shrink_exact(model("wrn-10-1", 3), {2, 3, 32, 32}, prune_bn); }
    SUBCASE("vgg11-bn") { check_shrink_exact(model("vgg11-bn", 3), {2, 3, 32, 32}, prune_bn); }
    SUBCASE("depthwise-separable") { check_shrink_exact(depthwise_separable, {4, 3, 8, 8}, prune_bn); }
  }
}

TEST_CASE("shrink: the depthwise conv keeps one group per channel and the graph ties its channels") {
  auto net = depthwise_separable();
  const ChannelGraph graph = channel_graph(*net);
  REQUIRE(graph.node_named("3") != nullptr);
  CHECK(graph.node_named("3")->role == ChannelRole::GroupedMixer);
  prune(*net, true, 7);
  shrink_dead_channels(*net);
  auto& conv = dynamic_cast<Conv2d&>((*std::dynamic_pointer_cast<Sequential>(net))[3]);
  CHECK(conv.options.groups == conv.in_channels);
  CHECK(conv.in_channels == conv.out_channels);
  CHECK(conv.weight.size(1) == 1);
}

TEST_CASE("channel graph: a module that declares no role is a clear error") {
  struct Opaque : Module {
    Tensor forward(const Tensor& x) override { return x; }
    std::string type_name() const override { return "Opaque"; }
  };
  Sequential net;
  Generator g(1);
  net.emplace<Linear>(4, 4, g);
  net.emplace<Opaque>();
  CHECK_THROWS_WITH_AS(channel_graph(net), doctest::Contains("Opaque at '1' declares no channel role"), Error);
}
