// Calibration and accuracy metrics of a predictive distribution (docs/algorithm.md#metrics),
// for one sample's softmax or the Bayesian model average:
//   accuracy  fraction with argmax p = y (ties go to the lowest class index)
//   nll       mean -log p[y] (p clamped below at 1e-12, so a confident miss costs 27.6, not inf)
//   ece       expected calibration error with 15 equal-width bins over the confidence
//             c = max_k p_k: bin k (0-based) holds (k/15, (k+1)/15], and c = 0 goes to bin 0,
//             so c = 1 falls in the last bin and a confidence on an edge k/15 belongs to the
//             bin below it. Edges are k/15 computed in the input's precision (float32 input:
//             float(k)/15.0f), so a probability written as the edge value lands on the edge.
//             ECE = sum_bins (n_bin / n) |accuracy_bin - mean confidence_bin|.
//   brier     mean over examples of sum_k (p_k - 1[k = y])^2 (Brier's multi-class score;
//             in [0, 2])
//   entropy   mean predictive entropy -sum_k p_k log p_k (0 log 0 = 0)
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace slab {

constexpr int kCalibrationBins = 15;

struct ClassificationMetrics {
  int64_t count = 0;
  double accuracy = 0, nll = 0, ece = 0, brier = 0, entropy = 0;
  std::string describe() const;  // "acc=... nll=... ece=... brier=... entropy=..."
};

// probabilities [n, classes] (float32 or float64, rows summing to 1), labels int64 [n].
ClassificationMetrics classification_metrics(const Tensor& probabilities, const Tensor& labels);

// The bin of a confidence, by the convention above (exposed for tests and reports).
int calibration_bin(double confidence);
int calibration_bin(float confidence);

// Per-bin counts, accuracies and mean confidences (reliability diagrams).
struct CalibrationBins {
  std::array<int64_t, kCalibrationBins> count{};
  std::array<double, kCalibrationBins> accuracy{}, confidence{};
};
CalibrationBins calibration_bins(const Tensor& probabilities, const Tensor& labels);

}  // namespace slab
