// Layers: parameters, names and prior groupings, PyTorch's initialisation, train/eval
// behaviour, errors, and a PyTorch golden run of a Sequential that uses every layer type.
#include <doctest/doctest.h>

#include <cmath>

#include "core/autograd.h"
#include "core/safetensors.h"
#include "golden_compare.h"
#include "gradcheck.h"
#include "layers/layers.h"
#include "tests/golden/models/golden_values.h"

using namespace slab;
using testing::check_close;
using testing::golden_model_path;

namespace {

struct Moments {
  double mean = 0, stddev = 0, max_abs = 0;
};
Moments moments(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) {
    m.stddev += (x - m.mean) * (x - m.mean);
    m.max_abs = std::max(m.max_abs, std::abs(x));
  }
  m.stddev = std::sqrt(m.stddev / static_cast<double>(v.size()));
  return m;
}

}  // namespace

TEST_CASE("Linear: shapes, names, prior grouping and PyTorch's default initialisation") {
  Generator generator(7);
  Linear layer(512, 256, generator);
  const auto params = layer.named_parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[0].tensor.shape() == Shape{256, 512});
  CHECK(params[0].grouping == PriorGrouping::LinearColumns);
  CHECK(params[1].name == "bias");
  CHECK(params[1].grouping == PriorGrouping::None);
  // kaiming_uniform_(a = sqrt 5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), std = bound / sqrt 3.
  const double bound = 1.0 / std::sqrt(512.0);
  const Moments w = moments(layer.weight);
  CHECK(w.max_abs <= bound);
  CHECK(w.max_abs > 0.99 * bound);
  CHECK(w.stddev == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.01));
  CHECK(std::abs(w.mean) < 0.01 * bound);
  CHECK(moments(layer.bias).max_abs <= bound);

  LinearOptions head;
  head.grouping = PriorGrouping::None;
  head.bias = false;
  Linear classifier(4, 3, generator, head);
  REQUIRE(classifier.named_parameters().size() == 1);
  CHECK(classifier.named_parameters()[0].grouping == PriorGrouping::None);
  CHECK_FALSE(classifier.bias.defined());
}

TEST_CASE("Linear: forward is x W^T + b, and a wrong width is a clear error") {
  Generator generator(1);
  Linear layer(3, 2, generator);
  Tensor x = from_vector({1, 2, 3, -1, 0, 4}, {2, 3});
  Tensor y = layer(x);
  REQUIRE(y.shape() == Shape{2, 2});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t o = 0; o < 2; ++o) {
      double expected = layer.bias.at({o});
      for (int64_t i = 0; i < 3; ++i) expected += x.at({n, i}) * layer.weight.at({o, i});
      CHECK(y.at({n, o}) == doctest::Approx(expected).epsilon(1e-6));
    }
  CHECK_THROWS_WITH_AS(layer(zeros({2, 4})), doctest::Contains("last dimension is 3, got shape [2, 4]"), Error);
  CHECK_THROWS_WITH_AS(Linear(0, 2, generator), doctest::Contains("in_features 0"), Error);
  LinearOptions conv_grouping;
  conv_grouping.grouping = PriorGrouping::ConvKernels;
  CHECK_THROWS_WITH_AS(Linear(2, 2, generator, conv_grouping), doctest::Contains("convolution kernels"), Error);
}

