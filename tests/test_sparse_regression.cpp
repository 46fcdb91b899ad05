// The simulated variable-selection data (docs/algorithm.md#variable-selection-data), the first
// layer on kept columns (bayes/active_columns.h) with its gradient check, EM-MCMC selecting
// the right variables on a small version of Example 1, and the BIC choice between restarted chains.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "bayes/active_columns.h"
#include "bayes/presets.h"
#include "bayes/variable_selection.h"
#include "core/ops.h"
#include "core/random.h"
#include "data/sparse_regression.h"
#include "tools/trainer/variable_selection_trainer.h"
#include "gradcheck.h"
#include "layers/linear_stack.h"

using namespace slab;
using namespace slab::tools;

namespace {

double column_mean(const std::vector<double>& x, int64_t rows, int64_t width, int64_t j) {
  double s = 0;
  for (int64_t i = 0; i < rows; ++i) s += x[static_cast<size_t>(i * width + j)];
  return s / static_cast<double>(rows);
}

double covariance(const std::vector<double>& x, int64_t rows, int64_t width, int64_t a, int64_t b) {
  const double ma = column_mean(x, rows, width, a), mb = column_mean(x, rows, width, b);
  double s = 0;
  for (int64_t i = 0; i < rows; ++i)
    s += (x[static_cast<size_t>(i * width + a)] - ma) * (x[static_cast<size_t>(i * width + b)] - mb);
  return s / static_cast<double>(rows - 1);
}

}  // namespace

TEST_CASE("covariates: unit variance, pairwise correlation 1/2, reproducible from the seed") {
  const data::SparseRegressionData d = data::make_sparse_regression(1, 7, 8192, 256, 12);
  CHECK(d.features == 12);
  CHECK(d.train.inputs.shape() == Shape{8192, 12});
  CHECK(d.train.targets.shape() == Shape{8192, 1});
  CHECK(d.test.inputs.shape() == Shape{256, 12});
  const std::vector<double> x = d.train.inputs.to_vector();
  for (int64_t j : {0, 5, 11}) {
    CHECK(std::abs(column_mean(x, 8192, 12, j)) < 0.05);
    CHECK(covariance(x, 8192, 12, j, j) == doctest::Approx(1.0).epsilon(0.05));
  }
  for (auto [a, b] : {std::pair{0, 1}, std::pair{3, 9}, std::pair{2, 11}})
    CHECK(covariance(x, 8192, 12, a, b) == doctest::Approx(0.5).epsilon(0.1));
  // Same seed, same data; another seed, other data; train and test differ.
  const data::SparseRegressionData again = data::make_sparse_regression(1, 7, 8192, 256, 12);
  CHECK(again.train.inputs.to_vector() == x);
  CHECK(again.test.targets.to_vector() == d.test.targets.to_vector());
  const data::SparseRegressionData other = data::make_sparse_regression(1, 8, 8192, 256, 12);
  CHECK(other.train.inputs.to_vector() != x);
  CHECK(d.test.inputs.at({0, 0}) != d.train.inputs.at({0, 0}));
  CHECK(data::sparse_regression_features(2) == 2000);
  CHECK(data::make_sparse_regression(2, 1, 16, 4).features == 2000);
}

