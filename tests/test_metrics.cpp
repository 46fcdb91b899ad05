// Metrics of a predictive distribution and Bayesian model averaging
// (docs/algorithm.md#metrics, docs/algorithm.md#model-averaging) on cases computed by hand.
// ECE bins: bin k holds (k/15, (k+1)/15], a confidence of 0 goes to bin 0, so a confidence of
// exactly 1 is in the last bin and one on an edge is in the bin below the edge.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "bayes/metrics.h"
#include "bayes/model_average.h"
#include "core/ops.h"

using namespace slab;

TEST_CASE("calibration bins: (k/15, (k+1)/15], 0 in the first bin, 1 in the last") {
  CHECK(calibration_bin(0.0) == 0);
  CHECK(calibration_bin(1.0) == 14);
  CHECK(calibration_bin(1.0f) == 14);
  CHECK(calibration_bin(1.0 / 15) == 0);  // on the first edge: the bin below
  CHECK(calibration_bin(std::nextafter(1.0 / 15, 1.0)) == 1);
  CHECK(calibration_bin(0.5) == 7);
  // Edges written as decimals land on the edge in either precision.
  CHECK(calibration_bin(0.4) == 5);   // 6/15
  CHECK(calibration_bin(0.4f) == 5);
  CHECK(calibration_bin(0.6) == 8);   // 9/15
  CHECK(calibration_bin(0.6f) == 8);
  CHECK(calibration_bin(0.8) == 11);  // 12/15
  CHECK(calibration_bin(0.8f) == 11);
  CHECK(calibration_bin(2.0 / 3) == 9);  // 10/15
  CHECK(calibration_bin(2.0f / 3) == 9);
  CHECK(calibration_bin(std::nextafter(0.8f, 1.0f)) == 12);
  // Every edge k/15 and the values just around it.
  for (int k = 1; k < 15; ++k) {
    const double edge = k / 15.0;
    CHECK(calibration_bin(edge) == k - 1);
    CHECK(calibration_bin(std::nextafter(edge, 0.0)) == k - 1);
    CHECK(calibration_bin(std::nextafter(edge, 1.0)) == k);
    const float edge_f = static_cast<float>(k) / 15.0f;
    CHECK(calibration_bin(edge_f) == k - 1);
    CHECK(calibration_bin(std::nextafter(edge_f, 1.0f)) == k);
  }
  CHECK_THROWS_WITH_AS(calibration_bin(1.5), doctest::Contains("outside [0, 1]"), Error);
}

TEST_CASE("accuracy, NLL, ECE, Brier and entropy on a hand-computed case") {
  // Confidences 0.8 (edge 12/15: bin 11, right), 0.6 (edge 9/15: bin 8, wrong), 1.0 (bin 14, right).
  for (DType dtype : {DType::f64, DType::f32}) {
    const Tensor p = from_vector({0.8, 0.2, 0.4, 0.6, 1.0, 0.0}, {3, 2}, {dtype});
    const Tensor y = labels_from_vector({0, 0, 0});
    const ClassificationMetrics m = classification_metrics(p, y);
    const double tolerance = dtype == DType::f32 ? 1e-6 : 1e-12;
    CHECK(m.count == 3);
    CHECK(m.accuracy == doctest::Approx(2.0 / 3).epsilon(tolerance));
    CHECK(m.nll == doctest::Approx(-(std::log(0.8) + std::log(0.4) + 0.0) / 3).epsilon(tolerance));
    CHECK(m.brier == doctest::Approx((0.08 + 0.72 + 0.0) / 3).epsilon(tolerance));
    CHECK(m.entropy == doctest::Approx((-(0.8 * std::log(0.8) + 0.2 * std::log(0.2)) -
                                        (0.4 * std::log(0.4) + 0.6 * std::log(0.6))) /
                                       3)
                           .epsilon(tolerance));
    CHECK(m.ece == doctest::Approx((0.2 + 0.6 + 0.0) / 3).epsilon(tolerance));
    const CalibrationBins bins = calibration_bins(p, y);
    CHECK(bins.count[11] == 1);
    CHECK(bins.count[8] == 1);
    CHECK(bins.count[14] == 1);
    CHECK(bins.accuracy[8] == 0.0);
    CHECK(bins.confidence[14] == 1.0);
  }
}

