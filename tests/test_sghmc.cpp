// The samplers of optim/ against oracles written straight from
// docs/algorithm.md#adaptive-variational-update (sghmc) and docs/algorithm.md#baselines
// (cSGHMC, the naive adaptive VB and IVON), plus the checks
// docs/algorithm.md#preconditioned-sghmc asks of every port of the sampler: heavy-ball SGD at
// eta = T = 0, the tau drift over a CIFAR schedule, and the rho update as the derivative of
// the per-datum negative ELBO. Each oracle is a plain double loop that shares only the Philox
// draws with the code under test; sghmc-spl with its E-step and pruning events is checked in
// test_bayes.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "core/ops.h"
#include "core/precision.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "optim/csghmc.h"
#include "optim/ivon.h"
#include "optim/sghmc.h"
#include "optim/sghmc_kernel.h"
#include "optim/vb_adaptive.h"
#include "optim/sghmc_noise.h"
#include "tiny_sampler_net.h"

using namespace slab;
using slab::testing::TinySamplerNet;

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// docs/algorithm.md#cyclical-schedule: C^2 = C0^2 / 2 (cos(pi (r mod L) / L) + 1), L = ceil(K / M).
double cyclical_c2(double c0_squared, int64_t r, int64_t total, int64_t cycles) {
  const int64_t length = (total + cycles - 1) / cycles;
  return c0_squared / 2.0 * (std::cos(M_PI * static_cast<double>(r % length) / static_cast<double>(length)) + 1.0);
}

// The oracle: one double per weight for w, m, rho; a plain loop per step in the order of
// docs/algorithm.md#adaptive-variational-update. Its noise is addressed as optim/sghmc_noise.h
// documents (stream = domain + tensor index, draw d at blocks d * ceil(n/4) ...), the one
// thing it shares with the optimizer.
struct SghmcOracle {
  struct Weights {
    std::vector<double> w, m, rho, lambda, keep;
    uint64_t draw = 0;
  };
  std::vector<Weights> tensors;
  SghmcOptions options;

  SghmcOracle(const std::vector<NamedParameter>& parameters, const SghmcOptions& o) : options(o) {
    for (size_t i = 0; i < parameters.size(); ++i) {
      Weights t;
      t.w = parameters[i].tensor.to_vector();
      const uint64_t n = t.w.size();
      for (uint64_t e = 0; e < n; ++e) {
        t.m.push_back(o.initial_momentum_std * noise::normal_at(o.seed, noise::kSghmcInitDomain + i, 0, n, e));
        t.rho.push_back(0.0);
        t.lambda.push_back(o.weight_decay);
        t.keep.push_back(1.0);
      }
      tensors.push_back(t);
    }
  }

  void step(const std::vector<std::vector<double>>& gradients, double c2) {
    const double T = options.temperature, N = options.data_size, eta = options.eta;
    const double b1 = options.beta1, b2 = options.beta2, C = std::sqrt(c2);
    for (size_t i = 0; i < tensors.size(); ++i) {
      Weights& t = tensors[i];
      const uint64_t n = t.w.size();
      for (uint64_t e = 0; e < n; ++e) {
        const double g = gradients[i][e], lambda = t.lambda[e];
        const double xi_prev = noise::normal_at(options.seed, noise::kSghmcDomain + i, t.draw, n, e);
        const double xi = noise::normal_at(options.seed, noise::kSghmcDomain + i, t.draw + 1, n, e);
        const double tau_old = sigmoid(t.rho[e]);
        t.rho[e] -= eta * (T * T * std::pow(C, 3) * lambda * tau_old + T * std::pow(C, 1.5) * xi_prev * g -
                           1.0 / (tau_old * N));
        const double tau = sigmoid(t.rho[e]);
        t.m[e] = b1 * t.m[e] - c2 * b2 * (g + lambda * t.w[e]) + std::sqrt(2 + 2 * b1 * b1) * std::pow(C, 1.5) * T * xi;
        t.m[e] *= t.keep[e];  // slab zeroes a pruned weight's momentum
        t.w[e] = (t.w[e] + tau * t.m[e]) * t.keep[e];
      }
      t.draw += 1;
    }
  }
};

std::vector<std::vector<double>> gradients_of(const std::vector<NamedParameter>& parameters) {
  std::vector<std::vector<double>> out;
  for (const NamedParameter& p : parameters) out.push_back(p.tensor.grad().to_vector());
  return out;
}

void load_weights(const std::vector<NamedParameter>& parameters, const SghmcOracle& oracle) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    NoGradGuard no_grad;
    parameters[i].tensor.copy_from(from_vector(oracle.tensors[i].w, parameters[i].tensor.shape()));
  }
}

double max_difference(const std::vector<NamedParameter>& parameters, const SghmcOracle& oracle) {
  double worst = 0;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const std::vector<double> w = parameters[i].tensor.to_vector();
    for (size_t e = 0; e < w.size(); ++e)
      worst = std::max(worst, std::abs(w[e] - oracle.tensors[i].w[e]) / (1e-3 + std::abs(oracle.tensors[i].w[e])));
  }
  return worst;
}

SghmcOptions test_options() {
  SghmcOptions o;
  o.learning_rate = 0.05;
  o.temperature = 0.05;  // large enough that every noise term moves the weights
  o.data_size = 64;
  o.eta = 0.1;
  o.beta1 = 0.1;
  o.beta2 = 1.0;
  o.weight_decay = 2e-3;
  o.seed = 1234;
  return o;
}

}  // namespace

TEST_CASE("the regenerated noise is the Philox normal draw, element for element") {
  // Same words and pairing as philox::normal_at; only the log/sin/cos differ (by float ulps).
  const uint64_t n = 1001;
  std::vector<float> draws(1004);
  noise::fill_normals(9, 77, 3, n, 0, static_cast<int64_t>(n), draws.data());
  double sum = 0, squares = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const double reference = philox::normal_at(9, 77, 3 * noise::blocks_per_draw(n), i);
    CHECK(std::abs(draws[i] - reference) < 4e-6);
    CHECK(noise::normal_at(9, 77, 3, n, i) == draws[i]);
    sum += draws[i];
    squares += draws[i] * draws[i];
  }
  CHECK(std::abs(sum / n) < 0.1);
  CHECK(std::abs(squares / n - 1.0) < 0.1);
  // A chunk that starts inside the tensor reads the same elements.
  std::vector<float> tail(8);
  noise::fill_normals(9, 77, 3, n, 996, 5, tail.data());
  for (int i = 0; i < 5; ++i) CHECK(tail[i] == draws[996 + i]);
}

