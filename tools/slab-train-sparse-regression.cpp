// slab-train-sparse-regression: the paper's simulated variable-selection examples
// (docs/algorithm.md#variable-selection) with EM-MCMC, i.e. the preconditioned SGHMC sampler
// (sghmc-spl) with the spike-and-slab group prior on the input columns of every Linear weight.
//
//   slab-train-sparse-regression --example 1        (P-5-3-1, MSE, 3000 epochs)
//   slab-train-sparse-regression --example 2        (P-6-4-3-1, MSE, 6000 epochs)
//   slab-train-sparse-regression --example 3        (P-6-4-3-1, BCE, 3000 epochs)
//
// Defaults are the paper's settings (bayes/presets.h, regression-1|2|3); every value can be
// overridden. Prints its configuration, progress, the kept input variables (x_j is kept
// when column j of the first layer is not pruned), the sparsity of all parameters (biases
// included) and the test MSE or accuracy, and ends with one line
//   kept=1,2,3,4,5 sparsity=0.9897 test_mse=1.108      (test_acc=... for Example 3)
// With --restarts K it runs K chains on the same data and reports the one with the lowest
// BIC on the training data (bayes/variable_selection.h), after a line per chain.
// Errors print "error: ..." and exit 2 for usage, 1 otherwise.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bayes/presets.h"
#include "bayes/spike_slab.h"
#include "bayes/variable_selection.h"
#include "core/backend.h"
#include "core/ops.h"
#include "core/random.h"
#include "data/sparse_regression.h"
#include "tools/trainer/variable_selection_trainer.h"
#include "tools/trainer/errors.h"

