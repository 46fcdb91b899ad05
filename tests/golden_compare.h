// Comparing slab's tensors with the PyTorch golden files of tests/golden/models/ (shared by
// test_layers and test_models).
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace slab::testing {

// A file written by tests/golden/make_golden_models.py.
inline std::string golden_model_path(const std::string& file) {
  return std::string(SLAB_SOURCE_DIR) + "/tests/golden/models/" + file;
}

// Every element within atol + rtol |expected| (PyTorch's allclose); on failure, names the
// worst element, max |a - b| / (atol + rtol |b|) being over 1 there (NaN counts as worst).
inline void check_close(const Tensor& actual, const Tensor& expected, double rtol, double atol,
                        const std::string& what) {
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), what, ": shape ", actual.shape(), " vs ", expected.shape());
  const std::vector<double> a = actual.to_vector(), b = expected.to_vector();
  double worst = 0;
  size_t worst_index = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double ratio = std::abs(a[i] - b[i]) / (atol + rtol * std::abs(b[i]));
    if (!(ratio <= worst)) {
      worst = ratio;
      worst_index = i;
    }
  }
  INFO(what, ": worst element ", worst_index, " is ", a[worst_index], ", expected ", b[worst_index]);
  CHECK(worst <= 1.0);
}

}  // namespace slab::testing