TEST_CASE("fill_normals is noise::normal_at bit for bit, whichever path it takes") {
  // fill_normals runs the hand-written AVX-512 path in groups of 8 blocks where the build
  // has AVX-512, and the scalar form for the rest; normal_at is always the scalar form.
  // Counts that are and are not multiples of 32 blocks, starts at every 4th element, and a
  // draw whose blocks cross the 2^32 carry of the block index.
  const uint64_t numel = 5000;
  const uint64_t far_draw = (uint64_t{1} << 32) / noise::blocks_per_draw(numel);  // blocks around 2^32
  for (uint64_t draw : {uint64_t{0}, uint64_t{7}, far_draw}) {
    for (uint64_t first : {uint64_t{0}, uint64_t{4}, uint64_t{36}, uint64_t{1024}}) {
      for (int64_t count : {int64_t{1}, int64_t{31}, int64_t{128}, int64_t{129}, int64_t{1000}}) {
        std::vector<float> out(static_cast<size_t>((count + 3) / 4 * 4));
        noise::fill_normals(99, 1234567, draw, numel, first, count, out.data());
        int mismatches = 0;
        for (int64_t e = 0; e < count; ++e) {
          const float expected = noise::normal_at(99, 1234567, draw, numel, first + static_cast<uint64_t>(e));
          mismatches += std::memcmp(&expected, &out[static_cast<size_t>(e)], sizeof(float)) != 0;
        }
        INFO("draw ", draw, ", first ", first, ", count ", count);
        CHECK(mismatches == 0);
      }
    }
  }
}

TEST_CASE("sghmc_update_span is sghmc_update element for element, bit for bit") {
  // The CPU step's chunk loop (AVX-512 sixteen at a time with a masked tail, or the
  // compiler-vectorised scalar form) against the per-element function the CUDA kernel
  // runs. Large |rho| exercises the clamps of fast_exp; keep = 0 the pruning.
  const int count = 53;  // three full groups of 16 and a tail of 5
  std::vector<float> w(count), m(count), rho(count), g(count), xi_prev(count), xi(count), decay(count), keep(count);
  for (int e = 0; e < count; ++e) {
    w[e] = 0.05f * static_cast<float>(e % 11) - 0.2f;
    m[e] = 1e-3f * static_cast<float>(e % 5) - 2e-3f;
    rho[e] = 0.37f * static_cast<float>(e) - 9.0f;
    g[e] = 0.01f * static_cast<float>((e * 7) % 13) - 0.06f;
    xi_prev[e] = noise::normal_at(3, 4, 0, count, static_cast<uint64_t>(e));
    xi[e] = noise::normal_at(3, 4, 1, count, static_cast<uint64_t>(e));
    decay[e] = e % 3 == 0 ? 2.0f : 5e-4f;
    keep[e] = e % 7 == 0 ? 0.0f : 1.0f;
  }
  rho[1] = 120.0f;
  rho[2] = -120.0f;
  const SghmcCoefficients k = SghmcCoefficients::make(0.05, 0.05, 64, 0.1, 0.1, 1.0);
  std::vector<float> w_span = w, m_span = m, rho_span = rho;
  sghmc_update_span(w_span.data(), m_span.data(), rho_span.data(), g.data(), xi_prev.data(), xi.data(), decay.data(),
                    keep.data(), count, k);
  for (int e = 0; e < count; ++e) {
    sghmc_update(w[e], m[e], rho[e], g[e], xi_prev[e], xi[e], decay[e], keep[e], k);
    INFO("element ", e);
    CHECK(std::memcmp(&w[e], &w_span[e], sizeof(float)) == 0);
    CHECK(std::memcmp(&m[e], &m_span[e], sizeof(float)) == 0);
    CHECK(std::memcmp(&rho[e], &rho_span[e], sizeof(float)) == 0);
    CHECK(std::isfinite(rho[e]));
  }
}

TEST_CASE("the prior's group map: a conv element's group is its kernel slice, a linear element's its column") {
  // [out 2, in 3, 2, 2]: element (o, i, k) = (o 3 + i) 4 + k lies in slice o 3 + i.
  const PriorGroupMap conv = PriorLayout::of({2, 3, 2, 2}, PriorGrouping::ConvKernels).group_map();
  CHECK(conv.slice_of(17) == 4);
  CHECK(conv.row_of(4) == 1);
  CHECK(conv.column_of(4) == 1);
  CHECK(conv.group_of_element(17) == 4);
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t k = 0; k < 4; ++k) CHECK(conv.group_of_element((o * 3 + i) * 4 + k) == o * 3 + i);
  // [out 4, in 3]: element (o, j) = o 3 + j lies in column j's group.
  const PriorGroupMap linear = PriorLayout::of({4, 3}, PriorGrouping::LinearColumns).group_map();
  CHECK(linear.row_of(linear.slice_of(7)) == 2);
  CHECK(linear.column_of(linear.slice_of(7)) == 1);
  for (int64_t o = 0; o < 4; ++o)
    for (int64_t j = 0; j < 3; ++j) CHECK(linear.group_of_element(o * 3 + j) == j);
}

