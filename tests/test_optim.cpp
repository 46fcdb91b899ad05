// SGD, Adam, AdamW against PyTorch (10 steps on a small MLP, golden file), against an
// independent float64 recursion, state save/restore, errors; the learning-rate schedules
// against PyTorch's schedulers and the cyclical cosine of docs/algorithm.md#cyclical-schedule.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "core/safetensors.h"
#include "models/mlp.h"
#include "optim/adam.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "optim/state_io.h"
#include "tests/golden/models/golden_values.h"

using namespace slab;

namespace {

std::string golden_path(const std::string& file) {
  return std::string(SLAB_SOURCE_DIR) + "/tests/golden/models/" + file;
}

struct Case {
  const char* name;
  std::function<std::unique_ptr<Optimizer>(std::vector<NamedParameter>)> make;
};

std::vector<Case> golden_cases() {
  auto sgd = [](SgdOptions o) {
    return [o](std::vector<NamedParameter> p) -> std::unique_ptr<Optimizer> {
      return std::make_unique<Sgd>(std::move(p), o);
    };
  };
  auto adam = [](AdamOptions o, bool decoupled) {
    return [o, decoupled](std::vector<NamedParameter> p) -> std::unique_ptr<Optimizer> {
      if (decoupled) return std::make_unique<AdamW>(std::move(p), o);
      return std::make_unique<Adam>(std::move(p), o);
    };
  };
  // The same settings as OPTIMIZER_CASES in tests/golden/make_golden_models.py.
  SgdOptions plain{.learning_rate = 0.1};
  SgdOptions momentum{.learning_rate = 0.1, .momentum = 0.9};
  SgdOptions nesterov{.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true};
  SgdOptions dampening{.learning_rate = 0.05, .momentum = 0.8, .dampening = 0.5, .weight_decay = 0.001};
  AdamOptions adam_default{.learning_rate = 0.01};
  AdamOptions adam_wd{.learning_rate = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1};
  AdamOptions adamw{.learning_rate = 0.01, .weight_decay = 0.1};
  AdamOptions adamw_amsgrad{.learning_rate = 0.02, .weight_decay = 0.05, .amsgrad = true};
  return {{"sgd", sgd(plain)},
          {"sgd_momentum", sgd(momentum)},
          {"sgd_nesterov_wd", sgd(nesterov)},
          {"sgd_dampening_wd", sgd(dampening)},
          {"adam", adam(adam_default, false)},
          {"adam_wd", adam(adam_wd, false)},
          {"adamw", adam(adamw, true)},
          {"adamw_amsgrad", adam(adamw_amsgrad, true)}};
}

// 10 steps on alternating half-batches of the golden data, as the script.
void run_golden_steps(MLP& model, Optimizer& optimizer, int64_t first_step, int64_t last_step) {
  const Tensor x = golden::values("optim/input", {8, 5});
  const Tensor y = labels_from_vector({0, 2, 1, 1, 0, 2, 2, 1});
  for (int64_t step = first_step; step < last_step; ++step) {
    const int64_t start = step % 2 == 0 ? 0 : 4;
    optimizer.zero_grad();
    cross_entropy(model(narrow(x, 0, start, 4)), narrow(y, 0, start, 4)).backward();
    optimizer.step();
  }
}

}  // namespace

TEST_CASE("golden: 10 steps of SGD (momentum, Nesterov, dampening, weight decay), Adam, AdamW, amsgrad match PyTorch") {
  const SafetensorsContents expected = load_safetensors(golden_path("optimizers.safetensors"));
  for (const Case& c : golden_cases()) {
    Generator generator(0);
    MLP model(5, {7}, 3, generator);
    model.load_state_dict(golden::state(model));
    const std::vector<double> initial = model.named_parameters()[0].tensor.to_vector();
    auto optimizer = c.make(model.named_parameters());
    run_golden_steps(model, *optimizer, 0, 10);
    CHECK(optimizer->step_count() == 10);
    for (const NamedParameter& p : model.named_parameters()) {
      const std::vector<double> got = p.tensor.to_vector();
      const std::vector<double> want = expected.at(std::string(c.name) + "." + p.name).to_vector();
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        INFO(c.name, " ", p.name, "[", i, "]");
        CHECK(got[i] == doctest::Approx(want[i]).epsilon(2e-5).scale(1e-6));
      }
    }
    CHECK(model.named_parameters()[0].tensor.to_vector() != initial);  // the optimizer moved the weights
  }
}

