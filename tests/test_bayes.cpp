// The spike-and-slab prior (docs/algorithm.md#spike-and-slab-prior): E-steps, hard tests,
// permanent masks, prune-bn, sghmc-spl against an oracle through E-step and pruning events,
// posterior samples (schedule and files), and the sparsity report.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

#include "bayes/presets.h"
#include "bayes/samples.h"
#include "bayes/sparsity.h"
#include "bayes/spike_slab.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/activation.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/channel_analysis.h"
#include "layers/sequential.h"
#include "models/factory.h"
#include "models/mlp.h"
#include "models/model.h"
#include "models/small_cnn.h"
#include "optim/csghmc.h"
#include "optim/sghmc.h"
#include "optim/sghmc_noise.h"
#include "tiny_sampler_net.h"

using namespace slab;
using slab::testing::TinySamplerNet;

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::string temp_path(const std::string& name) { return (std::filesystem::temp_directory_path() / name).string(); }

SghmcOptions sampler_options() {
  SghmcOptions o;
  o.learning_rate = 0.05;
  o.temperature = 0.02;
  o.data_size = 64;
  o.seed = 99;
  o.spike_and_slab = true;
  return o;
}

// The EM-MCMC oracle: docs/algorithm.md#adaptive-variational-update per weight and
// docs/algorithm.md#prior-pass per epoch, as plain double loops over the tiny network's five
// tensors (conv [4,3,3,3], bn scale [4], bn shift [4], linear [3,4], bias [3]). It shares only
// the Philox draws with slab.
struct EmMcmcOracle {
  std::vector<std::vector<double>> w, m, rho, lambda, keep;
  std::vector<uint64_t> draw;
  SghmcOptions sampler;
  SpikeSlabOptions prior;

  EmMcmcOracle(const std::vector<NamedParameter>& parameters, const SghmcOptions& s, const SpikeSlabOptions& p)
      : sampler(s), prior(p) {
    for (size_t i = 0; i < parameters.size(); ++i) {
      w.push_back(parameters[i].tensor.to_vector());
      const size_t n = w.back().size();
      std::vector<double> momentum;
      for (size_t e = 0; e < n; ++e)
        momentum.push_back(s.initial_momentum_std * noise::normal_at(s.seed, noise::kSghmcInitDomain + i, 0, n, e));
      m.push_back(momentum);
      rho.push_back(std::vector<double>(n, 0.0));
      lambda.push_back(std::vector<double>(n, p.lambda1));
      keep.push_back(std::vector<double>(n, 1.0));
      draw.push_back(0);
    }
  }

  // E-step and pruning, straight from the group table of docs/algorithm.md#prior-groups.
  void epoch_pass() {
    const double soft = prior.soft_threshold;
    // conv [o][i][k]: kernel slice groups, input channel and filter units (magnitude test).
    std::vector<double>& cw = w[0];
    auto at = [](int o, int i, int k) { return static_cast<size_t>((o * 3 + i) * 9 + k); };
    std::vector<bool> prune_in(3, false), prune_out(4, false);
    for (int o = 0; o < 4; ++o)
      for (int i = 0; i < 3; ++i) {
        double s = 0;
        for (int k = 0; k < 9; ++k) s += cw[at(o, i, k)] * cw[at(o, i, k)];
        for (int k = 0; k < 9; ++k) lambda[0][at(o, i, k)] = s / 9 < soft ? prior.lambda0 : prior.lambda1;
      }
    for (int i = 0; i < 3; ++i) {
      double biggest = 0;
      for (int o = 0; o < 4; ++o)
        for (int k = 0; k < 9; ++k) biggest = std::max(biggest, std::abs(cw[at(o, i, k)]));
      prune_in[i] = biggest < prior.hard_threshold_conv;
    }
    for (int o = 0; o < 4; ++o) {
      double biggest = 0;
      for (int i = 0; i < 3; ++i)
        for (int k = 0; k < 9; ++k) biggest = std::max(biggest, std::abs(cw[at(o, i, k)]));
      prune_out[o] = biggest < prior.hard_threshold_conv;
    }
    for (int o = 0; o < 4; ++o)
      for (int i = 0; i < 3; ++i)
        for (int k = 0; k < 9; ++k)
          if (prune_in[i] || prune_out[o]) keep[0][at(o, i, k)] = 0;
    // prune-bn: the BN scale and shift of a pruned filter.
    for (int o = 0; o < 4; ++o)
      if (prune_out[o]) {
        keep[1][static_cast<size_t>(o)] = 0;
        keep[2][static_cast<size_t>(o)] = 0;
      }
    // linear [r][c]: column groups and column units (mean square test).
    std::vector<double>& lw = w[3];
    for (int c = 0; c < 4; ++c) {
      double s = 0;
      for (int r = 0; r < 3; ++r) s += lw[static_cast<size_t>(r * 4 + c)] * lw[static_cast<size_t>(r * 4 + c)];
      for (int r = 0; r < 3; ++r) {
        lambda[3][static_cast<size_t>(r * 4 + c)] = s / 3 < soft ? prior.lambda0 : prior.lambda1;
        if (s / 3 < prior.hard_threshold_linear) keep[3][static_cast<size_t>(r * 4 + c)] = 0;
      }
    }
    for (size_t t = 0; t < w.size(); ++t)
      for (size_t e = 0; e < w[t].size(); ++e) {
        w[t][e] *= keep[t][e];
        m[t][e] *= keep[t][e];
      }
  }

  void step(const std::vector<std::vector<double>>& g, double c2) {
    const double T = sampler.temperature, N = sampler.data_size, eta = sampler.eta, b1 = sampler.beta1;
    const double C = std::sqrt(c2);
    for (size_t t = 0; t < w.size(); ++t) {
      const size_t n = w[t].size();
      for (size_t e = 0; e < n; ++e) {
        const double xi_prev = noise::normal_at(sampler.seed, noise::kSghmcDomain + t, draw[t], n, e);
        const double xi = noise::normal_at(sampler.seed, noise::kSghmcDomain + t, draw[t] + 1, n, e);
        const double tau_old = sigmoid(rho[t][e]);
        rho[t][e] -= eta * (T * T * C * C * C * lambda[t][e] * tau_old + T * std::pow(C, 1.5) * xi_prev * g[t][e] -
                            1.0 / (tau_old * N));
        const double tau = sigmoid(rho[t][e]);
        m[t][e] = (b1 * m[t][e] - c2 * sampler.beta2 * (g[t][e] + lambda[t][e] * w[t][e]) +
                   std::sqrt(2 + 2 * b1 * b1) * std::pow(C, 1.5) * T * xi) *
                  keep[t][e];
        w[t][e] = (w[t][e] + tau * m[t][e]) * keep[t][e];
      }
      draw[t] += 1;
    }
  }
};

}  // namespace