TEST_CASE("Linear as a first layer: no input gradient is computed, the others are exact") {
  // The data entering a first layer needs no gradient: backward must not spend a GEMM on
  // dX. The node's closure is called directly, because the engine drops an unneeded
  // gradient anyway and could not tell the difference.
  Generator generator(3);
  Linear layer(4, 3, generator);
  const Tensor x = from_vector({1, -2, 0.5, 3, 0, 1, -1, 2}, {2, 4});
  const Tensor y = layer(x);
  REQUIRE(y.grad_fn() != nullptr);
  const Tensor upstream = from_vector({1, 0, -1, 2, 1, 0.5}, {2, 3});
  const std::vector<Tensor> grads = y.grad_fn()->backward(upstream);
  REQUIRE(grads.size() == 3);
  CHECK_FALSE(grads[0].defined());
  REQUIRE(grads[1].defined());
  REQUIRE(grads[2].defined());
  for (int64_t o = 0; o < 3; ++o) {
    double db = 0;
    for (int64_t n = 0; n < 2; ++n) db += upstream.at({n, o});
    CHECK(grads[2].at({o}) == doctest::Approx(db));
    for (int64_t i = 0; i < 4; ++i) {
      double dw = 0;  // dW = dY^T X
      for (int64_t n = 0; n < 2; ++n) dw += upstream.at({n, o}) * x.at({n, i});
      CHECK(grads[1].at({o, i}) == doctest::Approx(dw));
    }
  }
  // Float64 gradient checks with a fixed (no-gradient) input, and with a frozen weight.
  const Tensor data = from_vector({1, -2, 0.5, 3, 0, 1}, {2, 3}).to(DType::f64);
  const Tensor frozen = from_vector({0.5, -1, 2, 1, 0, -0.5}, {2, 3}).to(DType::f64);
  testing::check_gradients([data](const std::vector<Tensor>& in) { return linear(data, in[0], in[1]); },
                           {from_vector({0.1, 0.2, -0.3, 0.4, -0.5, 0.6}, {2, 3}).to(DType::f64),
                            from_vector({0.5, -1}, {2}).to(DType::f64)});
  testing::check_gradients([frozen](const std::vector<Tensor>& in) { return linear(in[0], frozen); },
                           {from_vector({1, -2, 0.5, 3, 0, 1}, {2, 3}).to(DType::f64)});
}

TEST_CASE("Conv2d: weight shape with groups, grouping, initialisation bounds, errors") {
  Generator generator(3);
  ConvOptions options = conv_options(2, 1, true);
  options.groups = 2;
  Conv2d conv(8, 64, 3, generator, options);
  CHECK(conv.weight.shape() == Shape{64, 4, 3, 3});
  CHECK(conv.bias.shape() == Shape{64});
  const auto params = conv.named_parameters();
  CHECK(params[0].grouping == PriorGrouping::ConvKernels);
  CHECK(params[1].grouping == PriorGrouping::None);
  const double bound = 1.0 / std::sqrt(4.0 * 9.0);  // fan_in = in / groups * kh * kw
  const Moments w = moments(conv.weight);
  CHECK(w.max_abs <= bound);
  CHECK(w.stddev == doctest::Approx(bound / std::sqrt(3.0)).epsilon(0.05));
  CHECK(moments(conv.bias).max_abs <= bound);

  Tensor y = conv(zeros({2, 8, 9, 9}));
  CHECK(y.shape() == Shape{2, 64, 5, 5});
  CHECK_THROWS_WITH_AS(conv(zeros({2, 3, 9, 9})),
                       doctest::Contains("expected an input [n, 8, h, w], got shape [2, 3, 9, 9]"), Error);
  ConvOptions bad;
  bad.groups = 3;
  CHECK_THROWS_WITH_AS(Conv2d(8, 64, 3, generator, bad), doctest::Contains("groups = 3 must divide"), Error);
  CHECK_THROWS_WITH_AS(Conv2d(8, 64, 0, generator), doctest::Contains("kernel size must be positive"), Error);
}

// GCC 12.2 with -march=native miscompiled Conv2d's by-value options when built inside
// register_module(make_shared<Conv2d>(...)) with kernel 1 and stride 1: the padding came
// out as 1. The bottleneck block of ResNet-50 is the pattern; the options are now taken by
// reference. This checks the stored options in the same construction context.
namespace {
struct BottleneckLike : Module {
  BottleneckLike(int64_t in_planes, int64_t planes_, Generator& generator) : planes(planes_) {
    conv1 =
        register_module("conv1", std::make_shared<Conv2d>(in_planes, planes, 1, generator, conv_options(1, 0, false)));
    conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, generator, conv_options(1, 1, false)));
    conv3 =
        register_module("conv3", std::make_shared<Conv2d>(planes, 4 * planes, 1, generator, conv_options(1, 0, false)));
  }
  Tensor forward(const Tensor& x) override { return conv3->forward(conv2->forward(conv1->forward(x))); }
  std::string type_name() const override { return "BottleneckLike"; }
  const int64_t planes;
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
};
}  // namespace