TEST_CASE("Sghmc::step is per-element sghmc_update on normal_at draws, bit for bit, for every prior form") {
  // The CPU step fuses the draws, the prior's decay and keep and the update (with AVX-512:
  // noise in registers, decays permuted from the per-group vector, sghmc_step_span and
  // PriorLanes). The reference walks the elements one by one with the prior's map
  // (optim/prior_group_map.h) and the scalar functions the CUDA kernel runs. The shapes cover
  // kernel sizes 9, 1 and 25, sizes that are not multiples of 16, 64 or 256, and one tensor
  // above the parallel threshold (32768).
  struct Case {
    Shape shape;
    PriorGrouping grouping;
    bool groups, rows, columns;
  };
  const std::vector<Case> cases = {
      {{48, 96, 3, 3}, PriorGrouping::ConvKernels, true, true, true},  // 41472 weights
      {{7, 5, 3, 3}, PriorGrouping::ConvKernels, true, false, false},
      {{7, 5, 3, 3}, PriorGrouping::ConvKernels, false, true, false},
      {{7, 5, 3, 3}, PriorGrouping::ConvKernels, false, false, false},
      {{37, 19, 1, 1}, PriorGrouping::ConvKernels, true, true, true},
      {{11, 6, 5, 5}, PriorGrouping::ConvKernels, true, false, true},
      {{13, 29}, PriorGrouping::LinearColumns, true, true, true},
      {{301}, PriorGrouping::None, false, true, false},
  };
  std::vector<NamedParameter> parameters;
  Generator generator(5, 6);
  for (size_t i = 0; i < cases.size(); ++i) {
    Tensor w = randn(cases[i].shape, generator) * 0.1;
    w.set_grad(randn(cases[i].shape, generator) * 0.01);
    std::string name = "p";
    name += std::to_string(i);  // (not "p" + ...: GCC 12 warns -Wrestrict falsely on it)
    parameters.push_back({name, w, cases[i].grouping});
  }
  SghmcOptions options = test_options();
  Sghmc optimizer(parameters, options);
  for (size_t i = 0; i < cases.size(); ++i) {
    PriorState& state = optimizer.prior_states()[i];
    const PriorLayout& l = state.layout;
    if (cases[i].groups)
      for (int64_t g = 0; g < l.group_count(); ++g) state.group_weight_decay.push_back(g % 3 == 0 ? 1.5f : 1e-3f * g);
    if (cases[i].rows)
      for (int64_t r = 0; r < l.rows; ++r) state.keep_rows.push_back(r % 4 == 1 ? 0 : 1);
    if (cases[i].columns)
      for (int64_t c = 0; c < l.columns; ++c) state.keep_columns.push_back(c % 5 == 3 ? 0 : 1);
  }
  // The reference state, as floats.
  std::vector<std::vector<float>> w, m, rho, g;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto floats = [](const Tensor& t) {
      std::vector<float> out;
      for (double v : t.to_vector()) out.push_back(static_cast<float>(v));
      return out;
    };
    w.push_back(floats(parameters[i].tensor));
    m.push_back(floats(optimizer.momentum(i)));
    rho.push_back(floats(optimizer.rho(i)));
    g.push_back(floats(parameters[i].tensor.grad()));
  }
  const SghmcCoefficients k = SghmcCoefficients::make(options.learning_rate, options.temperature, options.data_size,
                                                      options.eta, options.beta1, options.beta2);
  for (uint64_t step = 0; step < 2; ++step) {
    optimizer.step();
    for (size_t i = 0; i < cases.size(); ++i) {
      const PriorState& state = optimizer.prior_states()[i];
      const PriorLayout& l = state.layout;
      const uint64_t n = w[i].size();
      const PriorGroupMap map = l.group_map();
      for (uint64_t e = 0; e < n; ++e) {
        const int64_t element = static_cast<int64_t>(e), slice = map.slice_of(element);
        const int64_t row = map.row_of(slice), column = map.column_of(slice);
        const int64_t group = map.group_of_element(element);
        const float decay = state.group_weight_decay.empty() ? state.weight_decay
                                                             : state.group_weight_decay[static_cast<size_t>(group)];
        const float keep = state.row_kept(row) && state.column_kept(column) ? 1.0f : 0.0f;
        const uint64_t stream = Sghmc::noise_stream(i);
        sghmc_update(w[i][e], m[i][e], rho[i][e], g[i][e], noise::normal_at(options.seed, stream, step, n, e),
                     noise::normal_at(options.seed, stream, step + 1, n, e), decay, keep, k);
      }
      const float* wd = parameters[i].tensor.data<float>();
      const float* md = optimizer.momentum(i).data<float>();
      const float* rd = optimizer.rho(i).data<float>();
      int64_t differ = 0;
      for (uint64_t e = 0; e < n; ++e)
        differ += std::memcmp(&wd[e], &w[i][e], 4) != 0 || std::memcmp(&md[e], &m[i][e], 4) != 0 ||
                  std::memcmp(&rd[e], &rho[i][e], 4) != 0;
      INFO("tensor ", i, " ", cases[i].shape, ", step ", step);
      CHECK(differ == 0);
    }
  }
}

TEST_CASE("sghmc agrees with the oracle for 50 steps on a small network") {
  TinySamplerNet net, oracle_net;
  const auto parameters = net.parameters();
  SghmcOptions options = test_options();
  Sghmc optimizer(parameters, options);
  SghmcOracle oracle(parameters, options);
  CHECK(optimizer.name() == "sghmc");
  for (int64_t step = 0; step < 50; ++step) {
    const double c2 = cyclical_c2(options.learning_rate, step, 50, 2);
    const int64_t batch = (step % 4) * 4;
    net.loss_and_gradients(batch, 4);
    load_weights(oracle_net.parameters(), oracle);
    oracle_net.loss_and_gradients(batch, 4);
    optimizer.set_learning_rate(c2);
    optimizer.step();
    oracle.step(gradients_of(oracle_net.parameters()), c2);
    REQUIRE(max_difference(parameters, oracle) < 1e-4);
  }
  // rho moved (the noise and entropy terms are live) and the momentum matches too.
  const std::vector<double> rho = optimizer.rho(0).to_vector(), m = optimizer.momentum(0).to_vector();
  for (size_t e = 0; e < rho.size(); ++e) {
    CHECK(rho[e] != 0.0);
    CHECK(std::abs(rho[e] - oracle.tensors[0].rho[e]) < 1e-5);
    CHECK(std::abs(m[e] - oracle.tensors[0].m[e]) < 1e-5 * (1 + std::abs(oracle.tensors[0].m[e])) + 1e-6);
  }
  CHECK(optimizer.step_count() == 50);
}

TEST_CASE("with eta = 0 and T = 0 the step is heavy-ball SGD with momentum beta1 and step tau C^2") {
  Tensor w = from_vector({0.5, -1.0, 2.0, 0.25}, {4}).set_requires_grad(true);
  // Heavy ball: v = beta1 v - tau C^2 (g + lambda w); w += v, with tau = sigmoid(0) = 1/2.
  SghmcOptions options;
  options.learning_rate = 0.3;
  options.temperature = 0.0;
  options.data_size = 1000;
  options.eta = 0.0;
  options.beta1 = 0.7;
  options.weight_decay = 0.01;
  options.initial_momentum_std = 0.0;
  Sghmc optimizer({{"w", w, PriorGrouping::None}}, options);
  std::vector<double> x = {0.5, -1.0, 2.0, 0.25}, v(4, 0.0), curvature = {1.0, 2.0, 0.5, 3.0};
  for (int step = 0; step < 30; ++step) {
    std::vector<double> g(4);
    const std::vector<double> current = w.to_vector();
    for (int e = 0; e < 4; ++e) g[e] = curvature[e] * current[e];  // loss sum h w^2 / 2
    w.set_grad(from_vector(g, {4}));
    optimizer.step();
    for (int e = 0; e < 4; ++e) {
      const double grad = curvature[e] * x[e];
      v[e] = 0.7 * v[e] - 0.5 * 0.3 * (grad + 0.01 * x[e]);
      x[e] += v[e];
    }
    const std::vector<double> now = w.to_vector();
    for (int e = 0; e < 4; ++e) REQUIRE(now[e] == doctest::Approx(x[e]).epsilon(1e-5));
  }
  for (double r : optimizer.rho(0).to_vector()) CHECK(r == 0.0);  // tau stays 1/2
}