TEST_CASE("sghmc-spl with E-steps and pruning agrees with the oracle for 50 steps") {
  TinySamplerNet net, oracle_net;
  {
    // Small units that the spike shrinks below the hard thresholds at different passes:
    // conv input channel 2, conv filter 3 (behind a dead ReLU), linear column 1.
    NoGradGuard no_grad;
    for (int64_t o = 0; o < 4; ++o)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t k = 0; k < 9; ++k) {
          const double x = net.conv_weight.at({o, i, k / 3, k % 3});
          const double scale = i == 2 ? 0.1 : (o == 3 ? 0.01 : 1.0);
          net.conv_weight.set({o, i, k / 3, k % 3}, x * scale);
        }
    for (int64_t r = 0; r < 3; ++r) net.linear_weight.set({r, 1}, net.linear_weight.at({r, 1}) * 0.1);
    net.beta.set({3}, -5.0);  // a dead ReLU unit: filter 3 gets no gradient, only the spike
  }
  const auto parameters = net.parameters();
  SpikeSlabOptions prior;
  prior.lambda1 = 1e-3;
  prior.lambda0 = 20.0;
  prior.soft_threshold = 4e-3;
  prior.hard_threshold_conv = 0.02;
  prior.hard_threshold_linear = 1e-4;
  prior.hard_test = HardTest::Magnitude;
  prior.warm_up = 1;
  prior.prune_bn = true;
  ChannelCouplings couplings;
  couplings.conv_batch_norm.push_back({"conv", "bn"});
  SpikeSlabPrior spike_slab(prior, couplings);
  const SghmcOptions options = sampler_options();
  Sghmc optimizer(parameters, options);
  spike_slab.attach(optimizer);
  EmMcmcOracle oracle(parameters, options, prior);

  const int64_t steps_per_epoch = 5;
  std::vector<int64_t> newly_pruned_by_epoch;
  for (int64_t step = 0; step < 50; ++step) {
    if (step % steps_per_epoch == 0) {
      const int64_t epoch = step / steps_per_epoch;
      PriorPassReport report;
      const bool ran = spike_slab.begin_epoch(epoch, optimizer, &report);
      CHECK(ran == (epoch > 1));
      if (ran) {
        oracle.epoch_pass();
        newly_pruned_by_epoch.push_back(report.newly_pruned_units);
      }
    }
    const double c2 = 0.08 / 2 * (std::cos(M_PI * static_cast<double>(step % 25) / 25.0) + 1);
    const int64_t batch = (step % 4) * 4;
    net.loss_and_gradients(batch, 4);
    for (size_t t = 0; t < oracle.w.size(); ++t) {
      NoGradGuard no_grad;
      oracle_net.parameters()[t].tensor.copy_from(from_vector(oracle.w[t], parameters[t].tensor.shape()));
    }
    oracle_net.loss_and_gradients(batch, 4);
    std::vector<std::vector<double>> g;
    for (const NamedParameter& p : oracle_net.parameters()) g.push_back(p.tensor.grad().to_vector());
    optimizer.set_learning_rate(c2);
    optimizer.step();
    oracle.step(g, c2);
    for (size_t t = 0; t < oracle.w.size(); ++t) {
      const std::vector<double> x = parameters[t].tensor.to_vector();
      for (size_t e = 0; e < x.size(); ++e) {
        REQUIRE(std::abs(x[e] - oracle.w[t][e]) <= 1e-5 + 1e-4 * std::abs(oracle.w[t][e]));
        if (oracle.keep[t][e] == 0) REQUIRE(x[e] == 0.0);  // pruned: exactly zero after every step
      }
    }
  }
  // Pruning happened, and not all of it at the first pass: the spike shrank units later.
  const auto& states = optimizer.prior_states();
  CHECK(states[0].keep_columns == std::vector<uint8_t>{1, 1, 0});
  CHECK(states[0].keep_rows == std::vector<uint8_t>{1, 1, 1, 0});
  CHECK(states[1].keep_rows == std::vector<uint8_t>{1, 1, 1, 0});  // prune-bn
  CHECK(states[2].keep_rows == std::vector<uint8_t>{1, 1, 1, 0});
  CHECK(states[3].keep_columns == std::vector<uint8_t>{1, 0, 1, 1});
  REQUIRE(newly_pruned_by_epoch.size() == 8);
  CHECK(std::count_if(newly_pruned_by_epoch.begin(), newly_pruned_by_epoch.end(), [](int64_t n) { return n > 0; }) >= 2);
  int64_t total = 0;
  for (int64_t n : newly_pruned_by_epoch) total += n;
  CHECK(total == 3);
  CHECK(net.beta.at({3}) == 0.0);
  CHECK(net.gamma.at({3}) == 0.0);
}

TEST_CASE("the threshold E-step picks lambda0 below the soft threshold and may switch back") {
  SpikeSlabOptions o;
  o.lambda1 = 1e-4;
  o.lambda0 = 1e-2;
  o.soft_threshold = 1e-3;
  CHECK(group_weight_decay(0.5e-3, 9, o) == 1e-2);
  CHECK(group_weight_decay(1e-3, 9, o) == 1e-4);  // not below: slab
  CHECK(group_weight_decay(2e-3, 9, o) == 1e-4);
  // Groups of a conv weight are kernel slices; of a linear weight, columns.
  Tensor conv = zeros({2, 2, 1, 2});
  conv.set({1, 0, 0, 1}, 2.0);
  const auto conv_groups = group_mean_squares(conv, PriorLayout::of(conv.shape(), PriorGrouping::ConvKernels));
  CHECK(conv_groups == std::vector<double>{0, 0, 2.0, 0});
  Tensor linear = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const auto columns = group_mean_squares(linear, PriorLayout::of(linear.shape(), PriorGrouping::LinearColumns));
  CHECK(columns[0] == doctest::Approx((1 + 16) / 2.0));
  CHECK(columns[2] == doctest::Approx((9 + 36) / 2.0));

  // A group switches back to the slab when its weights grow again.
  Tensor w = from_vector({0.01, 1.0, 0.01, 1.0}, {2, 2}).set_requires_grad(true);  // columns (0.01, 0.01), (1, 1)
  SghmcOptions so = sampler_options();
  Sghmc optimizer({{"fc.weight", w, PriorGrouping::LinearColumns}}, so);
  SpikeSlabPrior prior(o);
  prior.run(optimizer);
  CHECK(optimizer.prior_states()[0].group_weight_decay == std::vector<float>{1e-2f, 1e-4f});
  {
    NoGradGuard no_grad;
    w.copy_from(from_vector({1.0, 1.0, 1.0, 1.0}, {2, 2}));
  }
  prior.run(optimizer);
  CHECK(optimizer.prior_states()[0].group_weight_decay == std::vector<float>{1e-4f, 1e-4f});
}