TEST_CASE("ECE averages accuracy and confidence within a bin") {
  // Both confidences in (10/15, 11/15]: bin accuracy 1/2, mean confidence 0.71;
  // a third example at confidence 0.95 (bin 14), right.
  const Tensor p = from_vector({0.7, 0.3, 0.0, 0.28, 0.72, 0.0, 0.95, 0.05, 0.0}, {3, 3});
  const Tensor y = labels_from_vector({0, 2, 0});
  const ClassificationMetrics m = classification_metrics(p, y);
  CHECK(m.accuracy == doctest::Approx(2.0 / 3));
  CHECK(m.ece == doctest::Approx((2.0 / 3) * std::abs(0.5 - 0.71) + (1.0 / 3) * 0.05));
  // p[y] = 0 for example 2: the NLL clamps at 1e-12.
  CHECK(m.nll == doctest::Approx((-std::log(0.7) - std::log(1e-12) - std::log(0.95)) / 3));
  CHECK(m.brier == doctest::Approx(((0.09 + 0.09) + (0.0784 + 0.5184 + 1.0) + (0.0025 + 0.0025)) / 3));
  // Ties in the argmax go to the lowest class.
  const ClassificationMetrics tie = classification_metrics(from_vector({0.5, 0.5}, {1, 2}), labels_from_vector({0}));
  CHECK(tie.accuracy == 1.0);
  CHECK(tie.entropy == doctest::Approx(std::log(2.0)));
}

TEST_CASE("metrics reject bad inputs with clear errors") {
  const Tensor p = from_vector({0.5, 0.5}, {1, 2});
  CHECK_THROWS_WITH_AS(classification_metrics(p, labels_from_vector({2})), doctest::Contains("label 2"), Error);
  CHECK_THROWS_WITH_AS(classification_metrics(p, labels_from_vector({0, 1})), doctest::Contains("int64 [1]"), Error);
  CHECK_THROWS_WITH_AS(classification_metrics(from_vector({0.5, 0.5}, {2}), labels_from_vector({0})),
                       doctest::Contains("[n, classes]"), Error);
  CHECK_THROWS_WITH_AS(classification_metrics(from_vector({1.5, -0.5}, {1, 2}), labels_from_vector({0})),
                       doctest::Contains("outside [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(classification_metrics(p, from_vector({0}, {1})), doctest::Contains("int64"), Error);
}

TEST_CASE("Bayesian model averaging is the running mean of the samples' softmax") {
  ModelAverage average;
  CHECK_THROWS_WITH_AS(average.mean(), doctest::Contains("no sample"), Error);
  const Tensor a = from_vector({0.9, 0.1, 0.2, 0.8}, {2, 2});
  const Tensor b = from_vector({0.5, 0.5, 0.6, 0.4}, {2, 2});
  const Tensor c = from_vector({0.1, 0.9, 0.7, 0.3}, {2, 2}, {DType::f64});
  average.add(a);
  average.add(b);
  average.add(c);
  CHECK(average.samples() == 3);
  const Tensor mean = average.mean();
  CHECK(mean.dtype() == DType::f64);
  const std::vector<double> expected = {(0.9 + 0.5 + 0.1) / 3, (0.1 + 0.5 + 0.9) / 3, (0.2 + 0.6 + 0.7) / 3,
                                        (0.8 + 0.4 + 0.3) / 3};
  const std::vector<double> got = mean.to_vector();
  for (size_t i = 0; i < 4; ++i) CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-7));
  // Averaging makes a confident wrong sample less costly: NLL of the average < mean NLL.
  const Tensor y = labels_from_vector({0, 1});
  const double averaged = classification_metrics(mean, y).nll;
  const double single = (classification_metrics(a, y).nll + classification_metrics(b, y).nll +
                         classification_metrics(c, y).nll) / 3;
  CHECK(averaged < single);
  CHECK_THROWS_WITH_AS(average.add(from_vector({1.0, 0.0}, {1, 2})), doctest::Contains("sample 4 has shape [1, 2]"),
                       Error);
  average.reset();
  CHECK(average.samples() == 0);
}
