// The training state's finite check (tools/trainer/finite_state.h): the first non-finite
// tensor of the model or the optimizer is named, and check_state_finite refuses the state
// with the step, the kept checkpoint and the advice to resume with a lower --lr, so that
// weights that are all NaN can no longer be written by a training run.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/ops.h"
#include "models/factory.h"
#include "optim/sgd.h"
#include "tools/trainer/finite_state.h"

using namespace slab;
using namespace slab::tools;

TEST_CASE("count_non_finite counts NaN and both infinities, not large or subnormal values") {
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(dtype);
    const int64_t n = 200000;  // above the parallel grain: the threads' counts are added
    Tensor a = zeros({n}, {dtype}), b = zeros({3}, {dtype});
    auto put = [&](const Tensor& t, int64_t i, double v) {
      if (dtype == DType::f32) t.data<float>()[i] = static_cast<float>(v);
      else t.data<double>()[i] = v;
    };
    put(a, 0, std::numeric_limits<double>::quiet_NaN());
    put(a, n - 1, std::numeric_limits<double>::infinity());
    put(a, n / 2, -std::numeric_limits<double>::infinity());
    put(a, 7, dtype == DType::f32 ? std::numeric_limits<float>::max() : std::numeric_limits<double>::max());
    put(a, 8, dtype == DType::f32 ? std::numeric_limits<float>::denorm_min() : std::numeric_limits<double>::denorm_min());
    put(b, 1, -std::numeric_limits<double>::quiet_NaN());
    CHECK(count_non_finite({a}, Device::cpu()).item() == 3);
    CHECK(count_non_finite({a, Tensor(), b}, Device::cpu()).item() == 4);  // undefined tensors are skipped
    CHECK(count_non_finite({}, Device::cpu()).item() == 0);
  }
  CHECK_THROWS_AS(count_non_finite({zeros({2}, {DType::i64})}, Device::cpu()), Error);
}

TEST_CASE("state_after_step holds the weights, buffers and gradients; a NaN gradient is named") {
  auto model = make_model("small-cnn", 10, 1, 1);
  Sgd sgd(model->named_parameters(), SgdOptions{.learning_rate = 0.1, .momentum = 0.9});
  const size_t without_gradients = state_after_step(*model, sgd).size();
  size_t float_tensors = 0;  // BatchNorm's num_batches_tracked is int64: nothing to check
  for (const auto& [name, tensor] : model->state_dict()) float_tensors += tensor.dtype() != DType::i64;
  CHECK(float_tensors < model->state_dict().size());
  CHECK(without_gradients == float_tensors);
  const NamedParameter& first = sgd.parameters().front();
  Tensor gradient = zeros(first.tensor.shape());
  gradient.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  first.tensor.set_grad(gradient);
  CHECK(state_after_step(*model, sgd).size() == without_gradients + 1);
  CHECK(count_non_finite(state_after_step(*model, sgd), Device::cpu()).item() == 1);
  CHECK(first_non_finite_state(*model, sgd) ==
        "tensor 'gradient of " + first.name + "' holds nan at element 1 of " + std::to_string(first.tensor.numel()));
  CHECK_THROWS_WITH_AS(fail_non_finite_state(*model, sgd, "at epoch 1, batch 2 of 8 (step 2, lr 0.1)", 1,
                                             "/nonexistent/latest.safetensors", "runs/x"),
                       doctest::Contains("training diverged at epoch 1, batch 2 of 8 (step 2, lr 0.1): after the step 1 "
                                         "elements of the weights, gradients and buffers are NaN or infinite (the first "
                                         "now: tensor 'gradient of "),
                       Error);
}

TEST_CASE("a finite state passes; a NaN weight, an infinite buffer or momentum is named") {
  auto model = make_model("small-cnn", 10, 1, 1);
  Sgd sgd(model->named_parameters(), SgdOptions{.learning_rate = 0.1, .momentum = 0.9});
  CHECK(first_non_finite_state(*model, sgd).empty());
  CHECK_NOTHROW(check_state_finite(*model, sgd, {0, 3, 3}, "/nonexistent/latest.safetensors", "runs/x"));

  const auto state = model->state_dict();
  std::string buffer_name;
  Tensor buffer;
  for (const auto& [name, tensor] : state)
    if (name.find("running_var") != std::string::npos) {
      buffer_name = name;
      buffer = tensor;
      break;
    }
  REQUIRE(buffer.defined());
  buffer.data<float>()[2] = std::numeric_limits<float>::infinity();
  CHECK(first_non_finite_state(*model, sgd) ==
        "tensor 'model." + buffer_name + "' holds inf at element 2 of " + std::to_string(buffer.numel()));
  buffer.data<float>()[2] = 1;

  // Every weight NaN, as a diverged run leaves them: refused, naming the first.
  for (const NamedParameter& p : model->named_parameters()) {
    float* values = p.tensor.data<float>();
    for (int64_t i = 0; i < p.tensor.numel(); ++i) values[i] = std::nanf("");
  }
  const std::string first = model->named_parameters().front().name;
  CHECK(first_non_finite_state(*model, sgd).rfind("tensor 'model." + first + "' holds nan at element 0", 0) == 0);
  CHECK_THROWS_WITH_AS(check_state_finite(*model, sgd, {1, 2, 7}, "/nonexistent/latest.safetensors", "runs/x"),
                       doctest::Contains("not finite after step 7 (epoch 2"), Error);
  CHECK_THROWS_WITH_AS(check_state_finite(*model, sgd, {1, 2, 7}, "/nonexistent/latest.safetensors", "runs/x"),
                       doctest::Contains("No checkpoint was written: start again with a lower --lr"), Error);
  // With a checkpoint from before the divergence: kept, and the way on is to resume it.
  const std::string latest = std::filesystem::temp_directory_path() / ("slab-finite-" + std::to_string(getpid()));
  std::ofstream(latest) << "kept";
  CHECK_THROWS_WITH_AS(check_state_finite(*model, sgd, {1, 2, 7}, latest, "runs/x"),
                       doctest::Contains(("is in " + latest + " (not overwritten): continue with --resume runs/x and a lower --lr").c_str()),
                       Error);
  std::filesystem::remove(latest);
}