TEST_CASE("the posterior E-step is the exact p_g in log space, with p_g = 1/2 at the stated point") {
  SpikeSlabOptions o;
  o.estep = EStep::Posterior;
  o.lambda1 = 5e-4;
  o.lambda0 = 1e-2;
  o.theta = 0.3;
  o.data_size = 10240;
  const int64_t m = 9;
  const double half = posterior_half_point(m, o);
  CHECK(half == doctest::Approx((std::log(o.lambda0 / o.lambda1) - 2.0 / m * std::log(0.3 / 0.7)) /
                                (o.data_size * (o.lambda0 - o.lambda1))));
  CHECK(std::exp(log_inclusion_probability(half * m, m, o.lambda1, o.lambda0, o.theta, o.data_size)) ==
        doctest::Approx(0.5).epsilon(1e-9));
  CHECK(group_weight_decay(half, m, o) == doctest::Approx((o.lambda0 + o.lambda1) / 2));
  // Direct density ratio at a moderate point, against the log-space form.
  const double s = 0.8 * half * m;
  auto density = [&](double lambda) {
    const double precision = o.data_size * lambda;
    return std::pow(precision / (2 * M_PI), m / 2.0) * std::exp(-0.5 * precision * s);
  };
  const double direct = 0.3 * density(o.lambda1) / (0.3 * density(o.lambda1) + 0.7 * density(o.lambda0));
  CHECK(std::exp(log_inclusion_probability(s, m, o.lambda1, o.lambda0, o.theta, o.data_size)) ==
        doctest::Approx(direct).epsilon(1e-9));
  // Far in either tail it stays finite (log space): a large group of big weights.
  CHECK(log_inclusion_probability(1e6, 1000, o.lambda1, o.lambda0, o.theta, o.data_size) == doctest::Approx(0.0));
  CHECK(std::isfinite(log_inclusion_probability(0.0, 100000, o.lambda1, o.lambda0, o.theta, o.data_size)));
  CHECK(log_inclusion_probability(0.0, 100000, o.lambda1, o.lambda0, o.theta, o.data_size) < -1000);
  SpikeSlabOptions bad = o;
  bad.data_size = 0;
  CHECK_THROWS_WITH_AS(SpikeSlabPrior{bad}, doctest::Contains("needs the training-set size N"), Error);
}

TEST_CASE("the E-step statistics and hard tests match loops over the weights") {
  // group_mean_squares and conv_hard_tests reduce by ops wherever the weight is; here they
  // are checked against loops in double: the same mean squares to float rounding, and the
  // same keep decisions (max and min do not round). Zeroed units as after pruning.
  Generator generator(7, 3);
  Tensor conv = randn({6, 5, 3, 3}, generator);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t k = 0; k < 9; ++k) conv.set({2, i, k / 3, k % 3}, 0.0);  // a pruned filter
  for (int64_t o = 0; o < 6; ++o)
    for (int64_t k = 0; k < 9; ++k) conv.set({o, 3, k / 3, k % 3}, 0.004 * (k - 4));  // a small, spread channel
  const PriorLayout conv_layout = PriorLayout::of(conv.shape(), PriorGrouping::ConvKernels);
  const std::vector<double> squares = group_mean_squares(conv, conv_layout);
  REQUIRE(squares.size() == 30);
  std::vector<double> filter_abs(6, 0.0), filter_max(6, -1e30), filter_min(6, 1e30);
  std::vector<double> channel_abs(5, 0.0), channel_max(5, -1e30), channel_min(5, 1e30);
  for (int64_t o = 0; o < 6; ++o)
    for (int64_t i = 0; i < 5; ++i) {
      double total = 0;
      for (int64_t k = 0; k < 9; ++k) {
        const double x = conv.at({o, i, k / 3, k % 3});
        total += x * x;
        filter_abs[o] = std::max(filter_abs[o], std::abs(x));
        filter_max[o] = std::max(filter_max[o], x);
        filter_min[o] = std::min(filter_min[o], x);
        channel_abs[i] = std::max(channel_abs[i], std::abs(x));
        channel_max[i] = std::max(channel_max[i], x);
        channel_min[i] = std::min(channel_min[i], x);
      }
      CHECK(squares[o * 5 + i] == doctest::Approx(total / 9).epsilon(1e-6));
    }
  for (HardTest test : {HardTest::Magnitude, HardTest::Range})
    for (double threshold : {0.01, 0.02, 0.5}) {
      const ConvUnitTests tests = conv_hard_tests(conv, test, threshold);
      for (int64_t o = 0; o < 6; ++o) {
        const double statistic = test == HardTest::Magnitude ? filter_abs[o] : filter_max[o] - filter_min[o];
        CHECK(tests.keep_filters[o] == (statistic < threshold ? 0 : 1));
      }
      for (int64_t i = 0; i < 5; ++i) {
        const double statistic = test == HardTest::Magnitude ? channel_abs[i] : channel_max[i] - channel_min[i];
        CHECK(tests.keep_input_channels[i] == (statistic < threshold ? 0 : 1));
      }
    }
  const ConvUnitTests magnitude = conv_hard_tests(conv, HardTest::Magnitude, 0.02);
  CHECK(magnitude.keep_filters[2] == 0);
  CHECK(magnitude.keep_input_channels[3] == 0);
  Tensor linear = randn({4, 7}, generator);
  const PriorLayout linear_layout = PriorLayout::of(linear.shape(), PriorGrouping::LinearColumns);
  const std::vector<double> columns = group_mean_squares(linear, linear_layout);
  REQUIRE(columns.size() == 7);
  for (int64_t j = 0; j < 7; ++j) {
    double total = 0;
    for (int64_t r = 0; r < 4; ++r) total += linear.at({r, j}) * linear.at({r, j});
    CHECK(columns[j] == doctest::Approx(total / 4).epsilon(1e-6));
  }
}

TEST_CASE("hard tests: magnitude prunes small channels, range prunes flat ones") {
  // [out 2, in 3, 1, 2]: input channel 0 all 0.5 (flat but large), channel 1 tiny,
  // channel 2 large and spread.
  Tensor w = from_vector({0.5, 0.5, 0.001, -0.002, 1.0, -1.0,  //
                          0.5, 0.5, 0.003, 0.001, 0.2, 0.9},
                         {2, 3, 1, 2});
  const ConvUnitTests magnitude = conv_hard_tests(w, HardTest::Magnitude, 0.01);
  CHECK(magnitude.keep_input_channels == std::vector<uint8_t>{1, 0, 1});
  CHECK(magnitude.keep_filters == std::vector<uint8_t>{1, 1});
  const ConvUnitTests range = conv_hard_tests(w, HardTest::Range, 0.01);
  CHECK(range.keep_input_channels == std::vector<uint8_t>{0, 0, 1});  // the live flat channel goes too
  CHECK(range.keep_filters == std::vector<uint8_t>{1, 1});
  Tensor filters = from_vector({0.004, -0.004, 0.3, 0.3}, {2, 1, 1, 2});
  CHECK(conv_hard_tests(filters, HardTest::Magnitude, 0.005).keep_filters == std::vector<uint8_t>{0, 1});
  CHECK(conv_hard_tests(filters, HardTest::Range, 0.005).keep_filters == std::vector<uint8_t>{1, 0});
  // Linear columns: mean(w^2) < threshold.
  Tensor lin = from_vector({0.01, 1.0, 0.1, 0.0, 0.01, 0.0}, {2, 3});
  CHECK(linear_column_tests(lin, 1e-3) == std::vector<uint8_t>{0, 1, 1});
  CHECK(parse_hard_test("range") == HardTest::Range);
  CHECK_THROWS_WITH_AS(parse_hard_test("max"), doctest::Contains("'magnitude' or 'range'"), Error);
  CHECK_THROWS_WITH_AS(parse_estep("em"), doctest::Contains("'threshold' or 'posterior'"), Error);
  CHECK_THROWS_WITH_AS(conv_hard_tests(lin, HardTest::Range, 0.1), doctest::Contains("[2, 3]"), Error);
}

