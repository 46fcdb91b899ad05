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
