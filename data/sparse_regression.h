// The simulated variable-selection data of the paper's sparse-regression examples
// (docs/algorithm.md#variable-selection-data), drawn with Philox so a (seed, example) pair is
// one data set anywhere.
//
//   r ~ N(0, 1) truncated to [-10, 10], shape [n, P + 1];  x_j = (r_0 + r_j) / sqrt 2,
//   j = 1..P (so corr(x_i, x_j) = 1/2);  eps ~ N(0, 1).
//   Example 1 (P = 1000): y = tanh(2 tanh(2 x1 - x2)) + 2 tanh(tanh(x3 - 2 x4)) - tanh(2 x5) + eps
//   Example 2 (P = 2000): y = 5 x2 / (1 + x1^2) + 5 sin(x3 x4) + 2 x5 + eps
//   Example 3 (P = 1000): y = 1[exp(x1) + x2^2 + 5 sin(x3 x4) - 3 > 0]   (a 0/1 label, no noise)
// Train n = 10240, test n = 1024 by default. Only x1..x5 (x1..x4 in Example 3) matter.
//
// Streams (all with key = seed): train covariates 1, train noise 2, test covariates 3,
// test noise 4. The normals come from Generator::fill_normal (Box-Muller on 24-bit
// uniforms), whose magnitude never exceeds sqrt(-2 ln 2^-24) = 5.77, so the truncation
// to [-10, 10] never binds; it is still applied (and counted) for the record.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace slab::data {

struct SparseRegressionSplit {
  Tensor inputs;   // [n, P] float32
  Tensor targets;  // [n, 1] float32 (0/1 for Example 3)
};

struct SparseRegressionData {
  int example = 1;
  int64_t features = 0;
  bool classification = false;
  int relevant = 5;  // the first `relevant` variables carry the signal
  SparseRegressionSplit train, test;
};

// Default P of an example (1000, 2000, 1000); throws for another example number.
int64_t sparse_regression_features(int example);

// features = 0 takes the example's P.
SparseRegressionData make_sparse_regression(int example, uint64_t seed, int64_t train_size = 10240,
                                            int64_t test_size = 1024, int64_t features = 0);

// The noiseless response of an example at one row x (x[0] = x1, ...).
double sparse_regression_mean(int example, const float* x);

}  // namespace slab::data