namespace {

// The threshold-scale tests' conv [3 filters, 2 input channels, 1, 2] (fan_in 4): filter 2 is
// small against the others. Slice mean squares: filter 0 (1, 0.5), filter 1 (0.65, 1),
// filter 2 (0.00205, 0.00065).
const std::vector<double> kScaleTestConv = {1.0, -1.0, 0.8, 0.6,  //
                                            0.9, 0.7, -1.0, 1.0,  //
                                            0.05, -0.04, 0.03, 0.02};

// Soft and conv hard thresholds of 0.1 in the unit of `scale`.
SpikeSlabOptions scale_test_options(ThresholdScale scale) {
  SpikeSlabOptions o;
  o.lambda1 = 1e-4;
  o.lambda0 = 1e-2;
  o.threshold_scale = scale;
  o.soft_threshold = 0.1;
  o.hard_threshold_conv = 0.1;
  return o;
}

// One prior pass over kScaleTestConv multiplied by `factor`.
PriorState scale_test_pass(double factor, const SpikeSlabOptions& options) {
  std::vector<double> scaled = kScaleTestConv;
  for (double& x : scaled) x *= factor;
  Tensor w = from_vector(scaled, {3, 2, 1, 2}).set_requires_grad(true);
  Sghmc optimizer({{"conv.weight", w, PriorGrouping::ConvKernels}}, sampler_options());
  SpikeSlabPrior(options).run(optimizer);
  return optimizer.prior_states()[0];
}

}  // namespace

TEST_CASE("threshold-scale layer: thresholds follow each layer's own scale, so a rescaled layer prunes the same") {
  // Spike a slice below a tenth of the layer's mean w^2; prune a unit whose max|w| is below
  // a tenth of its RMS.
  const SpikeSlabOptions o = scale_test_options(ThresholdScale::Layer);
  // Live mean w^2 = (sum of squares of filters 0-1 = 6.3, filter 2 = 0.0054) / 12 = 0.52545;
  // RMS 0.7249, so the conv cut is 0.0725: filter 2 (max 0.05) goes, nothing else.
  for (double scale : {1.0, 1e-3, 40.0}) {
    const PriorState state = scale_test_pass(scale, o);
    CHECK(state.group_weight_decay == std::vector<float>{1e-4f, 1e-4f, 1e-4f, 1e-4f, 1e-2f, 1e-2f});
    CHECK(state.keep_rows == std::vector<uint8_t>{1, 1, 0});
    CHECK(state.keep_columns == std::vector<uint8_t>{1, 1});
  }
  // The same thresholds as absolute numbers decide by size: at scale 1e-3 everything goes.
  SpikeSlabOptions absolute = o;
  absolute.threshold_scale = ThresholdScale::Absolute;
  CHECK(scale_test_pass(1e-3, absolute).keep_rows == std::vector<uint8_t>{0, 0, 0});
  CHECK(scale_test_pass(1.0, absolute).keep_rows == std::vector<uint8_t>{1, 1, 0});
  // The scale is over live weights only: pruned filters' zeros do not lower it.
  Tensor w = from_vector(kScaleTestConv, {3, 2, 1, 2});
  const PriorLayout layout = PriorLayout::of(w.shape(), PriorGrouping::ConvKernels);
  PriorState state;
  state.layout = layout;
  const std::vector<double> squares = group_mean_squares(w, layout);
  CHECK(live_mean_square(squares, state) == doctest::Approx((6.3 + 0.0054) / 12));
  state.keep_rows = {1, 1, 0};
  CHECK(live_mean_square(squares, state) == doctest::Approx(6.3 / 8));
  state.keep_rows = {0, 0, 0};
  CHECK(live_mean_square(squares, state) == 0.0);
  // Linear columns: mean(w[:, j]^2) against hard_threshold_linear times the layer's mean w^2.
  Tensor lin = from_vector({0.01, 1.0, 0.5, 0.01, -1.0, 0.5}, {2, 3}).set_requires_grad(true);
  Sghmc fc({{"fc.weight", lin, PriorGrouping::LinearColumns}}, sampler_options());
  SpikeSlabOptions columns = o;
  columns.hard_threshold_linear = 0.01;  // layer mean w^2 = 2.5002 / 6: cut 0.0042
  SpikeSlabPrior(columns).run(fc);
  CHECK(fc.prior_states()[0].keep_columns == std::vector<uint8_t>{0, 1, 1});
  CHECK(parse_threshold_scale("layer") == ThresholdScale::Layer);
  CHECK_THROWS_WITH_AS(parse_threshold_scale("relative"), doctest::Contains("'absolute', 'layer' or 'fan-in'"), Error);
  CHECK(o.describe().find("threshold_scale=layer") != std::string::npos);
}

TEST_CASE("threshold-scale fan-in: thresholds in units of 2 / fan_in, fixed while the layer's scale moves") {
  CHECK(fan_in_scale(PriorLayout::of({16, 8, 3, 3}, PriorGrouping::ConvKernels)) == doctest::Approx(2.0 / 72));
  CHECK(fan_in_scale(PriorLayout::of({10, 50}, PriorGrouping::LinearColumns)) == doctest::Approx(2.0 / 50));
  // The unit of the test conv (fan_in 4) is 0.5: spike below 0.05, prune a unit whose max|w|
  // is below 0.1 x sqrt(0.5) = 0.0707.
  const SpikeSlabOptions o = scale_test_options(ThresholdScale::FanIn);
  auto pass = [&](double factor) { return scale_test_pass(factor, o); };
  const PriorState state = pass(1.0);
  CHECK(state.group_weight_decay == std::vector<float>{1e-4f, 1e-4f, 1e-4f, 1e-4f, 1e-2f, 1e-2f});
  CHECK(state.keep_rows == std::vector<uint8_t>{1, 1, 0});
  CHECK(state.keep_columns == std::vector<uint8_t>{1, 1});
  // Unlike `layer`, the unit does not follow the weights: scaled by 40, filter 2 (max 2.0)
  // stays and every slice is in the slab; scaled by 0.05, every slice is in the spike.
  const PriorState large = pass(40.0);
  CHECK(large.keep_rows == std::vector<uint8_t>{1, 1, 1});
  CHECK(large.group_weight_decay == std::vector<float>(6, 1e-4f));
  CHECK(pass(0.05).group_weight_decay == std::vector<float>(6, 1e-2f));
  CHECK(parse_threshold_scale("fan-in") == ThresholdScale::FanIn);
  CHECK(std::string(threshold_scale_name(ThresholdScale::FanIn)) == "fan-in");
  CHECK_THROWS_WITH_AS(parse_threshold_scale("fanin"), doctest::Contains("'absolute', 'layer' or 'fan-in'"), Error);
}