TEST_CASE("tau drifts from 0.5 to about 0.63 over 156,400 CIFAR steps") {
  // N = 50000, eta = 0.1, T = 1/N, C0^2 = 1 cyclical over M = 4 cycles, 200 epochs of 782
  // batches. The entropy term eta / (N tau) dominates, so d softplus(rho) = eta / N per
  // step: softplus(rho_K) = ln 2 + K eta / N, tau_K = 1 - 2^-1 e^(-K eta/N) = 0.634.
  const int64_t steps = 156400;
  Tensor w = from_vector({0.3, -0.2, 0.1}, {3}).set_requires_grad(true);
  const std::vector<double> curvature = {0.0, 0.5, 2.0};
  SghmcOptions options;
  options.learning_rate = 1.0;
  options.data_size = 50000;
  options.temperature = 1.0 / 50000;
  options.eta = 0.1;
  Sghmc optimizer({{"w", w, PriorGrouping::None}}, options);
  Tensor grad = zeros({3});
  w.set_grad(grad);
  float* g = grad.data<float>();
  const float* x = w.data<float>();
  for (int64_t r = 0; r < steps; ++r) {
    for (int e = 0; e < 3; ++e) g[e] = static_cast<float>(curvature[e]) * x[e];
    optimizer.set_learning_rate(cyclical_c2(1.0, r, steps, 4));
    optimizer.step();
  }
  const double expected = 1.0 - 0.5 * std::exp(-static_cast<double>(steps) * 0.1 / 50000);
  CHECK(expected == doctest::Approx(0.634).epsilon(1e-3));
  for (double rho : optimizer.rho(0).to_vector()) {
    const double tau = sigmoid(rho);
    MESSAGE("tau after 156,400 steps: " << tau);
    CHECK(tau > 0.62);
    CHECK(tau < 0.645);
    CHECK(tau == doctest::Approx(expected).epsilon(2e-3));
  }
}

TEST_CASE("the rho update is the derivative of the per-datum negative ELBO on a quadratic loss") {
  // With sigma = T C^1.5 tau and w = mu + sigma xi, the per-datum negative ELBO in tau is
  //   F(tau) = l(mu + T C^1.5 tau xi) + lambda T^2 C^3 tau^2 / 2 - ln(tau) / N + const,
  // l(w) = h (w - a)^2 / 2. The step moves rho by -eta dF/dtau (mirror descent in logit tau).
  const double T = 0.2, c2 = 0.4, N = 20, lambda = 0.3, eta = 0.5, h = 1.7, a = 0.4;
  const double C15 = std::pow(c2, 0.75);
  const std::vector<double> rho0 = {-1.0, -0.3, 0.0, 0.4, 1.2, 2.0}, mu = {0.3, -0.5, 1.1, 0.0, -2.0, 0.7};
  Tensor w = zeros({6}).set_requires_grad(true);
  SghmcOptions options;
  options.learning_rate = c2;
  options.temperature = T;
  options.data_size = N;
  options.eta = eta;
  options.weight_decay = lambda;
  options.seed = 42;
  Sghmc optimizer({{"w", w, PriorGrouping::None}}, options);
  // Set rho through the resume path (draw 0 stays the xi that produced w).
  NamedTensors state = optimizer.state_tensors();
  std::map<std::string, Tensor> tensors(state.begin(), state.end());
  tensors["w.rho"] = from_vector(rho0, {6});
  optimizer.load_state(tensors, optimizer.state_metadata());
  std::vector<double> x(6), g(6), xi(6);
  for (int e = 0; e < 6; ++e) {
    xi[e] = noise::normal_at(42, Sghmc::noise_stream(0), 0, 6, e);
    x[e] = mu[e] + T * C15 * sigmoid(rho0[e]) * xi[e];
    g[e] = h * (x[e] - a);
  }
  {
    NoGradGuard no_grad;
    w.copy_from(from_vector(x, {6}));
  }
  w.set_grad(from_vector(g, {6}));
  optimizer.set_learning_rate(c2);
  optimizer.step();
  const std::vector<double> rho1 = optimizer.rho(0).to_vector();
  for (int e = 0; e < 6; ++e) {
    auto F = [&](double tau) {
      const double sample = mu[e] + T * C15 * tau * xi[e];
      return 0.5 * h * (sample - a) * (sample - a) + 0.5 * lambda * T * T * c2 * std::sqrt(c2) * tau * tau -
             std::log(tau) / N;
    };
    const double tau = sigmoid(rho0[e]), delta = 1e-6;
    const double derivative = (F(tau + delta) - F(tau - delta)) / (2 * delta);
    const double step_derivative = (rho0[e] - rho1[e]) / eta;
    CHECK(step_derivative == doctest::Approx(derivative).epsilon(1e-4));
  }
}

TEST_CASE("masked weights are exactly zero after every step and their momentum is zero") {
  TinySamplerNet net;
  const auto parameters = net.parameters();
  Sghmc optimizer(parameters, test_options());
  PriorState& conv = optimizer.prior_states()[0];
  conv.keep_rows = {1, 0, 1, 1};     // filter 1 pruned
  conv.keep_columns = {1, 1, 0};     // input channel 2 pruned
  PriorState& linear = optimizer.prior_states()[3];
  linear.keep_columns = {1, 1, 0, 1};
  optimizer.apply_prior_masks();
  for (int step = 0; step < 10; ++step) {
    net.loss_and_gradients(4 * (step % 4), 4);
    optimizer.step();
    const Tensor& cw = net.conv_weight;
    const Tensor& cm = optimizer.momentum(0);
    for (int64_t o = 0; o < 4; ++o)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t k = 0; k < 9; ++k) {
          const bool pruned = o == 1 || i == 2;
          if (pruned) {
            REQUIRE(cw.at({o, i, k / 3, k % 3}) == 0.0);
            REQUIRE(cm.at({o, i, k / 3, k % 3}) == 0.0);
          } else {
            REQUIRE(cw.at({o, i, k / 3, k % 3}) != 0.0);
          }
        }
    for (int64_t r = 0; r < 3; ++r) REQUIRE(net.linear_weight.at({r, 2}) == 0.0);
  }
}

TEST_CASE("per-group weight decay reaches exactly the elements of its group") {
  // Two optimizers on identical weights: one with lambda0 on conv slice (2, 1) and linear
  // column 3, the other plain. Only those elements may differ.
  TinySamplerNet a, b;
  SghmcOptions options = test_options();
  options.weight_decay = 0.0;
  Sghmc plain(a.parameters(), options), grouped(b.parameters(), options);
  PriorState& conv = grouped.prior_states()[0];
  conv.group_weight_decay.assign(12, 0.0f);
  conv.group_weight_decay[2 * 3 + 1] = 5.0f;
  PriorState& linear = grouped.prior_states()[3];
  linear.group_weight_decay.assign(4, 0.0f);
  linear.group_weight_decay[3] = 5.0f;
  a.loss_and_gradients();
  b.loss_and_gradients();
  plain.step();
  grouped.step();
  for (int64_t o = 0; o < 4; ++o)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t k = 0; k < 9; ++k) {
        const double x = a.conv_weight.at({o, i, k / 3, k % 3}), y = b.conv_weight.at({o, i, k / 3, k % 3});
        if (o == 2 && i == 1) CHECK(std::abs(y) < std::abs(x));
        else CHECK(x == y);
      }
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 4; ++c) {
      const double x = a.linear_weight.at({r, c}), y = b.linear_weight.at({r, c});
      if (c == 3) CHECK(x != y);
      else CHECK(x == y);
    }
}