TEST_CASE("responses follow the three formulas, with N(0, 1) noise for the regressions") {
  const float point[5] = {0.5f, -1.0f, 0.3f, 2.0f, -0.7f};
  CHECK(data::sparse_regression_mean(1, point) ==
        doctest::Approx(std::tanh(2 * std::tanh(2 * 0.5 + 1.0)) + 2 * std::tanh(std::tanh(0.3 - 4.0)) - std::tanh(-1.4)));
  CHECK(data::sparse_regression_mean(2, point) ==
        doctest::Approx(5 * -1.0 / (1 + 0.25) + 5 * std::sin(0.6) + 2 * -0.7).epsilon(1e-6));
  CHECK(data::sparse_regression_mean(3, point) == doctest::Approx(std::exp(0.5) + 1.0 + 5 * std::sin(0.6) - 3).epsilon(1e-6));
  for (int example : {1, 2}) {
    const data::SparseRegressionData d = data::make_sparse_regression(example, 3, 8192, 16, 8);
    const std::vector<double> x = d.train.inputs.to_vector(), y = d.train.targets.to_vector();
    double mean = 0, squares = 0;
    for (int64_t i = 0; i < 8192; ++i) {
      std::vector<float> row(x.begin() + i * 8, x.begin() + i * 8 + 8);
      const double residual = y[static_cast<size_t>(i)] - data::sparse_regression_mean(example, row.data());
      mean += residual;
      squares += residual * residual;
    }
    CHECK(std::abs(mean / 8192) < 0.05);
    CHECK(squares / 8192 == doctest::Approx(1.0).epsilon(0.05));
  }
  const data::SparseRegressionData c = data::make_sparse_regression(3, 3, 4096, 16, 8);
  CHECK(c.classification);
  CHECK(c.relevant == 4);
  const std::vector<double> x = c.train.inputs.to_vector(), y = c.train.targets.to_vector();
  int ones = 0;
  for (int64_t i = 0; i < 4096; ++i) {
    std::vector<float> row(x.begin() + i * 8, x.begin() + i * 8 + 8);
    const double label = data::sparse_regression_mean(3, row.data()) > 0 ? 1.0 : 0.0;
    REQUIRE(y[static_cast<size_t>(i)] == label);
    ones += label == 1.0;
  }
  CHECK(ones > 1000);  // both classes are well represented
  CHECK(ones < 3100);
  CHECK_THROWS_WITH_AS(data::make_sparse_regression(4, 1), doctest::Contains("must be 1, 2 or 3, got 4"), Error);
  CHECK_THROWS_WITH_AS(data::make_sparse_regression(1, 1, 0, 10), doctest::Contains("must be positive"), Error);
}

TEST_CASE("select_columns: values, gradient check, and errors") {
  Tensor w = from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}, {DType::f64});
  const Tensor picked = select_columns(w, {3, 1});
  CHECK(picked.to_vector() == std::vector<double>{4, 2, 8, 6});
  Generator g(4, 0);
  slab::testing::check_gradients(
      [](const std::vector<Tensor>& in) { return select_columns(in[0], {0, 2, 2, 4}); },
      {randn({3, 5}, g, {DType::f64})});
  const Tensor data = from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(gather_data_columns(data, {2, 0}).to_vector() == std::vector<double>{3, 1, 6, 4});
  CHECK_THROWS_WITH_AS(select_columns(w, {4}), doctest::Contains("column 4 is outside [0, 4)"), Error);
  CHECK_THROWS_WITH_AS(select_columns(zeros({4}), {0}), doctest::Contains("expected a matrix"), Error);
}

namespace {

// Example 1 at the paper's settings, cut to 60 epochs in one cycle: the first E-step and
// pruning pass comes after the 50 warm-up epochs (500 steps), as in the full run.
VariableSelectionConfig short_example_one(bool compact) {
  const SamplerPreset preset = sampler_preset("regression-1");
  VariableSelectionConfig config;
  config.hidden = {5, 3};
  config.prior = preset.prior;
  config.epochs = 60;
  config.cycles = 1;
  config.batch_size = 1024;
  config.learning_rate = preset.learning_rate;
  config.temperature = std::sqrt(1.0 / 10240);
  config.seed = 5;
  config.compact = compact;
  return config;
}

}  // namespace

TEST_CASE("EM-MCMC keeps exactly x1..x5 of 1000 on a short Example 1") {
  const data::SparseRegressionData d = data::make_sparse_regression(1, 5);
  std::vector<VariableSelectionProgress> log;
  VariableSelectionConfig config = short_example_one(true);
  config.log_every = 20;
  const VariableSelectionResult result = train_variable_selection(
      d.train.inputs, d.train.targets, d.test.inputs, d.test.targets, config,
      [&](const VariableSelectionProgress& p) { log.push_back(p); });
  CHECK(result.kept == std::vector<int64_t>{1, 2, 3, 4, 5});
  CHECK(result.steps == 60 * 10);
  REQUIRE(log.size() == 3);
  CHECK(log[0].epoch == 20);
  CHECK(log[1].kept == 1000);  // before the first pass (epoch 51)
  CHECK(log[2].kept == 5);
  // The paper's count: every weight of the 995 pruned columns, and the units they leave dead.
  CHECK(result.zeros >= 995 * 5);
  CHECK(result.sparsity() > 0.985);
  CHECK_THROWS_WITH_AS(train_variable_selection(d.train.inputs, d.test.targets, d.test.inputs, d.test.targets, config),
                       doctest::Contains("targets must be float32 [10240, 1]"), Error);
}