TEST_CASE("mac-budget: the smallest threshold shift that keeps the slab's multiply-adds within the budget") {
  // Two conv layers of 3x3 slices and one base threshold: A's weights are each used 1,024
  // times per example, B's 64 times. At mu = 0 A's three slices and B's largest are in the
  // slab: 3 x 9,216 + 576 MACs of the 29,376 dense ones.
  const std::vector<MacBudgetLayer> layers = {{{0.02, 0.03, 0.05}, 0.005, 1024, 9 * 1024.0},
                                              {{0.001, 0.002, 0.01}, 0.005, 64, 9 * 64.0}};
  const double dense = 3 * 9 * 1024.0 + 3 * 9 * 64.0;
  CHECK(slab_macs(layers, 0) == 3 * 9 * 1024.0 + 9 * 64.0);
  CHECK(mac_budget_shift(layers, dense) == 0.0);  // within the budget as it is: no shift
  // Half the dense MACs: A may keep one slice. Its slices leave the slab at
  // mu = (mean w^2 - 0.005) / 1024, so the answer is just above A's second exit point, and
  // B's slice (exit (0.01 - 0.005) / 64, far later) stays: per weight, A's cost more.
  const double mu = mac_budget_shift(layers, 0.5 * dense);
  const double second_exit = (0.03 - 0.005) / 1024;
  CHECK(mu >= second_exit);
  CHECK(mu <= second_exit * (1 + 1e-12));
  CHECK(slab_macs(layers, mu) == 9 * 1024.0 + 9 * 64.0);
  CHECK(slab_macs(layers, mu * (1 - 1e-9)) > 0.5 * dense);  // the smallest such shift
  // A budget below one slice of A spikes all of A before any of B.
  CHECK(slab_macs(layers, mac_budget_shift(layers, 0.1 * dense)) == 9 * 64.0);
}

TEST_CASE("mac-budget through the pass: each layer's threshold rises by its uses, within the budget") {
  // conv [2, 2, 1, 1] whose weights are used 100 times per example; linear [2, 2] (once).
  // Mean squares: conv slices 1, 4, 9, 16; linear columns 1, 1. Base threshold 0.5: all in
  // the slab, 4 x 100 + 2 x 2 = 404 MACs.
  Tensor conv = from_vector({1, 2, 3, 4}, {2, 2, 1, 1}).set_requires_grad(true);
  Tensor fc = from_vector({1, 1, 1, 1}, {2, 2}).set_requires_grad(true);
  Sghmc optimizer({{"conv.weight", conv, PriorGrouping::ConvKernels}, {"fc.weight", fc, PriorGrouping::LinearColumns}},
                  sampler_options());
  SpikeSlabOptions o;
  o.lambda1 = 1e-4;
  o.lambda0 = 1e-2;
  o.soft_threshold = 0.5;
  o.hard_threshold_conv = 0;
  o.hard_threshold_linear = 0;
  o.mac_budget = 0.52;  // 210 MACs: two conv slices go (mean squares 1 and 4), the columns stay
  SpikeSlabPrior prior(o);
  CHECK_THROWS_WITH_AS(prior.run(optimizer), doctest::Contains("multiply-adds per weight of 'conv.weight'"), Error);
  prior.set_weight_uses({{"conv.weight", 100.0}, {"fc.weight", 1.0}});
  const PriorPassReport report = prior.run(optimizer);
  CHECK(optimizer.prior_states()[0].group_weight_decay == std::vector<float>{1e-2f, 1e-2f, 1e-4f, 1e-4f});
  CHECK(optimizer.prior_states()[1].group_weight_decay == std::vector<float>{1e-4f, 1e-4f});
  CHECK(report.slab_mac_fraction == doctest::Approx(204.0 / 404));
  CHECK(report.mac_shift == doctest::Approx((4 - 0.5) / 100).epsilon(1e-9));
  // Off (1), the paper's E-step: nothing moves.
  o.mac_budget = 1;
  const PriorPassReport off = SpikeSlabPrior(o).run(optimizer);
  CHECK(optimizer.prior_states()[0].group_weight_decay == std::vector<float>(4, 1e-4f));
  CHECK(off.slab_mac_fraction == 1.0);
  // Bad settings are refused by name.
  o.mac_budget = 0;
  CHECK_THROWS_WITH_AS(o.validate(), doctest::Contains("MAC budget must be in (0, 1]"), Error);
  o.mac_budget = 0.5;
  o.estep = EStep::Posterior;
  o.data_size = 100;
  CHECK_THROWS_WITH_AS(o.validate(), doctest::Contains("not built for the posterior E-step"), Error);
}

TEST_CASE("masks are permanent: a pruned unit stays pruned when its test would pass again") {
  Tensor w = from_vector({0.0001, 1.0, 0.0001, 1.0}, {2, 2}).set_requires_grad(true);
  Sghmc optimizer({{"fc.weight", w, PriorGrouping::LinearColumns}}, sampler_options());
  SpikeSlabOptions o;
  o.hard_threshold_linear = 1e-3;
  SpikeSlabPrior prior(o);
  PriorPassReport report = prior.run(optimizer);
  CHECK(report.newly_pruned_units == 1);
  CHECK(optimizer.prior_states()[0].keep_columns == std::vector<uint8_t>{0, 1});
  CHECK(w.at({0, 0}) == 0.0);
  CHECK(w.at({1, 0}) == 0.0);
  {
    NoGradGuard no_grad;  // something writes a large value into the pruned column
    w.set({0, 0}, 5.0);
  }
  report = prior.run(optimizer);
  CHECK(report.newly_pruned_units == 0);
  CHECK(report.pruned_units == 1);
  CHECK(optimizer.prior_states()[0].keep_columns == std::vector<uint8_t>{0, 1});
  CHECK(w.at({0, 0}) == 0.0);  // the pass re-applies the masks
}

TEST_CASE("the pass runs only after warm-up and only for an optimizer that reads a prior") {
  Tensor w = ones({2, 2}).set_requires_grad(true);
  SpikeSlabOptions o;
  o.warm_up = 3;
  SpikeSlabPrior prior(o);
  Sghmc sampler({{"fc.weight", w, PriorGrouping::LinearColumns}}, sampler_options());
  prior.attach(sampler);
  CHECK(sampler.prior_states()[0].weight_decay == static_cast<float>(o.lambda1));
  for (int64_t epoch = 0; epoch <= 3; ++epoch) CHECK(!prior.begin_epoch(epoch, sampler));
  CHECK(sampler.prior_states()[0].group_weight_decay.empty());
  CHECK(prior.begin_epoch(4, sampler));
  CHECK(sampler.prior_states()[0].group_weight_decay.size() == 2);
  CsghmcOptions co;
  co.data_size = 10;
  Csghmc other({{"fc.weight", w, PriorGrouping::LinearColumns}}, co);
  CHECK_THROWS_WITH_AS(prior.attach(other), doctest::Contains("'csghmc' does not read a prior"), Error);
}