TEST_CASE("save and resume continue the same trajectory bit for bit, masks included") {
  const std::string path = (std::filesystem::temp_directory_path() / "slab_test_sghmc_state.safetensors").string();
  TinySamplerNet net;
  SghmcOptions options = test_options();
  options.spike_and_slab = true;
  auto run = [&](Sghmc& optimizer, int steps, int start) {
    for (int s = start; s < start + steps; ++s) {
      net.loss_and_gradients(4 * (s % 4), 4);
      optimizer.set_learning_rate(cyclical_c2(0.05, s, 20, 2));
      optimizer.step();
    }
  };
  Sghmc first(net.parameters(), options);
  CHECK(first.name() == "sghmc-spl");
  first.prior_states()[0].keep_columns = {1, 0, 1};
  first.prior_states()[3].group_weight_decay = {1e-3f, 2e-3f, 3e-3f, 4e-3f};
  first.apply_prior_masks();
  run(first, 10, 0);
  NamedTensors saved = first.state_tensors();
  for (const NamedParameter& p : net.parameters()) saved.emplace_back("model." + p.name, p.tensor);
  save_safetensors(path, saved, first.state_metadata());
  run(first, 10, 10);
  const auto reference = net.parameters();
  std::vector<std::vector<double>> expected;
  for (const NamedParameter& p : reference) expected.push_back(p.tensor.to_vector());

  // A fresh network and optimizer (other seed, no masks) resumed from the file.
  TinySamplerNet fresh(99);
  fresh.inputs = net.inputs;  // same data, other starting weights
  fresh.labels = net.labels;
  net = fresh;
  SghmcOptions other_options = options;
  other_options.seed = 7;
  Sghmc second(net.parameters(), other_options);
  const SafetensorsContents file = load_safetensors(path);
  for (const NamedParameter& p : net.parameters()) {
    NoGradGuard no_grad;
    p.tensor.copy_from(file.at("model." + p.name));
  }
  second.load_state(file.tensors, file.metadata);
  CHECK(second.prior_states()[0].keep_columns == std::vector<uint8_t>{1, 0, 1});
  CHECK(second.prior_states()[3].group_weight_decay == std::vector<float>{1e-3f, 2e-3f, 3e-3f, 4e-3f});
  CHECK(second.step_count() == 10);
  run(second, 10, 10);
  const auto resumed = net.parameters();
  for (size_t i = 0; i < resumed.size(); ++i) CHECK(resumed[i].tensor.to_vector() == expected[i]);
  std::filesystem::remove(path);
}

TEST_CASE("state is m and rho per weight plus per-group decay: at most 8.5 bytes per parameter") {
  // ResNet-style shapes: conv weights dominate.
  std::vector<NamedParameter> parameters = {
      {"conv1", zeros({64, 64, 3, 3}).set_requires_grad(true), PriorGrouping::ConvKernels},
      {"conv2", zeros({128, 64, 3, 3}).set_requires_grad(true), PriorGrouping::ConvKernels},
      {"bn", zeros({128}).set_requires_grad(true), PriorGrouping::None},
      {"fc", zeros({10, 128}).set_requires_grad(true), PriorGrouping::None}};
  SghmcOptions options;
  options.temperature = 1e-4;
  options.data_size = 50000;
  Sghmc optimizer(parameters, options);
  int64_t count = 0;
  for (const NamedParameter& p : parameters) count += p.tensor.numel();
  CHECK(optimizer.state_bytes() == static_cast<size_t>(8 * count + 4 * 8));  // before any prior state
  for (auto& state : optimizer.prior_states()) {
    state.group_weight_decay.assign(static_cast<size_t>(state.layout.group_count()), 1e-3f);
    state.keep_rows.assign(static_cast<size_t>(state.layout.rows), 1);
    state.keep_columns.assign(static_cast<size_t>(state.layout.columns), 1);
  }
  const double per_parameter = static_cast<double>(optimizer.state_bytes()) / static_cast<double>(count);
  MESSAGE("sghmc-spl state bytes per parameter: " << per_parameter);
  CHECK(per_parameter <= 8.5);
  CHECK(per_parameter > 8.0);
}

TEST_CASE("bad options and bad state are clear errors") {
  Tensor w = zeros({3}).set_requires_grad(true);
  SghmcOptions options;
  options.data_size = 100;
  CHECK_THROWS_WITH_AS(Sghmc({{"w", w}}, options), doctest::Contains("temperature T must be given"), Error);
  options.temperature = 0.01;
  options.data_size = 0;
  CHECK_THROWS_WITH_AS(Sghmc({{"w", w}}, options), doctest::Contains("training-set size N"), Error);
  options.data_size = 100;
  options.beta1 = 1.0;
  CHECK_THROWS_WITH_AS(Sghmc({{"w", w}}, options), doctest::Contains("beta1"), Error);
  options.beta1 = 0.1;
  Tensor d = zeros({3}, {DType::f64}).set_requires_grad(true);
  CHECK_THROWS_WITH_AS(Sghmc({{"d", d}}, options), doctest::Contains("float64"), Error);
  Sghmc optimizer({{"w", w}}, options);
  optimizer.prior_states()[0].keep_rows = {1, 0};
  w.set_grad(zeros({3}));
  CHECK_THROWS_WITH_AS(optimizer.step(), doctest::Contains("2 row masks for 3 rows"), Error);
  optimizer.prior_states()[0].keep_rows.clear();
  // A learning rate whose C^3 overflows float would freeze the sampler (tau -> 0) silently.
  const std::vector<double> before = w.to_vector();
  optimizer.set_learning_rate(1e30);
  CHECK_THROWS_WITH_AS(optimizer.step(), doctest::Contains("eta T^2 C^3 overflows float"), Error);
  CHECK(w.to_vector() == before);
  optimizer.set_learning_rate(1.0);
  optimizer.step();
  std::map<std::string, Tensor> state = {{"w.momentum", zeros({3})}};
  CHECK_THROWS_WITH_AS(optimizer.load_state(state, optimizer.state_metadata()), doctest::Contains("'w.rho'"), Error);
  state["w.rho"] = zeros({4});
  CHECK_THROWS_WITH_AS(optimizer.load_state(state, optimizer.state_metadata()), doctest::Contains("shape [4]"), Error);
}

namespace {

// A generic oracle harness: the optimizer and the oracle each run the tiny network on their
// own weights for 50 steps; after every step the weights must agree.
struct OracleWeights {
  std::vector<std::vector<double>> w;
};

void load_oracle_weights(const std::vector<NamedParameter>& parameters, const std::vector<std::vector<double>>& w) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    NoGradGuard no_grad;
    parameters[i].tensor.copy_from(from_vector(w[i], parameters[i].tensor.shape()));
  }
}