TEST_CASE("SGD in float64 follows an independent recursion of PyTorch's formula") {
  // f(w) = 0.5 ||w - c||^2 has gradient w - c; the gradient is set by hand each step.
  const std::vector<double> target = {1.0, -2.0, 0.5};
  for (bool nesterov : {false, true}) {
    Tensor w = from_vector({0.3, 0.1, -0.7}, {3}, {DType::f64});
    SgdOptions options{.learning_rate = 0.2,
                       .momentum = 0.7,
                       .dampening = nesterov ? 0.0 : 0.25,
                       .weight_decay = 0.05,
                       .nesterov = nesterov};
    Sgd sgd({{"w", w, PriorGrouping::None}}, options);
    std::vector<double> ref = w.to_vector(), buffer(3, 0.0);
    for (int step = 0; step < 6; ++step) {
      std::vector<double> g(3);
      for (int i = 0; i < 3; ++i) g[i] = w.at({i}) - target[i];
      w.set_grad(from_vector(g, {3}, {DType::f64}));
      sgd.step();
      for (int i = 0; i < 3; ++i) {
        double d = (ref[i] - target[i]) + 0.05 * ref[i];
        buffer[i] = step == 0 ? d : 0.7 * buffer[i] + (1 - options.dampening) * d;
        d = nesterov ? d + 0.7 * buffer[i] : buffer[i];
        ref[i] -= 0.2 * d;
      }
      for (int i = 0; i < 3; ++i) CHECK(w.at({i}) == doctest::Approx(ref[i]).epsilon(1e-14));
    }
  }
}

TEST_CASE("Adam in float64: the first step moves each weight by lr against the gradient's sign") {
  // With m = (1 - b1) g and v = (1 - b2) g^2 the bias-corrected step is lr g / (|g| + eps').
  Tensor w = from_vector({1.0, -1.0, 0.0, 2.0}, {4}, {DType::f64});
  Adam adam({{"w", w, PriorGrouping::None}}, AdamOptions{.learning_rate = 0.01, .eps = 1e-12});
  w.set_grad(from_vector({3.0, -0.5, 1e-3, -20.0}, {4}, {DType::f64}));
  adam.step();
  CHECK(w.to_vector()[0] == doctest::Approx(0.99).epsilon(1e-9));
  CHECK(w.to_vector()[1] == doctest::Approx(-0.99).epsilon(1e-9));
  CHECK(w.to_vector()[2] == doctest::Approx(-0.01).epsilon(1e-6));
  CHECK(w.to_vector()[3] == doctest::Approx(2.01).epsilon(1e-9));
}

TEST_CASE("optimizers skip parameters without a gradient and create state lazily") {
  Tensor a = ones({2}), b = ones({3});
  Sgd sgd({{"a", a, PriorGrouping::None}, {"b", b, PriorGrouping::None}},
          SgdOptions{.learning_rate = 0.5, .momentum = 0.9});
  CHECK(sgd.state_tensors().empty());
  a.set_grad(ones({2}));
  sgd.step();
  CHECK(a.to_vector() == std::vector<double>{0.5, 0.5});
  CHECK(b.to_vector() == std::vector<double>{1, 1, 1});
  const NamedTensors state = sgd.state_tensors();
  REQUIRE(state.size() == 1);
  CHECK(state[0].first == "a.momentum_buffer");
  CHECK(Sgd({{"a", a, PriorGrouping::None}}, SgdOptions{.learning_rate = 0.1}).state_bytes() == 0);

  Adam adam({{"a", a, PriorGrouping::None}, {"b", b, PriorGrouping::None}}, AdamOptions{});
  adam.step();  // a still has its gradient
  std::vector<std::string> keys;
  for (const auto& [name, tensor] : adam.state_tensors()) keys.push_back(name);
  CHECK(keys == std::vector<std::string>{"a.exp_avg", "a.exp_avg_sq", "a.step"});
  CHECK(adam.name() == "adam");
  CHECK(AdamW({{"a", a, PriorGrouping::None}}, AdamOptions{}).name() == "adamw");
}

