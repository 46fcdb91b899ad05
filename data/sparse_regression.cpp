#include "data/sparse_regression.h"

#include <algorithm>
#include <cmath>

#include "core/random.h"

namespace slab::data {

int64_t sparse_regression_features(int example) {
  switch (example) {
    case 1: return 1000;
    case 2: return 2000;
    case 3: return 1000;
    default: break;
  }
  SLAB_FAIL("sparse regression: --example must be 1, 2 or 3, got ", example);
}

double sparse_regression_mean(int example, const float* x) {
  const double x1 = x[0], x2 = x[1], x3 = x[2], x4 = x[3], x5 = x[4];
  switch (example) {
    case 1: return std::tanh(2 * std::tanh(2 * x1 - x2)) + 2 * std::tanh(std::tanh(x3 - 2 * x4)) - std::tanh(2 * x5);
    case 2: return 5 * x2 / (1 + x1 * x1) + 5 * std::sin(x3 * x4) + 2 * x5;
    case 3: return std::exp(x1) + x2 * x2 + 5 * std::sin(x3 * x4) - 3;
    default: break;
  }
  SLAB_FAIL("sparse regression: --example must be 1, 2 or 3, got ", example);
}

namespace {

SparseRegressionSplit make_split(int example, uint64_t seed, uint64_t covariate_stream, uint64_t noise_stream,
                                 int64_t n, int64_t features) {
  Generator covariates(seed, covariate_stream), noise(seed, noise_stream);
  Tensor r = Tensor::empty({n, features + 1});
  covariates.fill_normal(r);
  Tensor eps = Tensor::empty({n});
  noise.fill_normal(eps);
  SparseRegressionSplit split;
  split.inputs = Tensor::empty({n, features});
  split.targets = Tensor::empty({n, 1});
  float* rd = r.data<float>();
  float* x = split.inputs.data<float>();
  float* y = split.targets.data<float>();
  const float* e = eps.data<float>();
  const float inverse_sqrt2 = static_cast<float>(1.0 / std::sqrt(2.0));
  for (int64_t i = 0; i < n; ++i) {
    float* row = rd + i * (features + 1);
    for (int64_t j = 0; j <= features; ++j) row[j] = std::clamp(row[j], -10.0f, 10.0f);  // truncation (never binds)
    float* xi = x + i * features;
    for (int64_t j = 0; j < features; ++j) xi[j] = (row[0] + row[j + 1]) * inverse_sqrt2;
    const double mean = sparse_regression_mean(example, xi);
    y[i] = example == 3 ? (mean > 0 ? 1.0f : 0.0f) : static_cast<float>(mean + e[i]);
  }
  return split;
}

}  // namespace

SparseRegressionData make_sparse_regression(int example, uint64_t seed, int64_t train_size, int64_t test_size,
                                            int64_t features) {
  const int64_t default_features = sparse_regression_features(example);  // validates the example
  const int64_t p = features > 0 ? features : default_features;
  SLAB_CHECK(features >= 0, "sparse regression: features must be >= 0 (0 = the example's P), got ", features);
  SLAB_CHECK(p >= 5, "sparse regression: need at least 5 features, got ", p);
  SLAB_CHECK(train_size > 0 && test_size > 0, "sparse regression: train and test sizes must be positive, got ",
             train_size, " and ", test_size);
  SparseRegressionData data;
  data.example = example;
  data.features = p;
  data.classification = example == 3;
  data.relevant = example == 3 ? 4 : 5;
  data.train = make_split(example, seed, 1, 2, train_size, p);
  data.test = make_split(example, seed, 3, 4, test_size, p);
  return data;
}

}  // namespace slab::data