double worst_gap(const std::vector<NamedParameter>& parameters, const std::vector<std::vector<double>>& w) {
  double worst = 0;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const std::vector<double> x = parameters[i].tensor.to_vector();
    for (size_t e = 0; e < x.size(); ++e) worst = std::max(worst, std::abs(x[e] - w[i][e]) / (1e-3 + std::abs(w[i][e])));
  }
  return worst;
}

// The largest |x - w| / (1e-3 + terms): the gap relative to the magnitudes `terms` whose
// sum w is.
double worst_gap_of_sum(const std::vector<NamedParameter>& parameters, const std::vector<std::vector<double>>& w,
                        const std::vector<std::vector<double>>& terms) {
  double worst = 0;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const std::vector<double> x = parameters[i].tensor.to_vector();
    for (size_t e = 0; e < x.size(); ++e)
      worst = std::max(worst, std::abs(x[e] - w[i][e]) / (1e-3 + terms[i][e]));
  }
  return worst;
}

// What float32 arithmetic may lose after `steps` steps of the adaptive VB update, relative to
// the magnitudes summed: each step rounds about 16 times (m: 2, precision: 4, the power: 2,
// the step on mu: 4, the draw w = mu + xi / sqrt(precision): 4), each rounding at most
// u = 2^-24 relative, and the errors carried in m, precision and mu add up from step to
// step, so the bound grows linearly: 16 u per step. It holds at every optimisation level
// (no tolerance tuned to -O2's operation order); the float64 oracle's own error is far below.
double float32_rounding_bound(int64_t steps) { return 16.0 * static_cast<double>(steps + 1) * 0x1p-24; }

}  // namespace

TEST_CASE("csghmc agrees with the oracle for 50 steps, noise switched on half way") {
  TinySamplerNet net, oracle_net;
  const auto parameters = net.parameters();
  CsghmcOptions options;
  options.learning_rate = 0.1;
  options.alpha = 0.9;
  options.weight_decay = 5e-3;
  options.temperature = 0.5;  // large, so the injected noise is visible
  options.data_size = 64;
  options.seed = 11;
  Csghmc optimizer(parameters, options);
  std::vector<std::vector<double>> w, v;
  for (const NamedParameter& p : parameters) {
    w.push_back(p.tensor.to_vector());
    v.push_back(std::vector<double>(w.back().size(), 0.0));
  }
  for (int64_t step = 0; step < 50; ++step) {
    const double lr = cyclical_c2(0.1, step, 50, 2);
    const bool noise = step >= 25;
    const int64_t batch = (step % 4) * 4;
    net.loss_and_gradients(batch, 4);
    load_oracle_weights(oracle_net.parameters(), w);
    oracle_net.loss_and_gradients(batch, 4);
    const auto g = gradients_of(oracle_net.parameters());
    optimizer.set_learning_rate(lr);
    optimizer.set_noise(noise);
    optimizer.step();
    for (size_t i = 0; i < w.size(); ++i)
      for (size_t e = 0; e < w[i].size(); ++e) {
        const double d = g[i][e] + 5e-3 * w[i][e];
        v[i][e] = (1 - 0.9) * v[i][e] - lr * d;
        if (noise)
          v[i][e] += std::sqrt(2 * lr * 0.9 * 0.5 / 64) *
                     noise::normal_at(11, noise::kCsghmcDomain + i, static_cast<uint64_t>(step), w[i].size(), e);
        w[i][e] += v[i][e];
      }
    REQUIRE(worst_gap(parameters, w) < 1e-4);
  }
  CHECK(Csghmc::sampling_phase(45, 50));
  CHECK(!Csghmc::sampling_phase(44, 50));
  CHECK(Csghmc::sampling_phase(99, 50));
  CHECK(!Csghmc::sampling_phase(50, 50));
}

TEST_CASE("the naive adaptive VB agrees with the oracle for 50 steps") {
  TinySamplerNet net, oracle_net;
  const std::vector<std::vector<double>> initial = [&] {
    std::vector<std::vector<double>> out;
    for (const NamedParameter& p : net.parameters()) out.push_back(p.tensor.to_vector());
    return out;
  }();
  const auto parameters = net.parameters();
  VbAdaptiveOptions options;
  options.learning_rate = 0.05;
  options.beta = 0.8;
  options.gamma = 0.1;
  options.kappa = 2.0;
  options.alpha = 0.75;
  options.weight_decay = 1e-2;
  options.initial_precision = 1e3;
  options.seed = 3;
  VbAdaptive optimizer(parameters, options);
  // w = mu + n with n = xi / sqrt(precision): float32 rounds w relative to |mu| + |n|, not
  // to |w| (the two terms may cancel), so the gaps below are measured relative to `terms`.
  std::vector<std::vector<double>> mu = initial, precision, m, w, terms;
  auto sample = [&](uint64_t draw) {
    w = mu;
    terms = mu;
    for (size_t i = 0; i < mu.size(); ++i)
      for (size_t e = 0; e < mu[i].size(); ++e) {
        const double n = noise::normal_at(3, noise::kVbDomain + i, draw, mu[i].size(), e) / std::sqrt(precision[i][e]);
        w[i][e] = mu[i][e] + n;
        terms[i][e] = std::abs(mu[i][e]) + std::abs(n);
      }
  };
  for (const auto& x : initial) {
    precision.push_back(std::vector<double>(x.size(), 1e3));
    m.push_back(std::vector<double>(x.size(), 0.0));
  }
  sample(0);
  REQUIRE(worst_gap(parameters, w) < 1e-5);  // the constructor drew the first sample
  for (int64_t step = 0; step < 50; ++step) {
    const int64_t batch = (step % 4) * 4;
    net.loss_and_gradients(batch, 4);
    load_oracle_weights(oracle_net.parameters(), w);
    oracle_net.loss_and_gradients(batch, 4);
    const auto g = gradients_of(oracle_net.parameters());
    optimizer.step();
    for (size_t i = 0; i < mu.size(); ++i)
      for (size_t e = 0; e < mu[i].size(); ++e) {
        m[i][e] = 0.8 * m[i][e] + 0.2 * g[i][e];
        precision[i][e] = (1 - 2.0 * 0.1) * precision[i][e] + 0.1 * (g[i][e] * g[i][e] + 1e-2);
        mu[i][e] -= 0.05 * std::pow(1.0 / precision[i][e], 0.75) * (m[i][e] + 1e-2 * mu[i][e]);
      }
    sample(static_cast<uint64_t>(step) + 1);
    REQUIRE(worst_gap_of_sum(parameters, w, terms) < float32_rounding_bound(step + 1));
  }
  optimizer.write_mean();
  CHECK(worst_gap_of_sum(parameters, mu, terms) < float32_rounding_bound(50));
  optimizer.write_sample();
  CHECK(worst_gap_of_sum(parameters, w, terms) < float32_rounding_bound(50));
  CHECK_THROWS_WITH_AS(VbAdaptive(parameters, [] { VbAdaptiveOptions o; o.alpha = 0.3; return o; }()),
                       doctest::Contains("alpha must be in [1/2, 1]"), Error);
}