TEST_CASE("optimizer state round trip resumes exactly (state_tensors / load_state)") {
  for (const Case& c : golden_cases()) {
    INFO(c.name);
    Generator generator(0);
    MLP straight(5, {7}, 3, generator), resumed(5, {7}, 3, generator);
    straight.load_state_dict(golden::state(straight));
    resumed.load_state_dict(golden::state(resumed));
    auto first = c.make(straight.named_parameters());
    run_golden_steps(straight, *first, 0, 4);
    auto second = c.make(resumed.named_parameters());
    run_golden_steps(resumed, *second, 0, 4);
    // Save the second's state, build a third optimizer from it, continue both.
    std::map<std::string, Tensor> saved;
    for (const auto& [name, tensor] : second->state_tensors()) saved[name] = tensor.clone();
    const Metadata metadata = second->state_metadata();
    auto third = c.make(resumed.named_parameters());
    third->load_state(saved, metadata);
    CHECK(third->step_count() == 4);
    run_golden_steps(straight, *first, 4, 10);
    run_golden_steps(resumed, *third, 4, 10);
    for (size_t i = 0; i < straight.parameters().size(); ++i)
      CHECK(straight.parameters()[i].to_vector() == resumed.parameters()[i].to_vector());
  }
}

TEST_CASE("optimizer errors name the problem") {
  Tensor w = ones({2});
  CHECK_THROWS_WITH_AS(Sgd({{"w", w, PriorGrouping::None}}, SgdOptions{.learning_rate = 0.1, .nesterov = true}),
                       doctest::Contains("Nesterov momentum requires a momentum > 0"), Error);
  CHECK_THROWS_WITH_AS(Sgd({{"w", w, PriorGrouping::None}}, SgdOptions{.learning_rate = -1}),
                       doctest::Contains("learning rate must be non-negative, got -1"), Error);
  CHECK_THROWS_WITH_AS(Sgd({{"w", w, PriorGrouping::None}, {"w", ones({3}), PriorGrouping::None}}, SgdOptions{}),
                       doctest::Contains("parameter name 'w' appears twice"), Error);
  CHECK_THROWS_WITH_AS(Adam({{"w", w, PriorGrouping::None}}, AdamOptions{.beta2 = 1.0}),
                       doctest::Contains("betas must lie in [0, 1), got (0.9, 1)"), Error);
  CHECK_THROWS_WITH_AS(Sgd({{"i", zeros({2}, {DType::i64}), PriorGrouping::None}}, SgdOptions{}),
                       doctest::Contains("'i' has dtype int64"), Error);

  Sgd sgd({{"w", w, PriorGrouping::None}}, SgdOptions{.learning_rate = 0.1, .momentum = 0.5});
  // A state after steps with momentum that lost its buffers; at step 0 none is expected.
  CHECK_THROWS_WITH_AS(sgd.load_state({}, {{"step_count", "7"}}),
                       doctest::Contains("from step 7 with momentum 0.5 but holds no momentum buffers"), Error);
  CHECK(sgd.step_count() == 0);  // nothing changed
  sgd.load_state({}, {{"step_count", "0"}});
  CHECK_THROWS_WITH_AS(sgd.load_state({{"v.momentum_buffer", ones({2})}}, {}),
                       doctest::Contains("holds 'v.momentum_buffer', which matches no parameter"), Error);
  CHECK_THROWS_WITH_AS(sgd.load_state({{"w.momentum_buffer", ones({3})}}, {}),
                       doctest::Contains("saved 'w.momentum_buffer' has shape [3] but the parameter has [2]"), Error);
  Adam amsgrad({{"w", w, PriorGrouping::None}}, AdamOptions{.amsgrad = true});
  Tensor step = zeros({}, {DType::i64});
  CHECK_THROWS_WITH_AS(
      amsgrad.load_state({{"w.exp_avg", ones({2})}, {"w.exp_avg_sq", ones({2})}, {"w.step", step}}, {}),
      doctest::Contains("lacks max_exp_avg_sq, but this optimizer has amsgrad on"), Error);
  CHECK_THROWS_WITH_AS(amsgrad.load_state({{"w.exp_avg", ones({2})}}, {}), doctest::Contains("is incomplete"), Error);

  // The noisy optimizers' seed: round trip, absent (kept), and corrupt text named.
  Metadata metadata;
  write_noise_seed(metadata, "sghmc", 18446744073709551615ULL);
  uint64_t seed = 7;
  read_noise_seed(metadata, seed, "sghmc");
  CHECK(seed == 18446744073709551615ULL);
  CHECK(metadata.at("optimizer") == "sghmc");
  read_noise_seed({}, seed, "sghmc");
  CHECK(seed == 18446744073709551615ULL);
  for (const char* bad : {"-3", "12x", "", "1e5"}) {
    const std::string message = "ivon: saved 'seed' = '" + std::string(bad) + "' is not an unsigned integer";
    CHECK_THROWS_WITH_AS(read_noise_seed({{"seed", bad}}, seed, "ivon"), doctest::Contains(message.c_str()), Error);
  }
  CHECK_THROWS_WITH_AS(read_noise_seed({{"seed", "18446744073709551616"}}, seed, "csghmc"),
                       doctest::Contains("does not fit in 64 bits"), Error);
}