TEST_CASE("Conv2d keeps the options it was built with (GCC 12 -march=native regression)") {
  Generator generator(0);
  BottleneckLike block(64, 64, generator);
  for (Conv2d* conv : {block.conv1.get(), block.conv3.get()}) {
    CHECK(conv->options.padding == std::array<int64_t, 2>{0, 0});
    CHECK(conv->options.stride == std::array<int64_t, 2>{1, 1});
    CHECK(conv->options.dilation == std::array<int64_t, 2>{1, 1});
  }
  CHECK(block.conv2->options.padding == std::array<int64_t, 2>{1, 1});
  CHECK(block(zeros({1, 64, 8, 8})).shape() == Shape{1, 256, 8, 8});
}

TEST_CASE("initialisers: fans, kaiming_normal_ (fan_out, relu) and he_normal_init") {
  CHECK(compute_fans({64, 16, 3, 3}).fan_in == 144);
  CHECK(compute_fans({64, 16, 3, 3}).fan_out == 576);
  CHECK(compute_fans({10, 20}).fan_in == 20);
  CHECK_THROWS_WITH_AS(compute_fans({5}), doctest::Contains("at least 2 dimensions"), Error);
  CHECK(leaky_relu_gain(0.0) == doctest::Approx(std::sqrt(2.0)));
  CHECK(leaky_relu_gain(std::sqrt(5.0)) == doctest::Approx(std::sqrt(1.0 / 3.0)));

  Generator generator(11);
  Tensor w = Tensor::empty({128, 64, 3, 3});
  kaiming_normal_(w, generator, 0.0, FanMode::FanOut);
  CHECK(moments(w).stddev == doctest::Approx(std::sqrt(2.0 / (128 * 9))).epsilon(0.01));
  kaiming_normal_(w, generator, 0.0, FanMode::FanIn);
  CHECK(moments(w).stddev == doctest::Approx(std::sqrt(2.0 / (64 * 9))).epsilon(0.01));
  kaiming_uniform_(w, generator, 0.0, FanMode::FanIn);
  CHECK(moments(w).max_abs <= std::sqrt(6.0 / (64 * 9)));

  Sequential net;
  auto conv = net.emplace<Conv2d>(32, 96, 3, generator);
  auto norm = net.emplace<BatchNorm2d>(96);
  norm->weight.fill(3.0);
  norm->bias.fill(2.0);
  he_normal_init(net, generator);
  CHECK(moments(conv->weight).stddev == doctest::Approx(std::sqrt(2.0 / (96 * 9))).epsilon(0.02));
  CHECK(moments(norm->weight).mean == 1.0);
  CHECK(moments(norm->bias).max_abs == 0.0);
}

TEST_CASE("BatchNorm: PyTorch's state dict, running statistics in training only, num_batches_tracked") {
  BatchNorm2d norm(3);
  const NamedTensors state = norm.state_dict();
  REQUIRE(state.size() == 5);
  CHECK(state[0].first == "weight");
  CHECK(state[1].first == "bias");
  CHECK(state[2].first == "running_mean");
  CHECK(state[3].first == "running_var");
  CHECK(state[4].first == "num_batches_tracked");
  CHECK(state[4].second.dtype() == DType::i64);
  CHECK(state[4].second.shape() == Shape{});
  for (const NamedParameter& p : norm.named_parameters()) CHECK(p.grouping == PriorGrouping::None);

  Generator generator(5);
  Tensor x = randn({4, 3, 5, 5}, generator);
  norm(x);
  norm(x);
  CHECK(norm.num_batches_tracked.data<int64_t>()[0] == 2);
  const std::vector<double> mean_after_training = norm.running_mean.to_vector();
  CHECK(mean_after_training != std::vector<double>(3, 0.0));
  norm.eval();
  norm(x);
  CHECK(norm.num_batches_tracked.data<int64_t>()[0] == 2);
  CHECK(norm.running_mean.to_vector() == mean_after_training);

  CHECK_THROWS_WITH_AS(norm(zeros({4, 3})), doctest::Contains("BatchNorm2d(3): expected an input [n, c, h, w]"), Error);
  CHECK_THROWS_WITH_AS(norm(zeros({4, 2, 5, 5})), doctest::Contains("has 2 channels, expected 3"), Error);
  BatchNorm1d sequence_norm(2);
  CHECK(sequence_norm(randn({3, 2, 4}, generator)).shape() == Shape{3, 2, 4});
  CHECK_THROWS_WITH_AS(sequence_norm(zeros({3, 2, 4, 4})), doctest::Contains("BatchNorm1d(2)"), Error);

  BatchNormOptions no_affine;
  no_affine.affine = false;
  BatchNorm1d plain(4, no_affine);
  CHECK(plain.named_parameters().empty());
  CHECK(plain.state_dict().size() == 3);
}

