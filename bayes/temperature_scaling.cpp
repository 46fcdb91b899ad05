#include "bayes/temperature_scaling.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace slab {

namespace {

constexpr double kFloor = 1e-30;

Tensor as_f64(const Tensor& probabilities) {
  SLAB_CHECK(probabilities.dim() == 2 && probabilities.size(0) > 0,
             "temperature scaling: probabilities must be [n, classes] with n > 0, got ", probabilities.shape());
  return probabilities.dtype() == DType::f64 ? probabilities : probabilities.to(DType::f64);
}

// One row: writes log softmax(log p / T) into `out`.
void scaled_log_row(const double* p, int64_t classes, double temperature, double* out) {
  double top = -1e300;
  for (int64_t k = 0; k < classes; ++k) {
    out[k] = std::log(std::max(p[k], kFloor)) / temperature;
    top = std::max(top, out[k]);
  }
  double sum = 0;
  for (int64_t k = 0; k < classes; ++k) sum += std::exp(out[k] - top);
  const double log_sum = top + std::log(sum);
  for (int64_t k = 0; k < classes; ++k) out[k] -= log_sum;
}

}  // namespace

Tensor scale_temperature(const Tensor& probabilities, double temperature) {
  SLAB_CHECK(temperature > 0, "temperature scaling: T must be positive, got ", temperature);
  const Tensor p = as_f64(probabilities);
  const int64_t n = p.size(0), classes = p.size(1);
  std::vector<double> out(static_cast<size_t>(n * classes));
  for (int64_t i = 0; i < n; ++i) {
    double* row = out.data() + i * classes;
    scaled_log_row(p.data<double>() + i * classes, classes, temperature, row);
    for (int64_t k = 0; k < classes; ++k) row[k] = std::exp(row[k]);
  }
  TensorOptions options;
  options.dtype = DType::f64;
  return from_vector(out, {n, classes}, options);
}

double temperature_nll(const Tensor& probabilities, const Tensor& labels, double temperature) {
  SLAB_CHECK(temperature > 0, "temperature scaling: T must be positive, got ", temperature);
  const Tensor p = as_f64(probabilities);
  const int64_t n = p.size(0), classes = p.size(1);
  SLAB_CHECK(labels.dtype() == DType::i64 && labels.dim() == 1 && labels.size(0) == n,
             "temperature scaling: labels must be int64 [", n, "], got ", labels.dtype(), " ", labels.shape());
  const int64_t* y = labels.data<int64_t>();
  std::vector<double> row(static_cast<size_t>(classes));
  double nll = 0;
  for (int64_t i = 0; i < n; ++i) {
    SLAB_CHECK(y[i] >= 0 && y[i] < classes, "temperature scaling: label ", y[i], " is outside [0, ", classes, ")");
    scaled_log_row(p.data<double>() + i * classes, classes, temperature, row.data());
    nll -= row[static_cast<size_t>(y[i])];
  }
  return nll / static_cast<double>(n);
}

double fit_temperature(const Tensor& probabilities, const Tensor& labels) {
  const Tensor p = as_f64(probabilities);
  const double ratio = (std::sqrt(5.0) - 1) / 2;  // the golden section, 0.618...
  auto f = [&](double log_t) { return temperature_nll(p, labels, std::exp(log_t)); };
  double a = std::log(0.05), b = std::log(20.0);
  double c = b - ratio * (b - a), d = a + ratio * (b - a);
  double fc = f(c), fd = f(d);
  while (b - a > 1e-6) {
    if (fc <= fd) {  // the minimum lies in [a, d]
      b = d;
      d = c;
      fd = fc;
      c = b - ratio * (b - a);
      fc = f(c);
    } else {  // in [c, b]
      a = c;
      c = d;
      fc = fd;
      d = a + ratio * (b - a);
      fd = f(d);
    }
  }
  return std::exp((a + b) / 2);
}

}  // namespace slab
