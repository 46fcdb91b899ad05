// The example's tests: a float64 gradient check of channel_scaled_tanh (slab's public
// tests/gradcheck.h), the layer's names and grouping, and the model through the registry.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>

#include "channel_scaled_tanh.h"
#include "core/random.h"
#include "bayes/sparsity.h"
#include "models/factory.h"
#include "scaled_tanh.h"
#include "tanh_cnn.h"
#include "tests/gradcheck.h"

using namespace slab;
using custom_layer::channel_scaled_tanh;

TEST_CASE("channel_scaled_tanh: float64 gradients of x and the amplitude, images and features") {
  Generator generator(7);
  for (const Shape& shape : {Shape{3, 4, 2, 3}, Shape{5, 3}}) {
    INFO("x of shape ", shape);
    const Tensor x = randn(shape, generator, {DType::f64});
    const Tensor amplitude = randn({shape[1]}, generator, {DType::f64});  // signs mixed, as training may leave them
    testing::check_gradients([](const std::vector<Tensor>& in) { return channel_scaled_tanh(in[0], in[1]); },
                             {x, amplitude});
  }
}

TEST_CASE("channel_scaled_tanh: the values, in float32 and float64") {
  for (DType dtype : {DType::f32, DType::f64}) {
    const Tensor x = from_vector({-1.0, 0.0, 0.5, 2.0}, {2, 2}, {dtype});
    const Tensor a = from_vector({3.0, -0.5}, {2}, {dtype});
    const std::vector<double> y = channel_scaled_tanh(x, a).to_vector();
    const double tolerance = dtype == DType::f32 ? 1e-6 : 1e-15;
    CHECK(std::abs(y[0] - 3.0 * std::tanh(-1.0)) < tolerance);
    CHECK(y[1] == 0.0);
    CHECK(std::abs(y[2] - 3.0 * std::tanh(0.5)) < tolerance);
    CHECK(std::abs(y[3] + 0.5 * std::tanh(2.0)) < tolerance);
  }
}

TEST_CASE("channel_scaled_tanh: bad inputs name the shapes") {
  CHECK_THROWS_WITH_AS(channel_scaled_tanh(zeros({2, 3}), ones({4})), doctest::Contains("got [2, 3] and [4]"), Error);
  CHECK_THROWS_WITH_AS(channel_scaled_tanh(zeros({3}), ones({3})), doctest::Contains("expected x [n, c, ...]"), Error);
  CHECK_THROWS_WITH_AS(channel_scaled_tanh(zeros({2, 3}), ones({3}, {DType::f64})), doctest::Contains("dtype mismatch"),
                       Error);
}

TEST_CASE("ScaledTanh: one parameter, outside the prior, starting as tanh") {
  custom_layer::ScaledTanh layer(3);
  const auto parameters = layer.named_parameters();
  REQUIRE(parameters.size() == 1);
  CHECK(parameters[0].name == "amplitude");
  CHECK(parameters[0].grouping == PriorGrouping::None);
  Generator generator(1);
  const Tensor x = randn({2, 3, 4, 4}, generator);
  const std::vector<double> got = layer(x).to_vector(), want = slab::tanh(x).to_vector();
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
  CHECK_THROWS_WITH_AS(layer(zeros({2, 4})), doctest::Contains("ScaledTanh(3): expected an input [n, 3, ...]"), Error);
}

TEST_CASE("tanh-cnn through slab's registry: built, listed, trained one step, names checked") {
  custom_layer::register_tanh_cnn();
  custom_layer::register_tanh_cnn();  // idempotent
  auto model = make_model("tanh-cnn", 10, 1, 3);
  // 16*9 + 2*16 + 16 (conv1, BN, amplitude) + 32*16*9 + 2*32 + 32 + 32*49*10 + 10
  CHECK(model->parameter_count() == 144 + 32 + 16 + 4608 + 64 + 32 + 15680 + 10);
  CHECK(make_model("tanh-cnn-8-16", 10, 1, 3)->parameter_count() < model->parameter_count());
  CHECK_THROWS_WITH_AS(make_model("tanh-cnn-8", 10, 1, 3), doctest::Contains("unknown model 'tanh-cnn-8'"), Error);
  CHECK(model_help().find("tanh-cnn-<c1>-<c2>") != std::string::npos);
  CHECK_THROWS_WITH_AS(register_model("tanh-cnn", "again", [](const std::string&, int64_t, int64_t, uint64_t) {
                         return std::shared_ptr<Module>();
                       }),
                       doctest::Contains("'tanh-cnn' is registered already"), Error);

  Generator generator(5);
  const Tensor images = randn({4, 1, 28, 28}, generator);
  const Tensor loss = cross_entropy((*model)(images), labels_from_vector({0, 3, 9, 1}));
  loss.backward();
  for (const NamedParameter& p : model->named_parameters()) {
    INFO(p.name);
    CHECK(p.tensor.grad().defined());
  }
  const auto couplings = channel_couplings(*model);
  CHECK(couplings.conv_batch_norm.size() == 2);
  // The graph reads through ScaledTanh: a dead conv1 channel leaves conv2's input.
  const slab::SparsityReport report = slab::sparsity_report(*model, nullptr, {});
  CHECK(report.layers.size() == 5);
}