TEST_CASE("IVON agrees with the oracle for 50 steps, clipping included") {
  TinySamplerNet net, oracle_net;
  std::vector<std::vector<double>> m;
  for (const NamedParameter& p : net.parameters()) m.push_back(p.tensor.to_vector());
  const auto parameters = net.parameters();
  IvonOptions options;
  options.learning_rate = 0.05;
  options.data_size = 64;
  options.hessian_init = 0.5;
  options.beta1 = 0.9;
  options.beta2 = 0.99;
  options.weight_decay = 1e-2;
  options.clip_radius = 0.2;
  options.seed = 8;
  Ivon optimizer(parameters, options);
  const double a = 0.05 * (0.5 + 1e-2);  // rescaled learning rate
  std::vector<std::vector<double>> h, gbar, w;
  for (const auto& x : m) {
    h.push_back(std::vector<double>(x.size(), 0.5));
    gbar.push_back(std::vector<double>(x.size(), 0.0));
  }
  auto z = [&](size_t i, uint64_t draw, size_t e) { return noise::normal_at(8, noise::kIvonDomain + i, draw, m[i].size(), e); };
  auto sample = [&](uint64_t draw) {
    w = m;
    for (size_t i = 0; i < m.size(); ++i)
      for (size_t e = 0; e < m[i].size(); ++e) w[i][e] = m[i][e] + z(i, draw, e) / std::sqrt(64 * (h[i][e] + 1e-2));
  };
  sample(0);
  REQUIRE(worst_gap(parameters, w) < 1e-5);
  int clipped = 0;
  for (int64_t step = 0; step < 50; ++step) {
    const int64_t batch = (step % 4) * 4;
    net.loss_and_gradients(batch, 4);
    load_oracle_weights(oracle_net.parameters(), w);
    oracle_net.loss_and_gradients(batch, 4);
    const auto g = gradients_of(oracle_net.parameters());
    optimizer.step();
    const double t = static_cast<double>(step + 1);
    for (size_t i = 0; i < m.size(); ++i)
      for (size_t e = 0; e < m[i].size(); ++e) {
        const double sigma = 1.0 / std::sqrt(64 * (h[i][e] + 1e-2));
        const double eps = sigma * z(i, static_cast<uint64_t>(step), e);
        const double hhat = g[i][e] * eps / (sigma * sigma);
        gbar[i][e] = 0.9 * gbar[i][e] + 0.1 * g[i][e];
        h[i][e] = 0.99 * h[i][e] + 0.01 * hhat + 0.5 * 0.01 * 0.01 * (h[i][e] - hhat) * (h[i][e] - hhat) / (h[i][e] + 1e-2);
        double direction = (gbar[i][e] / (1 - std::pow(0.9, t)) + 1e-2 * m[i][e]) / (h[i][e] + 1e-2);
        if (std::abs(direction) > 0.2) ++clipped;
        direction = std::clamp(direction, -0.2, 0.2);
        m[i][e] -= a * direction;
      }
    sample(static_cast<uint64_t>(step) + 1);
    REQUIRE(worst_gap(parameters, w) < 1e-4);
  }
  CHECK(clipped > 0);  // the clip radius was exercised
  optimizer.write_mean();
  CHECK(worst_gap(parameters, m) < 1e-4);
}

TEST_CASE("baseline optimizers resume exactly from their saved state") {
  auto check_resume = [](auto make) {
    TinySamplerNet net;
    auto first = make(net.parameters());
    for (int s = 0; s < 5; ++s) {
      net.loss_and_gradients(4 * (s % 4), 4);
      first->step();
    }
    const NamedTensors saved_state = first->state_tensors();
    std::map<std::string, Tensor> state;
    for (const auto& [name, tensor] : saved_state) state[name] = tensor.clone();
    const Metadata metadata = first->state_metadata();
    std::vector<std::vector<double>> weights;
    for (const NamedParameter& p : net.parameters()) weights.push_back(p.tensor.to_vector());
    for (int s = 5; s < 10; ++s) {
      net.loss_and_gradients(4 * (s % 4), 4);
      first->step();
    }
    std::vector<std::vector<double>> expected;
    for (const NamedParameter& p : net.parameters()) expected.push_back(p.tensor.to_vector());

    TinySamplerNet other;
    load_oracle_weights(other.parameters(), weights);
    auto second = make(other.parameters());
    second->load_state(state, metadata);
    load_oracle_weights(other.parameters(), weights);  // the checkpoint's model weights
    for (int s = 5; s < 10; ++s) {
      other.loss_and_gradients(4 * (s % 4), 4);
      second->step();
    }
    for (size_t i = 0; i < expected.size(); ++i) CHECK(other.parameters()[i].tensor.to_vector() == expected[i]);
  };
  check_resume([](std::vector<NamedParameter> p) {
    CsghmcOptions o;
    o.data_size = 64;
    o.temperature = 0.1;
    auto opt = std::make_unique<Csghmc>(p, o);
    opt->set_noise(true);
    return opt;
  });
  check_resume([](std::vector<NamedParameter> p) {
    VbAdaptiveOptions o;
    o.initial_precision = 1e3;
    return std::make_unique<VbAdaptive>(p, o);
  });
  check_resume([](std::vector<NamedParameter> p) {
    IvonOptions o;
    o.data_size = 64;
    return std::make_unique<Ivon>(p, o);
  });
}

// The oracle tests with bf16 matrix products (docs/algorithm.md#bf16-matrix-products). The
// samplers' steps are element-wise float32 arithmetic with no products in them, so bf16 can
// change only the gradient they are handed: TinySamplerNet's two `linear` calls (forward
// and backward) are the only matrix products here. The tests of the steps on hand-set
// gradients (heavy-ball SGD at eta = T = 0, the tau drift, the rho update as dF/dtau, masks,
// group decay, resume) never call a matrix product and are unchanged by the precision.
namespace {

struct Bf16Products {
  Bf16Products() { set_matmul_precision(Precision::bf16); }
  ~Bf16Products() { set_matmul_precision(Precision::fp32); }
};


}  // namespace