TEST_CASE("cool-down: the last epochs run no pass, put every weight back in the slab and keep the masks") {
  SpikeSlabOptions o;
  o.warm_up = 0;
  o.cool_down = 2;
  o.run_epochs = 5;
  o.lambda0 = 0.5;
  o.soft_threshold = 0.1;
  o.hard_threshold_linear = 1e-3;
  SpikeSlabPrior prior(o);
  CHECK(prior.first_cool_down_epoch() == 3);
  CHECK(!prior.in_cool_down(2));
  CHECK(prior.in_cool_down(3));
  // Column means of w^2: 1e-8 (pruned), 0.04 (spiked: below 0.1), 1 (slab).
  const std::vector<double> start = {1e-4, 0.2, 1.0, 1e-4, -0.2, 1.0};
  const float lambda1 = static_cast<float>(o.lambda1), lambda0 = static_cast<float>(o.lambda0);
  Tensor w = from_vector(start, {2, 3}).set_requires_grad(true);
  Sghmc sampler({{"fc.weight", w, PriorGrouping::LinearColumns}}, sampler_options());
  prior.attach(sampler);
  CHECK(prior.begin_epoch(1, sampler));
  CHECK(prior.begin_epoch(2, sampler));
  PriorState& state = sampler.prior_states()[0];
  CHECK(state.group_weight_decay == std::vector<float>{lambda0, lambda0, lambda1});
  CHECK(state.keep_columns == std::vector<uint8_t>{0, 1, 1});
  CHECK(!prior.begin_epoch(3, sampler));
  CHECK(state.group_weight_decay.empty());
  CHECK(state.weight_decay == lambda1);
  CHECK(state.keep_columns == std::vector<uint8_t>{0, 1, 1});
  CHECK(!prior.begin_epoch(4, sampler));

  // The released step is the slab step with the old masks: a twin from the same weights,
  // lambda1 everywhere and the same masks, moves exactly alike; a twin that kept the
  // spike's decays does not (so the comparison can fail).
  auto twin = [&](std::vector<float> group_decays) {
    Tensor v = w.detach().clone().set_requires_grad(true);
    auto s = std::make_unique<Sghmc>(std::vector<NamedParameter>{{"fc.weight", v, PriorGrouping::LinearColumns}},
                                     sampler_options());
    s->prior_states()[0].weight_decay = lambda1;
    s->prior_states()[0].group_weight_decay = std::move(group_decays);
    s->prior_states()[0].keep_columns = {0, 1, 1};
    return std::make_pair(v, std::move(s));
  };
  auto [slab_w, slab_sampler] = twin({});
  auto [spike_w, spike_sampler] = twin({lambda0, lambda0, lambda1});
  const Tensor direction = from_vector({0.3, -0.1, 0.2, 0.5, 0.4, -0.6}, {2, 3});
  for (auto [weight, optimizer] : {std::pair<Tensor, Optimizer*>{w, &sampler}, {slab_w, slab_sampler.get()},
                                   {spike_w, spike_sampler.get()}}) {
    optimizer->zero_grad();
    sum(mul(weight, direction)).backward();
    optimizer->step();
  }
  bool spike_differs = false;
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 3; ++c) {
      CHECK(w.at({r, c}) == slab_w.at({r, c}));
      spike_differs = spike_differs || w.at({r, c}) != spike_w.at({r, c});
    }
  CHECK(spike_differs);
  CHECK(w.at({0, 0}) == 0.0);  // the pruned column stays exactly zero
  CHECK(w.at({1, 0}) == 0.0);

  // A cool-down that leaves no pass is refused, naming the numbers.
  SpikeSlabOptions bad = o;
  bad.cool_down = 4;  // passes could run at epochs 1..0
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("cool-down of 4 epochs in a run of 5 epochs with warm-up 0"),
                       Error);
  bad.cool_down = -1;
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("cool-down must be >= 0"), Error);
  CHECK(o.describe().find("cool_down=2") != std::string::npos);
}

TEST_CASE("sample schedule: the last epochs of each cycle, 12 samples for the CIFAR recipe") {
  std::vector<int64_t> epochs;
  for (int64_t e = 0; e < 200; ++e)
    if (is_sample_epoch(e, 782, 200, 4, 3)) epochs.push_back(e);
  CHECK(epochs == std::vector<int64_t>{47, 48, 49, 97, 98, 99, 147, 148, 149, 197, 198, 199});
  CHECK(cycle_of_epoch(49, 782, 200, 4) == 0);
  CHECK(cycle_of_epoch(50, 782, 200, 4) == 1);
  // Cycles that do not end on an epoch boundary: 10 epochs of 3 batches in 4 cycles
  // (L = ceil(30/4) = 8 iterations): epoch e ends at iteration 3e + 2, cycles end at 7, 15, 23, 29.
  std::vector<int64_t> uneven;
  for (int64_t e = 0; e < 10; ++e)
    if (is_sample_epoch(e, 3, 10, 4, 1)) uneven.push_back(e);
  CHECK(uneven == std::vector<int64_t>{1, 4, 7, 9});
  // A burn-in: no sample before 0-based epoch 100 keeps only the last two cycles' samples;
  // a start inside a cycle's sample window keeps the rest of that window.
  std::vector<int64_t> burned_in, mid_window;
  for (int64_t e = 0; e < 200; ++e) {
    if (is_sample_epoch(e, 782, 200, 4, 3, 100)) burned_in.push_back(e);
    if (is_sample_epoch(e, 782, 200, 4, 3, 98)) mid_window.push_back(e);
  }
  CHECK(burned_in == std::vector<int64_t>{147, 148, 149, 197, 198, 199});
  CHECK(mid_window == std::vector<int64_t>{98, 99, 147, 148, 149, 197, 198, 199});
  CHECK_THROWS_WITH_AS(is_sample_epoch(5, 3, 10, 4, 1, -1), doctest::Contains("first sample epoch"), Error);
  CHECK_THROWS_WITH_AS(is_sample_epoch(10, 3, 10, 4, 1), doctest::Contains("outside [0, 10)"), Error);
}