TEST_CASE("running the first layer on its kept columns changes nothing but the cost") {
  // A small problem with a strong spike, so that columns are pruned at several passes.
  const data::SparseRegressionData d = data::make_sparse_regression(1, 5, 2048, 512, 40);
  auto run = [&](bool compact) {
    VariableSelectionConfig config = short_example_one(compact);
    config.prior.lambda0 = 2.0;
    config.prior.warm_up = 20;
    config.epochs = 150;
    config.cycles = 3;
    config.batch_size = 256;
    config.temperature = std::sqrt(1.0 / 2048);
    return train_variable_selection(d.train.inputs, d.train.targets, d.test.inputs, d.test.targets, config);
  };
  const VariableSelectionResult compact = run(true), full = run(false);
  CHECK(compact.kept.size() < 40);
  CHECK(compact.kept.size() > 0);
  CHECK(full.kept == compact.kept);
  CHECK(full.zeros == compact.zeros);
  CHECK(full.test_metric == doctest::Approx(compact.test_metric).epsilon(1e-3));
}

TEST_CASE("restarts: chain seeds, the BIC by hand, and the lowest-BIC chain") {
  // Chain 0 is the run itself; the others differ from it and from each other.
  CHECK(chain_seed(7, 0) == 7);
  CHECK(chain_seed(7, 1) != 7);
  CHECK(chain_seed(7, 1) != chain_seed(7, 2));
  CHECK(chain_seed(7, 1) != chain_seed(8, 1));
  CHECK(chain_seed(7, 1) == chain_seed(7, 1));

  VariableSelectionResult a;
  a.train_size = 1000;
  a.parameters = 50;
  a.zeros = 40;           // k = 10 non-zero parameters
  a.train_loss = 1.5;
  // regression: n ln(MSE) + k ln n = 1000 ln 1.5 + 10 ln 1000
  CHECK(a.bic(false) == doctest::Approx(1000 * std::log(1.5) + 10 * std::log(1000.0)).epsilon(1e-12));
  // classification: 2 n BCE + k ln n
  CHECK(a.bic(true) == doctest::Approx(2 * 1000 * 1.5 + 10 * std::log(1000.0)).epsilon(1e-12));

  // A better fit with more parameters against a worse fit with fewer: 20 more non-zero
  // parameters cost 20 ln 1000 = 138.2, so a fit better by a factor exp(-0.2) (200 in
  // n ln MSE) wins and one better by exp(-0.1) (100) loses.
  VariableSelectionResult better = a, slightly_better = a;
  better.zeros = slightly_better.zeros = 20;
  better.train_loss = 1.5 * std::exp(-0.2);
  slightly_better.train_loss = 1.5 * std::exp(-0.1);
  CHECK(lowest_bic({a, better}, false) == 1);
  CHECK(lowest_bic({a, slightly_better}, false) == 0);
  CHECK(lowest_bic({slightly_better, a, better}, false) == 2);
  CHECK_THROWS_WITH_AS(lowest_bic({}, false), doctest::Contains("no chains"), Error);
}

TEST_CASE("the result's training loss is the final sample's loss on the whole training set") {
  // One epoch at a learning rate of ~0: the network is its initialisation (moved only by
  // the initial momentum, 0.001 N(0, 1) times tau = 1/2, decaying by beta1 = 0.1 a step:
  // about 1e-4 of a weight), whose training MSE is computed here independently (the same
  // MLP, the same initial draws).
  const data::SparseRegressionData d = data::make_sparse_regression(1, 5, 1024, 64, 12);
  VariableSelectionConfig config = short_example_one(true);
  config.epochs = 1;
  config.learning_rate = 1e-30;
  config.batch_size = 256;
  const VariableSelectionResult result =
      train_variable_selection(d.train.inputs, d.train.targets, d.test.inputs, d.test.targets, config);
  Generator init(config.seed, 10);
  const std::shared_ptr<Sequential> network = linear_relu_stack(12, config.hidden, 1, init);
  NoGradGuard no_grad;
  const std::vector<double> prediction = network->forward(d.train.inputs).to_vector();
  const std::vector<double> target = d.train.targets.to_vector();
  double mse = 0;
  for (size_t i = 0; i < target.size(); ++i) mse += (prediction[i] - target[i]) * (prediction[i] - target[i]);
  mse /= static_cast<double>(target.size());
  CHECK(result.train_size == 1024);
  CHECK(result.train_loss == doctest::Approx(mse).epsilon(2e-3));
}