namespace {

using namespace slab;
using namespace slab::tools;

struct Config {
  int example = 1;
  uint64_t seed = 1;
  int64_t features = 0, train_size = 10240, test_size = 1024, batch_size = 1024;
  std::optional<int64_t> epochs, cycles, warm_up;
  std::optional<double> lr, lambda1, lambda0, soft_threshold, hard_threshold, hard_threshold_conv, theta, eta;
  std::optional<std::string> temperature, hard_test, estep;
  std::vector<double> betas;
  std::string shuffle = "rows";
  bool compact = true;
  int64_t log_every = 0;
  int64_t restarts = 1;
  int threads = 0;
};

std::string join(const std::vector<int64_t>& values) {
  std::string out;
  for (int64_t v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out.empty() ? "none" : out;
}

// The kept variables for a chain's one-line summary: a chain that never fits keeps
// hundreds, so at most the first `limit` are listed, then how many there are.
std::string brief(const std::vector<int64_t>& values, size_t limit = 12) {
  if (values.size() <= limit) return join(values);
  return join(std::vector<int64_t>(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(limit))) + ",... (" +
         std::to_string(values.size()) + " variables)";
}

// The run's settings: the example's preset with the flags applied. Anything wrong here
// is a usage error (exit 2).
struct Settings {
  int64_t epochs = 0, cycles = 0;
  double lr = 0, eta = 0, beta1 = 0, beta2 = 0;
  std::string temperature;
  SpikeSlabOptions prior;
};

Settings resolve(const Config& c) {
  const SamplerPreset preset = sampler_preset("regression-" + std::to_string(c.example));
  Settings s;
  s.epochs = c.epochs.value_or(preset.epochs);
  s.cycles = c.cycles.value_or(preset.cycles);
  s.lr = c.lr.value_or(preset.learning_rate);
  s.eta = c.eta.value_or(preset.eta);
  SLAB_CHECK(c.betas.empty() || c.betas.size() == 2, "--betas takes two values, got ", c.betas.size());
  s.beta1 = c.betas.empty() ? preset.beta1 : c.betas[0];
  s.beta2 = c.betas.empty() ? preset.beta2 : c.betas[1];
  s.temperature = c.temperature.value_or(preset.temperature);
  SpikeSlabOptions& prior = s.prior;
  prior = preset.prior;
  if (c.lambda1) prior.lambda1 = *c.lambda1;
  if (c.lambda0) prior.lambda0 = *c.lambda0;
  if (c.soft_threshold) prior.soft_threshold = *c.soft_threshold;
  if (c.hard_threshold) prior.hard_threshold_linear = *c.hard_threshold;
  if (c.hard_threshold_conv) prior.hard_threshold_conv = *c.hard_threshold_conv;
  if (c.hard_test) prior.hard_test = parse_hard_test(*c.hard_test);
  if (c.estep) prior.estep = parse_estep(*c.estep);
  if (c.theta) prior.theta = *c.theta;
  if (c.warm_up) prior.warm_up = *c.warm_up;
  prior.data_size = static_cast<double>(c.train_size);
  SLAB_CHECK(s.epochs > 0 && s.cycles > 0, "--epochs and --cycles must be positive, got ", s.epochs, " and ", s.cycles);
  SLAB_CHECK(c.train_size > 0 && c.test_size > 0, "--train-size and --test-size must be positive");
  SLAB_CHECK(c.batch_size > 0 && c.batch_size <= c.train_size, "--batch-size must be in [1, ", c.train_size, "], got ",
             c.batch_size);
  SLAB_CHECK(c.shuffle == "rows" || c.shuffle == "batches", "--shuffle must be 'rows' or 'batches', got '", c.shuffle, "'");
  SLAB_CHECK(c.features == 0 || c.features >= 5, "--features must be 0 (the example's P) or >= 5, got ", c.features);
  SLAB_CHECK(s.lr > 0, "--lr must be positive, got ", s.lr);
  SLAB_CHECK(c.restarts >= 1, "--restarts must be at least 1, got ", c.restarts);
  const int64_t steps = s.epochs * (c.train_size / c.batch_size);
  SLAB_CHECK(s.cycles <= steps, "--cycles must be at most the number of steps (", steps, "), got ", s.cycles);
  parse_temperature(s.temperature, static_cast<double>(c.train_size));  // validates the text
  prior.validate();
  return s;
}

int run(const Config& c, const Settings& settings) {
  if (c.threads > 0) omp_set_num_threads(c.threads);
  const data::SparseRegressionData data =
      data::make_sparse_regression(c.example, c.seed, c.train_size, c.test_size, c.features);
  const double n = static_cast<double>(c.train_size);
  VariableSelectionConfig config;
  config.hidden = c.example == 1 ? std::vector<int64_t>{5, 3} : std::vector<int64_t>{6, 4, 3};
  config.classification = data.classification;
  config.epochs = settings.epochs;
  config.batch_size = c.batch_size;
  config.cycles = settings.cycles;
  config.learning_rate = settings.lr;
  config.temperature = parse_temperature(settings.temperature, n);
  config.eta = settings.eta;
  config.beta1 = settings.beta1;
  config.beta2 = settings.beta2;
  config.prior = settings.prior;
  config.seed = c.seed;
  config.reshuffle_rows = c.shuffle == "rows";
  config.compact = c.compact;
  config.log_every = c.log_every > 0 ? c.log_every : std::max<int64_t>(1, settings.epochs / 30);

  std::ostringstream architecture;
  architecture << data.features;
  for (int64_t h : config.hidden) architecture << "-" << h;
  architecture << "-1";
  const int64_t batches = c.train_size / c.batch_size;
  std::printf("slab-train-sparse-regression: example %d (%s), seed %llu\n", c.example,
              data.classification ? "classification, BCE with logits" : "regression, MSE",
              static_cast<unsigned long long>(c.seed));
  std::printf("backend: %s\n", backend_description().c_str());
  std::printf("data: train %lld x %lld, test %lld; batch %lld (%lld steps per epoch; %s)\n",
              static_cast<long long>(c.train_size), static_cast<long long>(data.features),
              static_cast<long long>(c.test_size), static_cast<long long>(c.batch_size),
              static_cast<long long>(batches),
              config.reshuffle_rows ? "rows reshuffled every epoch" : "fixed batches in a random order");
  std::printf("model: MLP %s; first layer on its kept columns once pruned: %s\n", architecture.str().c_str(),
              config.compact ? "on" : "off");
  std::printf("sampler: sghmc-spl, C0^2=%g cyclical over %lld cycles, %lld epochs (%lld steps), T=%s=%.6g, N=%g, "
              "eta=%g, betas=(%g, %g)\n",
              config.learning_rate, static_cast<long long>(config.cycles), static_cast<long long>(config.epochs),
              static_cast<long long>(config.epochs * batches), settings.temperature.c_str(), config.temperature, n,
              config.eta, config.beta1, config.beta2);
  std::printf("prior: %s\n", config.prior.describe().c_str());
  std::fflush(stdout);

  if (c.restarts > 1)
    std::printf("restarts: %lld chains on the same data; reported: the chain of lowest BIC on the training data (%s)\n",
                static_cast<long long>(c.restarts), bic_formula(data.classification));
  std::vector<VariableSelectionResult> chains;
  for (int64_t r = 0; r < c.restarts; ++r) {
    config.seed = chain_seed(c.seed, r);
    if (c.restarts > 1)
      std::printf("chain %lld of %lld (chain seed %llu)\n", static_cast<long long>(r + 1),
                  static_cast<long long>(c.restarts), static_cast<unsigned long long>(config.seed));
    std::fflush(stdout);
    chains.push_back(train_variable_selection(
        data.train.inputs, data.train.targets, data.test.inputs, data.test.targets, config,
        [](const VariableSelectionProgress& p) {
          std::printf("epoch %5lld  loss %.4f  C^2 %.5f  kept %lld variables  sparsity %.4f  %.1f s\n",
                      static_cast<long long>(p.epoch), p.loss, p.c2, static_cast<long long>(p.kept), p.sparsity,
                      p.seconds);
          std::fflush(stdout);
        }));
    const VariableSelectionResult& chain = chains.back();
    if (c.restarts > 1)
      std::printf("chain %lld: kept %s, training loss %.4f, %lld non-zero parameters, BIC %.1f\n",
                  static_cast<long long>(r + 1), brief(chain.kept).c_str(), chain.train_loss,
                  static_cast<long long>(chain.parameters - chain.zeros), chain.bic(data.classification));
  }
  const size_t chosen = lowest_bic(chains, data.classification);
  const VariableSelectionResult& result = chains[chosen];
  if (c.restarts > 1) {
    double seconds = 0;
    for (const VariableSelectionResult& chain : chains) seconds += chain.seconds;
    std::printf("chosen: chain %zu of %lld (lowest BIC); all chains took %.1f s\n", chosen + 1,
                static_cast<long long>(c.restarts), seconds);
  }
  std::printf("kept input variables: %s (%zu of %lld; the signal is in x1..x%d)\n", join(result.kept).c_str(),
              result.kept.size(), static_cast<long long>(data.features), data.relevant);
  std::printf("sparsity: %lld of %lld parameters are zero (biases included)\n", static_cast<long long>(result.zeros),
              static_cast<long long>(result.parameters));
  std::printf("%s: %.4f  (%lld steps, %.1f s)\n", data.classification ? "test accuracy" : "test MSE",
              result.test_metric, static_cast<long long>(result.steps), result.seconds);
  std::string chain_field;
  if (c.restarts > 1) chain_field = " chain=" + std::to_string(chosen + 1) + "/" + std::to_string(c.restarts);
  std::printf("kept=%s sparsity=%.4f %s=%.4f%s\n", join(result.kept).c_str(), result.sparsity(),
              data.classification ? "test_acc" : "test_mse", result.test_metric, chain_field.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"EM-MCMC variable selection on the paper's simulated sparse-regression examples "
               "(docs/algorithm.md#variable-selection)"};
  Config c;
  app.add_option("--example", c.example, "1 or 2 (regression), 3 (classification)")->check(CLI::IsMember({1, 2, 3}));
  app.add_option("--seed", c.seed, "data, initialisation, shuffling and sampler noise");
  app.add_option("--features", c.features, "P (0: the example's 1000 or 2000)");
  app.add_option("--train-size", c.train_size, "training examples (10240)");
  app.add_option("--test-size", c.test_size, "test examples (1024)");
  app.add_option("--batch-size", c.batch_size, "mini-batch size (1024)");
  app.add_option("--epochs", c.epochs, "epochs (3000; 6000 for example 2)");
  app.add_option("--lr", c.lr, "C0^2 of the cyclical schedule (0.01; 0.1 for example 3)");
  app.add_option("--cycles", c.cycles, "cycles M of the cyclical schedule (6)");
  app.add_option("--temperature", c.temperature, "T: 1/N, sqrt(1/N) or a number (sqrt(1/N))");
  app.add_option("--lambda1", c.lambda1, "slab weight decay (2e-4 for example 1, else 5e-4)");
  app.add_option("--lambda0", c.lambda0, "spike weight decay (1e-2)");
  app.add_option("--soft-threshold", c.soft_threshold, "E-step threshold on mean(w_g^2) (1e-2; 2e-2 for example 3)");
  app.add_option("--hard-threshold", c.hard_threshold, "pruning threshold on a column's mean(w^2) (1e-3)");
  app.add_option("--hard-threshold-conv", c.hard_threshold_conv, "pruning threshold for conv units (unused by MLPs)");
  app.add_option("--hard-test", c.hard_test, "conv pruning test: magnitude or range (unused by MLPs)");
  app.add_option("--estep", c.estep, "threshold (reference) or posterior");
  app.add_option("--theta", c.theta, "prior inclusion probability (posterior E-step) (0.5)");
  app.add_option("--warm-up", c.warm_up, "epochs before the first E-step (50)");
  app.add_option("--eta", c.eta, "step of the rho update (0.1)");
  app.add_option("--betas", c.betas, "beta1 beta2 of the sampler (0.1 1)")->expected(2);
  app.add_option("--shuffle", c.shuffle, "rows: reshuffle rows every epoch; batches: fixed batches, random order");
  app.add_flag("--compact,!--no-compact", c.compact,
               "run the first layer on its kept columns once some are pruned (default on)");
  app.add_option("--log-every", c.log_every, "epochs between progress lines (0: about 30 lines)");
  app.add_option("--restarts", c.restarts,
                 "independent chains on the same data (initialisation, shuffling, noise); the one with the lowest "
                 "BIC on the training data is reported (1)");
  app.add_option("--threads", c.threads, "OpenMP threads (0: the default)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return tools::report_error(tools::UsageError(e.what()));
  }
  Settings settings;
  try {
    settings = resolve(c);
  } catch (const Error& e) {
    // Everything resolve() rejects is a flag or flag value (a preset's own check included).
    return tools::report_error(tools::UsageError(e.what()));
  }
  try {
    return run(c, settings);
  } catch (const std::exception& e) {
    return tools::report_error(e);
  }
}