TEST_CASE("BatchNorm1d on [n, c, l] equals BatchNorm on the [n, c, l, 1] image") {
  Generator generator(9);
  Tensor x = randn({4, 3, 6}, generator);
  BatchNorm1d a(3);
  BatchNorm2d b(3);
  const Tensor ya = a(x);
  const Tensor yb = b(x.reshape({4, 3, 6, 1}));
  CHECK(ya.to_vector() == yb.to_vector());
  CHECK(a.running_var.to_vector() == b.running_var.to_vector());
}

TEST_CASE("pooling, flatten, identity and ReLU layers: shapes and errors") {
  Tensor x = arange(2 * 3 * 6 * 6).reshape({2, 3, 6, 6});
  CHECK(MaxPool2d(2)(x).shape() == Shape{2, 3, 3, 3});
  CHECK(MaxPool2d(3, 2, 1)(x).shape() == Shape{2, 3, 3, 3});
  CHECK(AvgPool2d(2, 1)(x).shape() == Shape{2, 3, 5, 5});
  CHECK(AdaptiveAvgPool2d(1)(x).shape() == Shape{2, 3, 1, 1});
  CHECK(AdaptiveAvgPool2d({2, 3})(x).shape() == Shape{2, 3, 2, 3});
  CHECK(MaxPool2d(2)(x).at({0, 0, 0, 0}) == 7.0);  // max of 0, 1, 6, 7
  CHECK(Flatten()(x).shape() == Shape{2, 108});
  CHECK(Flatten(2)(x).shape() == Shape{2, 3, 36});
  CHECK(Identity()(x).same(x));
  CHECK(ReLU()(from_vector({-1, 2}, {2})).to_vector() == std::vector<double>{0, 2});
  CHECK_THROWS_WITH_AS(MaxPool2d(2)(zeros({3, 6, 6})), doctest::Contains("MaxPool2d: expected an input [n, c, h, w]"),
                       Error);
  CHECK_THROWS_WITH_AS(MaxPool2d(2, 2, 2), doctest::Contains("padding 2 must lie in [0, kernel / 2]"), Error);
  CHECK_THROWS_WITH_AS(AdaptiveAvgPool2d(0), doctest::Contains("output size must be positive"), Error);
}

TEST_CASE("Dropout: its own seeded generator, inverted scaling, identity in eval") {
  Tensor x = ones({100, 100});
  Dropout a(0.25, 42), b(0.25, 42), c(0.25, 43);
  const Tensor ya = a(x), yb = b(x), yc = c(x);
  CHECK(ya.to_vector() == yb.to_vector());
  CHECK(ya.to_vector() != yc.to_vector());
  int64_t zeros_seen = 0;
  for (double v : ya.to_vector()) {
    if (v == 0)
      ++zeros_seen;
    else
      CHECK(v == doctest::Approx(1.0 / 0.75));
  }
  CHECK(zeros_seen == doctest::Approx(2500).epsilon(0.1));
  CHECK(a.generator().state().next_block > 0);
  const Tensor again = a(x);
  CHECK(again.to_vector() != ya.to_vector());  // the generator advanced
  a.eval();
  CHECK(a(x).to_vector() == x.to_vector());
  CHECK(a.named_parameters().empty());
  CHECK_THROWS_WITH_AS(Dropout(1.0), doctest::Contains("outside [0, 1)"), Error);
}

