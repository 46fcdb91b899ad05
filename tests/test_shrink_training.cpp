// Shrinking during training (docs/algorithm.md#shrinking-during-training): sghmc-spl on a
// model that sheds its dead channels after the prior pass is the same chain as on the masked
// dense model. From one seed, with the same masks set before the E-step, the surviving
// weights and momenta of the two runs agree after k steps and a second prior pass, the
// prior pass reports the same counts, the removed weights of the dense run are zero, and the
// sampler drew the dense run's noise for every survivor.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "bayes/sparsity.h"
#include "bayes/spike_slab.h"
#include "core/random.h"
#include "layers/layers.h"
#include "layers/shrink.h"
#include "models/factory.h"
#include "optim/sghmc.h"
#include "optim/sgd.h"

using namespace slab;

namespace {

SghmcOptions sampler_options() {
  SghmcOptions o;
  o.learning_rate = 0.02;
  o.temperature = 0.01;
  o.data_size = 1000;
  o.weight_decay = 5e-4;
  o.seed = 77;
  o.spike_and_slab = true;
  return o;
}

SpikeSlabOptions prior_options() {
  SpikeSlabOptions p;
  p.warm_up = 0;
  p.hard_threshold_conv = 1e-4;   // the forced masks, not the test, decide what dies
  p.hard_threshold_linear = 1e-8;
  return p;
}

struct Run {
  std::shared_ptr<Module> model;
  std::unique_ptr<Sghmc> optimizer;
  std::unique_ptr<SpikeSlabPrior> prior;
};

Run make_run(const std::string& name, int64_t in_channels) {
  Run run;
  run.model = make_model(name, 10, in_channels, 3);
  run.optimizer = std::make_unique<Sghmc>(run.model->named_parameters(), sampler_options());
  run.prior = std::make_unique<SpikeSlabPrior>(prior_options(), channel_couplings(*run.model));
  run.prior->attach(*run.optimizer);
  return run;
}

void step(Run& run, const Tensor& x, const Tensor& y) {
  run.optimizer->zero_grad();
  cross_entropy(run.model->forward(x), y).backward();
  run.optimizer->step();
}

// Kills 40% of every conv's filters but the stem's (a fixed pattern) through the prior's masks, as a
// pruning pass leaves them (prune-bn then masks the BatchNorm behind each).
void force_dead_filters(Sghmc& optimizer, uint64_t seed) {
  for (size_t i = 1; i < optimizer.parameters().size(); ++i) {  // the stem stays whole
    PriorState& state = optimizer.prior_states()[i];
    if (state.layout.grouping != PriorGrouping::ConvKernels) continue;
    state.keep_rows.assign(static_cast<size_t>(state.layout.rows), 1);
    for (int64_t o = 0; o < state.layout.rows; ++o)
      state.keep_rows[static_cast<size_t>(o)] = (static_cast<uint64_t>(o) * 7 + seed + i) % 5 < 2 ? 0 : 1;
  }
}

// The dense run's masks for what a shrink would remove: every removed row and column of
// every parameter is masked, so the removed weights are zeros of the dense chain.
void mask_removed(Sghmc& optimizer, const std::vector<ParameterSlice>& slices) {
  for (size_t i = 0; i < slices.size(); ++i) {
    PriorState& state = optimizer.prior_states()[i];
    const ParameterSlice& slice = slices[i];
    auto mask = [](std::vector<uint8_t>& keep, int64_t extent, const std::vector<int64_t>& kept) {
      if (static_cast<int64_t>(kept.size()) == extent) return;
      if (keep.empty()) keep.assign(static_cast<size_t>(extent), 1);
      std::vector<uint8_t> survives(static_cast<size_t>(extent), 0);
      for (int64_t k : kept) survives[static_cast<size_t>(k)] = 1;
      for (int64_t r = 0; r < extent; ++r) keep[static_cast<size_t>(r)] &= survives[static_cast<size_t>(r)];
    };
    mask(state.keep_rows, state.layout.rows, slice.kept[0]);
    if (slice.kept.size() >= 2) mask(state.keep_columns, state.layout.columns, slice.kept[1]);
  }
  optimizer.apply_prior_masks();
}

// What survives of each dense parameter, as slices of the dense shapes.
std::vector<ParameterSlice> dense_slices(const Sghmc& shrunk) {
  std::vector<ParameterSlice> slices;
  for (size_t i = 0; i < shrunk.parameters().size(); ++i) {
    const ElementOrigin& origin = *shrunk.element_origin(i);
    slices.push_back({shrunk.parameters()[i].name, origin.dense_shape, origin.kept});
  }
  return slices;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// Survivors of `dense` (their dense indices) against `shrunk`; every other dense element
// must be exactly zero.
void check_survivors(const std::string& what, const Tensor& dense, const Tensor& shrunk, const ElementOrigin& origin,
                     double tolerance, bool removed_are_zero = true) {
  const std::vector<double> d = dense.to_vector(), s = shrunk.to_vector();
  REQUIRE(static_cast<int64_t>(d.size()) == origin.dense_numel());
  std::vector<int64_t> survivors = origin.elements;
  if (survivors.empty()) survivors = ParameterSlice::iota(origin.dense_numel());
  REQUIRE(survivors.size() == s.size());
  std::vector<uint8_t> kept(d.size(), 0);
  double diff = 0;
  for (size_t e = 0; e < s.size(); ++e) {
    kept[static_cast<size_t>(survivors[e])] = 1;
    diff = std::max(diff, std::abs(s[e] - d[static_cast<size_t>(survivors[e])]));
  }
  double removed = 0;
  for (size_t e = 0; e < d.size(); ++e)
    if (!kept[e]) removed = std::max(removed, std::abs(d[e]));
  INFO(what, ": max |shrunk - dense| = ", diff, ", tolerance ", tolerance * std::max(1.0, max_abs(d)));
  CHECK(diff <= tolerance * std::max(1.0, max_abs(d)));
  if (removed_are_zero) CHECK(removed == 0.0);
}

void check_same_report(const PriorPassReport& a, const PriorPassReport& b) {
  CHECK(a.groups == b.groups);
  CHECK(a.spike_groups == b.spike_groups);
  CHECK(a.pruned_units == b.pruned_units);
  CHECK(a.prunable_units == b.prunable_units);
}

void check_chain(const std::string& name, int64_t in_channels, const Shape& input) {
  Run dense = make_run(name, in_channels), shrunk = make_run(name, in_channels);
  Generator data(5);
  std::vector<std::pair<Tensor, Tensor>> batches;
  for (int b = 0; b < 6; ++b) {
    std::vector<int64_t> labels;
    for (int64_t i = 0; i < input[0]; ++i) labels.push_back((i + b) % 10);
    batches.emplace_back(randn(input, data), labels_from_vector(labels));
  }
  for (int b = 0; b < 2; ++b) {
    step(dense, batches[b].first, batches[b].second);
    step(shrunk, batches[b].first, batches[b].second);
  }
  // The epoch boundary: forced masks, the prior pass, then (shrink on) the shrink.
  force_dead_filters(*dense.optimizer, 9);
  force_dead_filters(*shrunk.optimizer, 9);
  const PriorPassReport dense_pass = dense.prior->run(*dense.optimizer);
  const PriorPassReport shrunk_pass = shrunk.prior->run(*shrunk.optimizer);
  check_same_report(dense_pass, shrunk_pass);
  const ShrinkReport report = shrink_dead_channels(*shrunk.model);
  INFO(report.summary());
  REQUIRE(report.channels_removed > 0);
  shrunk.optimizer->keep_elements(report.parameter_slices);
  mask_removed(*dense.optimizer, dense_slices(*shrunk.optimizer));
  // Steps 3-5, a second prior pass and shrink, steps 6-7.
  const int k = 3;
  for (int b = 2; b < 2 + k; ++b) {
    step(dense, batches[b].first, batches[b].second);
    step(shrunk, batches[b].first, batches[b].second);
  }
  check_same_report(dense.prior->run(*dense.optimizer), shrunk.prior->run(*shrunk.optimizer));
  const ShrinkReport second = shrink_dead_channels(*shrunk.model);
  if (second.changed()) {
    shrunk.optimizer->keep_elements(second.parameter_slices);
    mask_removed(*dense.optimizer, dense_slices(*shrunk.optimizer));
  }
  for (int b = 2 + k; b < 7; ++b) {
    step(dense, batches[b % 6].first, batches[b % 6].second);
    step(shrunk, batches[b % 6].first, batches[b % 6].second);
  }
  // The two chains differ only by the order of the forward and backward sums over
  // channels (a shrunken conv sums fewer terms, the removed zeros left out, on other code
  // paths). A reordered float sum of L terms differs by about log2(L) ulps of its scale
  // (blocked and pairwise sums); L is at most 2^17 here (batch x positions x channels), so a
  // gradient differs by under 16 ulps, and a step moves a weight by C^2 beta2 g < |g| (C^2 =
  // 0.02) plus the same noise in both chains: after s steps the weights differ by under
  // s x 16 eps of their scale (a noise addressing error would be a difference of the noise's
  // size, about 1e-4, instead).
  const int steps = 7;
  const double tolerance = steps * 16 * 1.1920929e-7;
  const std::vector<NamedParameter>& parameters = shrunk.optimizer->parameters();
  CHECK(dense.optimizer->current_draw(0) == shrunk.optimizer->current_draw(0));
  for (size_t i = 0; i < parameters.size(); ++i) {
    const ElementOrigin& origin = *shrunk.optimizer->element_origin(i);
    check_survivors(parameters[i].name + " weight", dense.optimizer->parameters()[i].tensor, parameters[i].tensor,
                    origin, tolerance);
    check_survivors(parameters[i].name + " momentum", dense.optimizer->momentum(i), shrunk.optimizer->momentum(i),
                    origin, tolerance);
    check_survivors(parameters[i].name + " rho", dense.optimizer->rho(i), shrunk.optimizer->rho(i), origin, tolerance,
                    false);  // a masked weight's rho still moves: it is not state of the chain's weights
  }
  // The sparsity report counts the removed weights as the zeros they were: every total,
  // the multiply-adds included, is that of the masked dense chain.
  Shape one = input;
  one[0] = 1;
  const SparsityReport masked = sparsity_report(*dense.model, dense.optimizer.get(), one);
  const SparsityReport shrunken = sparsity_report(*shrunk.model, shrunk.optimizer.get(), one);
  REQUIRE(masked.macs_measured);
  CHECK(shrunken.parameters == masked.parameters);
  CHECK(shrunken.zeros == masked.zeros);
  CHECK(shrunken.conv_weights == masked.conv_weights);
  CHECK(shrunken.conv_removed_weights == masked.conv_removed_weights);
  CHECK(shrunken.dense_macs == masked.dense_macs);
  CHECK(shrunken.kept_macs == masked.kept_macs);
  CHECK(shrunken.kept_macs < shrunken.dense_macs);
}

}  // namespace

TEST_CASE("shrink during training: sghmc-spl shrunken = sghmc-spl masked, step for step") {
  SUBCASE("small-cnn") { check_chain("small-cnn-6-8", 1, {4, 1, 28, 28}); }
  SUBCASE("resnet20") { check_chain("resnet20", 3, {4, 3, 16, 16}); }
}

TEST_CASE("shrink during training: Optimizer::keep_elements slices the sampler's state and keeps its draws") {
  // One conv weight [4, 3, 1, 1] whose rows 1 and 3 and column 0 go: the survivors keep
  // their momentum, rho, masks and group decays, and their noise is the dense tensor's.
  Tensor w = zeros({4, 3, 1, 1});
  {
    std::vector<double> values(12);
    for (size_t e = 0; e < values.size(); ++e) values[e] = 0.1 * static_cast<double>(e + 1);
    w.copy_from(from_vector(values, w.shape()));
  }
  w.set_requires_grad(true);
  std::vector<NamedParameter> parameters{{"conv.weight", w, PriorGrouping::ConvKernels}};
  Sghmc dense(parameters, sampler_options());
  PriorState& state = dense.prior_states()[0];
  state.group_weight_decay.resize(12);
  for (size_t g = 0; g < 12; ++g) state.group_weight_decay[g] = 1e-3f * static_cast<float>(g + 1);
  state.keep_columns = {1, 1, 0};
  const std::vector<double> momentum = dense.momentum(0).to_vector();

  Tensor v = zeros({4, 3, 1, 1});
  v.copy_from(w);
  v.set_requires_grad(true);
  Sghmc shrunk({{"conv.weight", v, PriorGrouping::ConvKernels}}, sampler_options());
  shrunk.prior_states()[0] = state;
  ParameterSlice slice = ParameterSlice::all_of("conv.weight", {4, 3, 1, 1});
  slice.keep_along(0, {0, 2});
  slice.keep_along(1, {1, 2});
  keep_along(v, 0, {0, 2});
  keep_along(v, 1, {1, 2});
  shrunk.keep_elements({slice});
  CHECK(shrunk.momentum(0).shape() == Shape{2, 2, 1, 1});
  const std::vector<int64_t> survivors{1, 2, 7, 8};
  CHECK(shrunk.element_origin(0)->elements == survivors);
  const std::vector<double> m = shrunk.momentum(0).to_vector();
  for (size_t e = 0; e < survivors.size(); ++e) CHECK(m[e] == momentum[static_cast<size_t>(survivors[e])]);
  const PriorState& cut = shrunk.prior_states()[0];
  CHECK(cut.keep_columns == std::vector<uint8_t>{1, 0});
  CHECK(cut.group_weight_decay == std::vector<float>{state.group_weight_decay[1], state.group_weight_decay[2],
                                                     state.group_weight_decay[7], state.group_weight_decay[8]});
  // Three steps on the same gradient: the survivors move exactly as in the dense tensor.
  for (int s = 0; s < 3; ++s) {
    dense.zero_grad();
    shrunk.zero_grad();
    sum(mul(w, w)).backward();
    sum(mul(v, v)).backward();
    dense.step();
    shrunk.step();
  }
  const std::vector<double> a = w.to_vector(), b = v.to_vector();
  for (size_t e = 0; e < survivors.size(); ++e) CHECK(b[e] == a[static_cast<size_t>(survivors[e])]);
  // A slice that does not start from the optimizer's shape is refused.
  CHECK_THROWS_WITH_AS(shrunk.keep_elements({slice}), doctest::Contains("starts from shape"), Error);
}

TEST_CASE("shrink during training: an optimizer without the hook refuses clearly") {
  Tensor w = zeros({2, 2});
  w.set_requires_grad(true);
  SgdOptions options;
  Sgd sgd({{"w", w}}, options);
  CHECK_FALSE(sgd.can_keep_elements());
  CHECK_THROWS_WITH_AS(sgd.keep_elements({ParameterSlice::all_of("w", {2, 2})}),
                       doctest::Contains("cannot follow a model that shrinks during training"), Error);
}

TEST_CASE("shrink history: the text form round-trips and a fresh model replays it") {
  Run run = make_run("resnet20", 3);
  force_dead_filters(*run.optimizer, 9);
  run.prior->run(*run.optimizer);
  const ShrinkReport report = shrink_dead_channels(*run.model);
  REQUIRE(report.channels_removed > 0);
  const std::string text = shrink_history_text(run.model->shrink_history());
  const ShrinkHistory parsed = parse_shrink_history(text);
  CHECK(shrink_history_text(parsed) == text);
  auto fresh = make_model("resnet20", 10, 3, 3);
  const std::vector<ParameterSlice> slices = apply_kept_channels(*fresh, parsed[0]);
  const std::vector<NamedParameter> a = run.model->named_parameters(), b = fresh->named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].tensor.shape() == b[i].tensor.shape());
    CHECK(slices[i].kept == report.parameter_slices[i].kept);
  }
}
