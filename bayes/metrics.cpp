#include "bayes/metrics.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

namespace slab {

namespace {

// Bin k holds (edge(k), edge(k + 1)], edge(k) = k / 15 in the working precision T.
template <typename T>
int bin_of(T confidence) {
  SLAB_CHECK(confidence >= T(0) && confidence <= T(1), "calibration: confidence ", confidence, " is outside [0, 1]");
  int bin = static_cast<int>(std::ceil(confidence * T(kCalibrationBins))) - 1;
  bin = std::clamp(bin, 0, kCalibrationBins - 1);
  // The product may round across an edge; settle by comparing with the edges themselves.
  while (bin > 0 && confidence <= static_cast<T>(bin) / T(kCalibrationBins)) --bin;
  while (bin < kCalibrationBins - 1 && confidence > static_cast<T>(bin + 1) / T(kCalibrationBins)) ++bin;
  return bin;
}

struct Row {
  int predicted = 0;
  double confidence = 0;
  int bin = 0;
};

void check_inputs(const Tensor& probabilities, const Tensor& labels) {
  SLAB_CHECK(probabilities.dim() == 2, "metrics: probabilities must be [n, classes], got ", probabilities.shape());
  SLAB_CHECK(probabilities.dtype() == DType::f32 || probabilities.dtype() == DType::f64,
             "metrics: probabilities must be float32 or float64, got ", probabilities.dtype());
  SLAB_CHECK(labels.dtype() == DType::i64 && labels.dim() == 1 && labels.size(0) == probabilities.size(0),
             "metrics: labels must be int64 [", probabilities.size(0), "], got ", labels.dtype(), " ", labels.shape());
  SLAB_CHECK(probabilities.size(0) > 0, "metrics: no examples");
}

// The row's argmax and confidence; the bin in the row's own precision.
template <typename T>
Row row_of(const T* p, int64_t classes) {
  Row row;
  T best = p[0];
  for (int64_t k = 1; k < classes; ++k)
    if (p[k] > best) {
      best = p[k];
      row.predicted = static_cast<int>(k);
    }
  row.confidence = static_cast<double>(best);
  row.bin = bin_of<T>(best);
  return row;
}

template <typename F>
void for_each_row(const Tensor& probabilities, const Tensor& labels, F f) {
  const int64_t n = probabilities.size(0), classes = probabilities.size(1);
  const int64_t* y = labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    SLAB_CHECK(y[i] >= 0 && y[i] < classes, "metrics: label ", y[i], " of example ", i, " is outside [0, ", classes, ")");
    std::vector<double> p(static_cast<size_t>(classes));
    Row row;
    if (probabilities.dtype() == DType::f32) {
      const float* data = probabilities.data<float>() + i * classes;
      row = row_of(data, classes);
      for (int64_t k = 0; k < classes; ++k) p[static_cast<size_t>(k)] = data[k];
    } else {
      const double* data = probabilities.data<double>() + i * classes;
      row = row_of(data, classes);
      for (int64_t k = 0; k < classes; ++k) p[static_cast<size_t>(k)] = data[k];
    }
    f(p, y[i], row);
  }
}

}  // namespace

int calibration_bin(double confidence) { return bin_of<double>(confidence); }
int calibration_bin(float confidence) { return bin_of<float>(confidence); }

CalibrationBins calibration_bins(const Tensor& probabilities, const Tensor& labels) {
  check_inputs(probabilities, labels);
  CalibrationBins bins;
  for_each_row(probabilities, labels, [&](const std::vector<double>&, int64_t label, const Row& row) {
    const size_t b = static_cast<size_t>(row.bin);
    bins.count[b] += 1;
    bins.accuracy[b] += row.predicted == label ? 1.0 : 0.0;
    bins.confidence[b] += row.confidence;
  });
  for (int b = 0; b < kCalibrationBins; ++b)
    if (bins.count[static_cast<size_t>(b)] > 0) {
      bins.accuracy[static_cast<size_t>(b)] /= static_cast<double>(bins.count[static_cast<size_t>(b)]);
      bins.confidence[static_cast<size_t>(b)] /= static_cast<double>(bins.count[static_cast<size_t>(b)]);
    }
  return bins;
}

ClassificationMetrics classification_metrics(const Tensor& probabilities, const Tensor& labels) {
  check_inputs(probabilities, labels);
  ClassificationMetrics m;
  m.count = probabilities.size(0);
  for_each_row(probabilities, labels, [&](const std::vector<double>& p, int64_t label, const Row& row) {
    m.accuracy += row.predicted == label ? 1.0 : 0.0;
    m.nll -= std::log(std::max(p[static_cast<size_t>(label)], 1e-12));
    for (size_t k = 0; k < p.size(); ++k) {
      const double target = static_cast<int64_t>(k) == label ? 1.0 : 0.0;
      m.brier += (p[k] - target) * (p[k] - target);
      if (p[k] > 0) m.entropy -= p[k] * std::log(p[k]);
    }
  });
  const double n = static_cast<double>(m.count);
  m.accuracy /= n;
  m.nll /= n;
  m.brier /= n;
  m.entropy /= n;
  const CalibrationBins bins = calibration_bins(probabilities, labels);
  for (int b = 0; b < kCalibrationBins; ++b) {
    const size_t s = static_cast<size_t>(b);
    m.ece += static_cast<double>(bins.count[s]) / n * std::abs(bins.accuracy[s] - bins.confidence[s]);
  }
  return m;
}

std::string ClassificationMetrics::describe() const {
  std::ostringstream out;
  out.precision(6);
  out << "acc=" << accuracy << " nll=" << nll << " ece=" << ece << " brier=" << brier << " entropy=" << entropy;
  return out.str();
}

}  // namespace slab