TEST_CASE("bf16 products: sghmc agrees with the oracle at the float32 tolerance when both take the same gradient") {
  TinySamplerNet net, fp32_net;
  const auto parameters = net.parameters();
  SghmcOptions options = test_options();
  Sghmc optimizer(parameters, options);
  SghmcOracle oracle(parameters, options);
  const Bf16Products bf16;
  double worst_gradient_change = 0;  // |g_bf16 - g_fp32| / max |g_fp32| of the tensor
  for (int64_t step = 0; step < 50; ++step) {
    const double c2 = cyclical_c2(options.learning_rate, step, 50, 2);
    const int64_t batch = (step % 4) * 4;
    net.loss_and_gradients(batch, 4);
    const auto g = gradients_of(parameters);
    {  // the float32 gradient at the same weights: bf16 did change it
      set_matmul_precision(Precision::fp32);
      load_oracle_weights(fp32_net.parameters(), [&] {
        std::vector<std::vector<double>> w;
        for (const NamedParameter& p : parameters) w.push_back(p.tensor.to_vector());
        return w;
      }());
      fp32_net.loss_and_gradients(batch, 4);
      set_matmul_precision(Precision::bf16);
      const auto g32 = gradients_of(fp32_net.parameters());
      for (size_t i = 0; i < g.size(); ++i) {
        double scale = 0;
        for (double x : g32[i]) scale = std::max(scale, std::abs(x));
        for (size_t e = 0; e < g[i].size(); ++e)
          worst_gradient_change = std::max(worst_gradient_change, std::abs(g[i][e] - g32[i][e]) / scale);
      }
    }
    optimizer.set_learning_rate(c2);
    optimizer.step();
    oracle.step(g, c2);
    // the float32 oracle test's tolerance, unchanged: the step itself holds no product
    REQUIRE(max_difference(parameters, oracle) < 1e-4);
  }
  MESSAGE("largest change of a gradient element by bf16 products, relative to its tensor's largest: "
          << worst_gradient_change);
  CHECK(worst_gradient_change > 1e-4);  // bf16 was live, far above float32's rounding
}

TEST_CASE("bf16 products: with its own network the oracle's gap is the gradient discontinuity the step carries") {
  // The float32 test runs the oracle's network on the oracle's weights, which differ from
  // the optimizer's by float32 rounding, and relies on the gradient being smooth: weights a
  // few float32 ulps apart give gradients a few ulps apart. With bf16 inputs the forward
  // reads bf16(w), a step function of w: where the two sides' copies of a weight straddle a
  // rounding midpoint, they read neighbouring bf16 values, 2^-7 |w| apart, and a gradient
  // element jumps by up to 2^-7 of its terms (the backward's bf16(dL/dy) jumps alike, and
  // a ReLU whose input crosses 0 switches). A straddle has probability gap / spacing per
  // weight and step, about 2^-23 / 2^-7 = 2^-16 per ulp of gap: over 120 multiplied weights
  // and 50 steps, rare but possible, and where it falls depends on the float32 sums of the
  // CPU path. So the tolerance must not rely on its absence: it carries the measured
  // gradient gap dg = |g(w) - g(w')| through the step, to first order, per element,
  //   d_rho' = d_rho + eta (T^2 C^3 lambda d_tau + T C^1.5 |xi_prev| dg + d_tau / (N tau^2))
  //   d_m'   = beta1 d_m + C^2 beta2 (dg + lambda d_w)
  //   d_w'   = d_w + tau d_m' + |m'| d_rho' / 4          (d tau <= d rho / 4)
  // on top of the float32 test's 1e-4 (1e-3 + |w|). Without a straddle dg is float32-sized
  // and the bound is the float32 test's; with one, it widens by tau C^2 dg / (1 - beta1).
  TinySamplerNet net, oracle_net;
  const auto parameters = net.parameters();
  SghmcOptions options = test_options();
  Sghmc optimizer(parameters, options);
  SghmcOracle oracle(parameters, options);
  const Bf16Products bf16;
  const double T = options.temperature, N = options.data_size, eta = options.eta, b1 = options.beta1;
  std::vector<std::vector<double>> d_w, d_m, d_rho;
  for (const auto& t : oracle.tensors) {
    d_w.push_back(std::vector<double>(t.w.size(), 0.0));
    d_m.push_back(d_w.back());
    d_rho.push_back(d_w.back());
  }
  double worst_gap = 0, worst_carried = 0, worst_dg = 0;
  for (int64_t step = 0; step < 50; ++step) {
    const double c2 = cyclical_c2(options.learning_rate, step, 50, 2), C = std::sqrt(c2);
    const int64_t batch = (step % 4) * 4;
    net.loss_and_gradients(batch, 4);
    load_weights(oracle_net.parameters(), oracle);
    oracle_net.loss_and_gradients(batch, 4);
    const auto g = gradients_of(parameters), g_oracle = gradients_of(oracle_net.parameters());
    std::vector<uint64_t> draws;
    for (const auto& t : oracle.tensors) draws.push_back(t.draw);
    std::vector<std::vector<double>> tau_old;
    for (const auto& t : oracle.tensors) {
      tau_old.push_back(t.rho);
      for (double& r : tau_old.back()) r = sigmoid(r);
    }
    optimizer.set_learning_rate(c2);
    optimizer.step();
    oracle.step(g_oracle, c2);
    for (size_t i = 0; i < oracle.tensors.size(); ++i) {
      const auto& t = oracle.tensors[i];
      const uint64_t n = t.w.size();
      const std::vector<double> w = parameters[i].tensor.to_vector();
      for (uint64_t e = 0; e < n; ++e) {
        const double dg = std::abs(g[i][e] - g_oracle[i][e]), lambda = t.lambda[e];
        const double xi_prev = noise::normal_at(options.seed, noise::kSghmcDomain + i, draws[i], n, e);
        const double d_tau = d_rho[i][e] / 4, tau0 = tau_old[i][e];
        d_rho[i][e] += eta * (T * T * c2 * C * lambda * d_tau + T * std::pow(C, 1.5) * std::abs(xi_prev) * dg +
                              d_tau / (N * tau0 * tau0));
        d_m[i][e] = b1 * d_m[i][e] + c2 * options.beta2 * (dg + lambda * d_w[i][e]);
        d_w[i][e] += sigmoid(t.rho[e]) * d_m[i][e] + std::abs(t.m[e]) * d_rho[i][e] / 4;
        const double gap = std::abs(w[e] - t.w[e]), scale = 1e-3 + std::abs(t.w[e]);
        REQUIRE(gap <= d_w[i][e] + 1e-4 * scale);
        worst_gap = std::max(worst_gap, gap / scale);
        worst_carried = std::max(worst_carried, d_w[i][e] / scale);
        worst_dg = std::max(worst_dg, dg / (1e-3 + std::abs(g_oracle[i][e])));
      }
    }
  }
  MESSAGE("bf16, oracle on its own network: largest gap " << worst_gap << " of 1e-3 + |w| (float32 test: < 1e-4), "
          "largest carried bound " << worst_carried << ", largest gradient gap " << worst_dg << " of 1e-3 + |g|");
}
