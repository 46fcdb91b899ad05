// Float64 finite-difference gradient checks (Caffe's checker, dlib's test_layer ideas).
//
// For f: inputs -> output, a random upstream gradient u and the scalar L = sum(u * f),
// every input element's analytic dL/dx is compared with the central difference
// (L(x + h) - L(x - h)) / 2h. Before backward, every output buffer that kernels hand out
// is pre-filled with infinity (Tensor poisoning), so an entry a backward forgets to
// write cannot pass. Backward runs twice to prove gradients accumulate (second = 2x
// first). Points where f has a kink (|x| within `kink` of a listed kink location) skip.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "core/ops.h"
#include "core/random.h"

namespace slab::testing {

struct GradCheckOptions {
  double step = 1e-6;
  double tolerance = 1e-6;          // on |analytic - numeric| / max(1, |numeric|)
  std::vector<double> kinks = {};   // input values near which the function is not smooth
  double kink_margin = 1e-4;
  uint64_t seed = 1234;
};

using Function = std::function<Tensor(const std::vector<Tensor>&)>;

inline void check_gradients(const Function& f, std::vector<Tensor> inputs, GradCheckOptions options = {}) {
  for (Tensor& t : inputs) {
    REQUIRE(t.dtype() == DType::f64);
    t.set_requires_grad(true);
  }
  Generator generator(options.seed, 99);
  Tensor probe = f(inputs);
  const Tensor upstream = randn(probe.shape(), generator, {DType::f64});
  auto loss = [&](const std::vector<Tensor>& xs) {
    NoGradGuard no_grad;
    return sum(mul(f(xs), upstream)).item();
  };

  // Analytic gradients with poisoned buffers, twice, to check accumulation.
  set_tensor_poisoning(true);
  for (Tensor& t : inputs) t.zero_grad();
  f(inputs).backward(upstream);
  std::vector<std::vector<double>> first;
  for (Tensor& t : inputs) {
    REQUIRE_MESSAGE(t.grad().defined(), "no gradient reached an input of shape ", t.shape());
    first.push_back(t.grad().to_vector());
  }
  f(inputs).backward(upstream);
  set_tensor_poisoning(false);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::vector<double> second = inputs[k].grad().to_vector();
    for (size_t i = 0; i < second.size(); ++i)
      REQUIRE_MESSAGE(std::abs(second[i] - 2 * first[k][i]) <= 1e-9 * std::max(1.0, std::abs(second[i])),
                      "gradient does not accumulate: input ", k, " element ", i);
  }

  // Central differences.
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    double* data = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double original = data[i];
      bool near_kink = false;
      for (double kink : options.kinks) near_kink |= std::abs(original - kink) < options.kink_margin;
      if (near_kink) continue;
      data[i] = original + options.step;
      const double plus = loss(inputs);
      data[i] = original - options.step;
      const double minus = loss(inputs);
      data[i] = original;
      const double numeric = (plus - minus) / (2 * options.step);
      const double analytic = first[k][i];
      INFO("input ", k, " element ", i, " of shape ", x.shape(), ": analytic ", analytic, ", numeric ", numeric);
      CHECK(std::isfinite(analytic));
      CHECK(std::abs(analytic - numeric) <= options.tolerance * std::max(1.0, std::abs(numeric)));
    }
  }
}

}  // namespace slab::testing
