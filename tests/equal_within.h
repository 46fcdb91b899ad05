// "Equal within tol" as the pruning tests use it (docs/algorithm.md, the shrink section):
// per output tensor, max|a - b| <= tol max|b|, and the same argmax for every example.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <doctest/doctest.h>

#include "core/ops.h"

namespace slab::testing {

// max|got - expected| / max|expected|: 0 when both are all zeros, infinite when only
// `expected` is. The shapes must agree.
inline double relative_difference(const Tensor& got, const Tensor& expected) {
  REQUIRE(got.shape() == expected.shape());
  const std::vector<double> a = got.to_vector(), b = expected.to_vector();
  double difference = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    difference = std::max(difference, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  if (scale == 0) return difference == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return difference / scale;
}

// The same class for every row of two [n, classes] outputs.
inline bool same_argmax(const Tensor& a, const Tensor& b) {
  return argmax(a, 1).to_vector() == argmax(b, 1).to_vector();
}

}  // namespace slab::testing