TEST_CASE("posterior samples keep masks, and a pruned weight is zero in every saved sample") {
  const std::string path = temp_path("slab_test_sample.safetensors");
  Generator generator(3, 0);
  MLP model(6, {4}, 1, generator);
  Sghmc optimizer(model.named_parameters(), sampler_options());
  auto& first = optimizer.prior_states()[0];
  REQUIRE(optimizer.parameters()[0].name == "layers.0.weight");
  first.keep_columns = {1, 0, 1, 1, 0, 1};
  optimizer.apply_prior_masks();
  Tensor x = randn({8, 6}, generator), y = randn({8, 1}, generator);
  for (int step = 0; step < 3; ++step) {
    model.zero_grad();
    mse_loss(model.forward(x), y).backward();
    optimizer.step();
  }
  SampleInfo info;
  info.epoch = 5;
  info.step = 3;
  info.cycle = 1;
  info.extra["temperature"] = "0.02";
  save_posterior_sample(path, model, &optimizer, info);

  MLP other(6, {4}, 1, generator);
  const LoadedSample sample = load_posterior_sample(path, other);
  CHECK(sample.info.epoch == 5);
  CHECK(sample.info.cycle == 1);
  CHECK(sample.info.optimizer == "sghmc-spl");
  CHECK(sample.info.extra.at("temperature") == "0.02");
  REQUIRE(sample.masks.count("layers.0.weight") == 1);
  CHECK(sample.masks.at("layers.0.weight").second == std::vector<uint8_t>{1, 0, 1, 1, 0, 1});
  for (int64_t r = 0; r < 4; ++r) {
    CHECK(other.named_parameters()[0].tensor.at({r, 1}) == 0.0);
    CHECK(other.named_parameters()[0].tensor.at({r, 4}) == 0.0);
  }
  CHECK(other.named_parameters()[2].tensor.to_vector() == model.named_parameters()[2].tensor.to_vector());

  // A masked weight that is not zero cannot be saved.
  {
    NoGradGuard no_grad;
    model.named_parameters()[0].tensor.set({2, 4}, 0.5);
  }
  CHECK_THROWS_WITH_AS(save_posterior_sample(path, model, &optimizer, info),
                       doctest::Contains("'layers.0.weight' row 2 column 4 is pruned but holds 0.5"), Error);
  // Not a sample file.
  save_safetensors(path, {{"w", zeros({1})}});
  CHECK_THROWS_WITH_AS(load_posterior_sample(path, other), doctest::Contains("is not a slab posterior sample"), Error);
  std::filesystem::remove(path);
}

namespace {

// conv1 (3->4, 3x3, pad 1) -> bn1 -> relu = a;  conv2 (4->4, 3x3, stride 2, pad 1) -> bn2 = b;
// out = b + subsample(a). The residual stream's members are bn2 and bn1.
class TinyResidual : public Model {
 public:
  explicit TinyResidual(Generator& g) {
    ConvOptions first = conv_options(1, 1, false);
    ConvOptions second = conv_options(2, 1, false);
    conv1 = register_module("conv1", std::make_shared<Conv2d>(3, 4, 3, g, first));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(4));
    conv2 = register_module("conv2", std::make_shared<Conv2d>(4, 4, 3, g, second));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(4));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor a = relu((*bn1)((*conv1)(x)));
    const Tensor b = (*bn2)((*conv2)(a));
    return add(b, avg_pool2d(a, Pool2dOptions{{2, 2}, {2, 2}, {0, 0}}));
  }
  std::string type_name() const override { return "TinyResidual"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue x) override {
    const ChannelValue a = graph.pass(graph.child("bn1", *bn1, graph.child("conv1", *conv1, x)), clamps_constants_at_zero());
    const ChannelValue b = graph.child("bn2", *bn2, graph.child("conv2", *conv2, a));
    return graph.add({{b, 0, {}}, {graph.pass(a, keeps_constants()), 0, {}}}, 4);
  }
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
};

}  // namespace

TEST_CASE("sparsity report: parameters, dead channels through BN and residual sums, FLOPs") {
  Generator g(12, 0);
  TinyResidual model(g);
  SghmcOptions so = sampler_options();
  Sghmc optimizer(model.named_parameters(), so);
  // Prune filter 1 of both convs and filter 2 of conv2 only; conv2 input channel 3.
  auto& states = optimizer.prior_states();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < optimizer.parameters().size(); ++i) index[optimizer.parameters()[i].name] = i;
  states[index.at("conv1.weight")].keep_rows = {1, 0, 1, 1};
  states[index.at("conv2.weight")].keep_rows = {1, 0, 0, 1};
  states[index.at("conv2.weight")].keep_columns = {1, 1, 1, 0};
  optimizer.apply_prior_masks();
  {
    NoGradGuard no_grad;  // trained BatchNorms have non-zero shifts
    model.bn1->bias.fill(0.1);
    model.bn2->bias.fill(0.1);
  }

  // Without prune-bn the BN shift keeps pruned filters alive: nothing is dead.
  SparsityReport before = sparsity_report(model, &optimizer, {1, 3, 8, 8});
  REQUIRE(before.layers.size() == 4);
  CHECK(before.layers[0].name == "conv1");
  CHECK(before.layers[0].pruned_filters == 1);
  CHECK(before.layers[0].dead_filters == 0);
  CHECK(before.streams.at(0).dead_channels == 0);
  // Dense MACs: conv1 64 positions x 108 weights, conv2 16 positions x 144 weights.
  CHECK(before.dense_macs == 64.0 * 108 + 16.0 * 144);
  // The MAC budget's weights: the same positions per conv weight.
  const WeightUses uses = weight_uses(model, {1, 3, 8, 8});
  CHECK(uses.at("conv1.weight") == 64.0);
  CHECK(uses.at("conv2.weight") == 16.0);

  // prune-bn through the prior pass (tests that would prune nothing else: thresholds 0).
  SpikeSlabOptions o;
  o.hard_threshold_conv = 0;
  o.prune_bn = true;
  SpikeSlabPrior prior(o, channel_couplings(model));
  prior.run(optimizer);
  CHECK(model.bn1->weight.at({1}) == 0.0);
  CHECK(model.bn1->bias.at({1}) == 0.0);
  CHECK(model.bn2->bias.at({2}) == 0.0);
  const SparsityReport report = sparsity_report(model, &optimizer, {1, 3, 8, 8});
  CHECK(report.layers[0].dead_filters == 1);
  CHECK(report.layers[2].dead_filters == 2);
  CHECK(report.layers[2].pruned_columns == 1);
  CHECK(report.layers[1].kind == "batchnorm");
  CHECK(report.layers[1].dead_filters == 1);
  // Stream channel 1 is dead in both members; channel 2 only in bn2 (bn1 still feeds it).
  CHECK(report.streams.at(0).dead_channels == 1);
  // conv1 keeps 3 live filters of 27 weights; conv2 keeps filters 0 and 3 reading input
  // channels 0 and 2 (1 is dead, 3 masked).
  CHECK(report.kept_macs == 64.0 * 3 * 27 + 16.0 * 2 * 2 * 9);
  // Parameters: every exact zero counts, BN included.
  int64_t zeros = 0, total = 0;
  for (const NamedParameter& p : model.named_parameters()) {
    total += p.tensor.numel();
    for (double v : p.tensor.to_vector()) zeros += v == 0.0;
  }
  CHECK(report.parameters == total);
  CHECK(report.zeros == zeros);
  // conv1 filter 1 (27), conv2 filters 1-2 (72) and input channel 3 of its live filters
  // (18), BN scale and shift of the three dead channels (6).
  CHECK(report.zeros == 27 + 72 + 18 + 6);
  CHECK(report.summary().find("sparsity=") == 0);
  CHECK(report.table().find("residual stream") != std::string::npos);
}

namespace {

// Kills channel c of a conv and its BatchNorm the way prune-bn leaves them.
void kill_channel(Conv2d& conv, BatchNorm& bn, int64_t c) {
  NoGradGuard no_grad;
  for (int64_t i = 0; i < conv.weight.size(1); ++i)
    for (int64_t k = 0; k < conv.weight.size(2) * conv.weight.size(3); ++k)
      conv.weight.set({c, i, k / conv.weight.size(3), k % conv.weight.size(3)}, 0.0);
  bn.weight.set({c}, 0.0);
  bn.bias.set({c}, 0.0);
}

}  // namespace