TEST_CASE("Sequential: children named by position, nested names, train/eval reaches children") {
  Generator generator(2);
  Sequential outer;
  auto inner = std::make_shared<Sequential>();
  inner->emplace<Linear>(4, 3, generator);
  inner->emplace<ReLU>();
  outer.add(inner).emplace<Linear>(3, 2, generator);
  outer.emplace<BatchNorm1d>(2);
  std::vector<std::string> keys;
  for (const auto& [name, tensor] : outer.state_dict()) keys.push_back(name);
  CHECK(keys == std::vector<std::string>{"0.0.weight", "0.0.bias", "1.weight", "1.bias", "2.weight", "2.bias",
                                         "2.running_mean", "2.running_var", "2.num_batches_tracked"});
  CHECK(outer.size() == 3);
  CHECK(outer[1].type_name() == "Linear");
  CHECK(outer(zeros({5, 4})).shape() == Shape{5, 2});
  outer.eval();
  CHECK_FALSE(inner->at(0)->is_training());
  CHECK_THROWS_WITH_AS(outer.at(3), doctest::Contains("index 3 out of range for 3 children"), Error);
  CHECK_THROWS_WITH_AS(outer.add(nullptr), doctest::Contains("null module"), Error);
}

// The Sequential of make_golden_models.py's layers_step(): every layer type with
// non-default options, against PyTorch's output, gradients and running statistics.
TEST_CASE("golden: a Sequential of every layer type matches PyTorch (train and eval)") {
  Generator generator(0);
  Sequential seq;
  ConvOptions grouped = conv_options(2, 1, true);
  grouped.groups = 2;
  seq.emplace<Conv2d>(4, 6, 3, generator, grouped);
  seq.emplace<BatchNorm2d>(6);
  seq.emplace<ReLU>();
  seq.emplace<AvgPool2d>(2, 1);
  ConvOptions dilated = conv_options(1, 2, true);
  dilated.dilation = {2, 2};
  seq.emplace<Conv2d>(6, 8, 3, generator, dilated);
  seq.emplace<MaxPool2d>(2);
  seq.emplace<AdaptiveAvgPool2d>(std::array<int64_t, 2>{2, 3});
  seq.emplace<Flatten>();
  seq.emplace<Linear>(48, 5, generator);
  seq.emplace<BatchNorm1d>(5);
  seq.load_state_dict(golden::state(seq));

  const SafetensorsContents expected = load_safetensors(golden_model_path("layers.safetensors"));
  Tensor x = golden::values("input", {3, 4, 13, 13});
  x.set_requires_grad(true);
  Tensor y = seq(x);
  check_close(y, expected.at("output"), 1e-4, 1e-5, "output");
  sum(mul(y, golden::values("upstream", y.shape()))).backward();
  check_close(x.grad(), expected.at("grad.input"), 1e-4, 1e-5, "input gradient");
  // Gradients are O(1); 8.bias feeds a training-mode BatchNorm1d, so its exact gradient is
  // 0 and both frameworks return float32 rounding noise of about 1e-5: hence atol 5e-5.
  for (const NamedParameter& p : seq.named_parameters())
    check_close(p.tensor.grad(), expected.at("grad." + p.name), 1e-4, 5e-5, "gradient of " + p.name);
  for (const auto& [name, buffer] : seq.named_buffers()) {
    if (buffer.dtype() == DType::i64)
      CHECK(buffer.data<int64_t>()[0] == expected.at("after." + name).data<int64_t>()[0]);
    else
      check_close(buffer, expected.at("after." + name), 1e-5, 1e-6, name);
  }
  seq.eval();
  NoGradGuard no_grad;
  check_close(seq(x), expected.at("eval_output"), 1e-4, 1e-5, "eval output");
}