// ---- schedules ---------------------------------------------------------------------------

TEST_CASE("golden: step, cosine and linear warm-up schedules match PyTorch's schedulers") {
  const SafetensorsContents expected = load_safetensors(golden_path("schedules.safetensors"));
  const std::vector<double> step = expected.at("step").to_vector();
  const StepSchedule step_schedule(0.1, 3, 0.5);
  for (size_t t = 0; t < step.size(); ++t)
    CHECK(step_schedule.lr(static_cast<int64_t>(t)) == doctest::Approx(step[t]).epsilon(1e-12));
  // PyTorch's CosineAnnealingLR is recursive; its values follow the closed form, also past T_max.
  const std::vector<double> cosine = expected.at("cosine").to_vector();
  const CosineSchedule cosine_schedule(0.1, 10, 0.001);
  REQUIRE(cosine.size() == 30);
  for (size_t t = 0; t < cosine.size(); ++t)
    CHECK(cosine_schedule.lr(static_cast<int64_t>(t)) == doctest::Approx(cosine[t]).epsilon(1e-10));
  const std::vector<double> warmup = expected.at("linear_warmup").to_vector();
  const LinearWarmupSchedule warmup_schedule(std::make_shared<ConstantSchedule>(0.1), 5, 0.1);
  for (size_t t = 0; t < warmup.size(); ++t)
    CHECK(warmup_schedule.lr(static_cast<int64_t>(t)) == doctest::Approx(warmup[t]).epsilon(1e-12));
}

TEST_CASE("cyclical cosine schedule (docs/algorithm.md#cyclical-schedule): L = ceil(K / M)") {
  // K = 10 iterations, M = 3 cycles: L = 4, r mod 4 = 0, 1, 2, 3, 0, ...
  CHECK(cyclical_cycle_length(10, 3) == 4);
  CHECK(cyclical_cycle_length(12, 3) == 4);
  CHECK(cyclical_cycle_length(13, 3) == 5);
  const double base = 0.5;
  const double expected[4] = {base, base / 2 * (std::cos(std::numbers::pi / 4) + 1), base / 2,
                              base / 2 * (std::cos(3 * std::numbers::pi / 4) + 1)};
  for (int64_t r = 0; r < 10; ++r)
    CHECK(cyclical_cosine_lr(base, r, 10, 3) == doctest::Approx(expected[r % 4]).epsilon(1e-15));
  const CyclicalCosineSchedule schedule(base, 10, 3);
  CHECK(schedule.lr(8) == base);  // a new cycle restarts at C0^2
  CHECK(schedule.cycle_length() == 4);
  CHECK(schedule.describe().find("L = 4") != std::string::npos);
  // The learning rate only decreases within a cycle.
  for (int64_t r = 1; r < 4; ++r) CHECK(schedule.lr(r) < schedule.lr(r - 1));
  CHECK_THROWS_WITH_AS(cyclical_cosine_lr(base, 0, 10, 11),
                       doctest::Contains("cycles M must lie in [1, K = 10], got 11"), Error);
  CHECK_THROWS_WITH_AS(cyclical_cosine_lr(base, -1, 10, 2), doctest::Contains("iteration must be non-negative"), Error);
}

TEST_CASE("schedules: warm-up wraps any schedule; constant; argument errors") {
  const auto cosine = std::make_shared<CosineSchedule>(1.0, 100);
  const LinearWarmupSchedule warm(cosine, 4, 0.25);
  CHECK(warm.lr(0) == doctest::Approx(0.25 * cosine->lr(0)));
  CHECK(warm.lr(2) == doctest::Approx(0.625 * cosine->lr(2)));
  CHECK(warm.lr(4) == cosine->lr(4));
  CHECK(warm.lr(50) == cosine->lr(50));
  CHECK(ConstantSchedule(0.3).lr(1000) == 0.3);
  CHECK(linear_warmup_factor(7, 0, 0.5) == 1.0);
  CHECK_THROWS_WITH_AS(StepSchedule(0.1, 0, 0.5), doctest::Contains("step_size must be positive, got 0"), Error);
  CHECK_THROWS_WITH_AS(CosineSchedule(0.1, 0), doctest::Contains("T_max must be positive"), Error);
  CHECK_THROWS_WITH_AS(LinearWarmupSchedule(cosine, 5, 0.0), doctest::Contains("start factor must lie in (0, 1]"),
                       Error);
}