TEST_CASE("sparsity report: a dead channel also removes the weights that read it") {
  // The small CNN: features.0 conv 1->16 (28x28 positions), features.4 conv 16->32 (14x14),
  // classifier reads 32 channels x 49 positions.
  Generator g(5, 0);
  SmallCNN model(1, 10, g);
  REQUIRE(channel_couplings(model).conv_batch_norm.size() == 2);
  auto& conv1 = dynamic_cast<Conv2d&>((*model.features)[0]);
  auto& bn1 = dynamic_cast<BatchNorm&>((*model.features)[1]);
  auto& conv2 = dynamic_cast<Conv2d&>((*model.features)[4]);
  auto& bn2 = dynamic_cast<BatchNorm&>((*model.features)[5]);
  kill_channel(conv1, bn1, 3);
  kill_channel(conv2, bn2, 5);
  const SparsityReport report = sparsity_report(model, nullptr, {1, 1, 28, 28});
  REQUIRE(report.layers.size() == 5);
  const LayerSparsity& first = report.layers[0];
  const LayerSparsity& second = report.layers[2];
  const LayerSparsity& head = report.layers[4];
  CHECK(first.removed_weights == 9);
  CHECK(second.dead_columns == 1);
  // conv2: its dead filter 5 (16 x 9) and its input channel 3 (32 x 9), w[5, 3] counted once.
  CHECK(second.removed_weights == 144 + 288 - 9);
  CHECK(head.dead_columns == 49);
  CHECK(head.removed_weights == 10 * 49);
  CHECK(report.conv_weights == 144 + 4608);
  CHECK(report.conv_removed() == doctest::Approx((9.0 + 423.0) / 4752.0));
  CHECK(report.kept_macs == 784.0 * (144 - 9) + 196.0 * (4608 - 423) + (15680 - 490));
  CHECK(report.summary().find("conv_removed=") != std::string::npos);

  // ResNet-20: a stream channel dead in every member removes what reads it.
  auto resnet = make_model("resnet20", 10, 3, 1);
  // A stream channel dead in every member (stem and stage-1 blocks) removes what reads it;
  // dead in all but one member, it removes nothing.
  Module& net = *resnet;
  std::map<std::string, Module*> modules;
  for (auto& [name, module] : net.named_modules()) modules[name] = module;
  auto conv = [&](const std::string& name) -> Conv2d& { return dynamic_cast<Conv2d&>(*modules.at(name)); };
  auto norm = [&](const std::string& name) -> BatchNorm& { return dynamic_cast<BatchNorm&>(*modules.at(name)); };
  kill_channel(conv("conv1"), norm("bn1"), 7);
  kill_channel(conv("layer1.0.conv2"), norm("layer1.0.bn2"), 7);
  kill_channel(conv("layer1.1.conv2"), norm("layer1.1.bn2"), 7);
  const SparsityReport partial = sparsity_report(net, nullptr, {1, 3, 32, 32});
  // The partial sums that layer1.1.conv1 and layer1.2.conv1 read are zero at 7 (every
  // term so far is dead there); layer1.2 still feeds the sum that layer2.0.conv1 reads.
  for (const LayerSparsity& l : partial.layers) {
    if (l.name == "layer1.1.conv1" || l.name == "layer1.2.conv1") CHECK(l.dead_columns == 1);
    if (l.name == "layer2.0.conv1") CHECK(l.dead_columns == 0);
  }
  kill_channel(conv("layer1.2.conv2"), norm("layer1.2.bn2"), 7);
  const SparsityReport whole = sparsity_report(net, nullptr, {1, 3, 32, 32});
  CHECK(whole.streams.at(0).dead_channels == 1);
  for (const LayerSparsity& l : whole.layers)
    if (l.name == "layer1.1.conv1" || l.name == "layer2.0.conv1") {
      CHECK(l.dead_columns == 1);
      CHECK(l.removed_weights == l.filters * 9);
    }
}

TEST_CASE("presets and temperatures") {
  const SamplerPreset reference = sampler_preset("reference-cifar");
  CHECK(reference.prior.warm_up == 300);
  CHECK(reference.prior.hard_test == HardTest::Range);
  CHECK(!reference.prior.prune_bn);
  CHECK(reference.prior.lambda0 == 1e-3);
  const SamplerPreset slab_default = sampler_preset("slab-cifar");
  CHECK(slab_default.prior.prune_bn);
  CHECK(slab_default.prior.hard_test == HardTest::Magnitude);
  CHECK(slab_default.prior.warm_up < slab_default.epochs);
  // The measured image defaults (docs/results.md): a soft threshold above the initial
  // kernels' mean square, so the spike acts, a weak spike, and the magnitude test at 6e-2.
  CHECK(slab_default.prior.soft_threshold == 6e-3);
  CHECK(slab_default.prior.lambda0 == 4e-3);
  CHECK(slab_default.cycles == 1);
  CHECK(slab_default.samples_per_cycle == 10);
  CHECK(sampler_preset("slab-mnist").samples_per_cycle == 3);
  CHECK(slab_default.beta1 == 0.9);
  CHECK(slab_default.prior.hard_threshold_conv == 6e-2);
  const SamplerPreset mnist = sampler_preset("slab-mnist");
  // Thresholds relative to each layer's scale, momentum retention 0.9 (docs/results.md).
  CHECK(mnist.learning_rate == 0.02);
  CHECK(mnist.beta1 == 0.9);
  CHECK(mnist.prior.lambda0 == 0.1);
  CHECK(mnist.prior.threshold_scale == ThresholdScale::Layer);
  CHECK(mnist.prior.soft_threshold == 1.0);
  CHECK(mnist.prior.hard_threshold_conv == 0.4);
  CHECK(mnist.prior.prune_bn);
  const SamplerPreset ex2 = sampler_preset("regression-2");
  CHECK(ex2.epochs == 6000);
  CHECK(ex2.prior.lambda1 == 5e-4);
  CHECK(ex2.temperature == "sqrt(1/N)");
  CHECK_THROWS_WITH_AS(sampler_preset("cifar"), doctest::Contains("known: slab-cifar"), Error);
  CHECK(parse_temperature("1/N", 50000) == 1.0 / 50000);
  CHECK(parse_temperature("sqrt(1/N)", 10240) == doctest::Approx(std::sqrt(1.0 / 10240)));
  CHECK(parse_temperature("0.25", 10) == 0.25);
  CHECK(parse_temperature("0", 10) == 0.0);
  CHECK_THROWS_WITH_AS(parse_temperature("1/n", 10), doctest::Contains("'1/N', 'sqrt(1/N)' or a number"), Error);
  CHECK_THROWS_WITH_AS(parse_temperature("-1", 10), doctest::Contains("got '-1'"), Error);
  CHECK_THROWS_WITH_AS(parse_temperature("0.1x", 10), doctest::Contains("got '0.1x'"), Error);
}
