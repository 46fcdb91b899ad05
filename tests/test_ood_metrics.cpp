// Out-of-distribution metrics (bayes/ood_metrics.h) and temperature scaling
// (bayes/temperature_scaling.h) on cases computed by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "bayes/ood_metrics.h"
#include "bayes/temperature_scaling.h"

using namespace slab;

TEST_CASE("a perfect detector: AUROC 1, both AUPRs 1, FPR95 0; reversed: AUROC 0") {
  const std::vector<double> in = {0.9, 0.8, 0.7}, out = {0.1, 0.2};
  const DetectionMetrics m = detection_metrics(in, out);
  CHECK(m.auroc == doctest::Approx(1.0));
  CHECK(m.aupr_in == doctest::Approx(1.0));
  CHECK(m.aupr_out == doctest::Approx(1.0));
  CHECK(m.fpr95 == doctest::Approx(0.0));
  CHECK(auroc(out, in) == doctest::Approx(0.0));
}

TEST_CASE("a constant score (a detector that knows nothing): AUROC 1/2, AUPR-in = the share of positives") {
  const std::vector<double> in(3, 0.5), out(5, 0.5);
  const DetectionMetrics m = detection_metrics(in, out);
  CHECK(m.auroc == doctest::Approx(0.5));
  CHECK(m.aupr_in == doctest::Approx(3.0 / 8));
  CHECK(m.aupr_out == doctest::Approx(5.0 / 8));
  // One ROC step from (0, 0) to (1, 1): at TPR 0.95 the line gives FPR 0.95.
  CHECK(m.fpr95 == doctest::Approx(0.95));
}

TEST_CASE("ties count one half; AUPR and FPR95 group tied scores into one threshold") {
  // Pairs (in, out): 0.8>0.5, 0.8>0.2, 0.5=0.5 (one half), 0.5>0.2: 3.5 of 4.
  const std::vector<double> in = {0.8, 0.5}, out = {0.5, 0.2};
  const DetectionMetrics m = detection_metrics(in, out);
  CHECK(m.auroc == doctest::Approx(0.875));
  // Thresholds 0.8 (TP 1, FP 0: recall 1/2, precision 1) and 0.5 (TP 2, FP 1: recall 1,
  // precision 2/3): AP = 1/2 * 1 + 1/2 * 2/3.
  CHECK(m.aupr_in == doctest::Approx(0.5 + 1.0 / 3));
  // Out positive, scores negated: -0.2 (TP 1, FP 0), then -0.5 (TP 2, FP 1): the same.
  CHECK(m.aupr_out == doctest::Approx(0.5 + 1.0 / 3));
  // ROC (0, 0), (0, 0.5), (0.5, 1): TPR 0.95 lies 0.45/0.5 of the way along the last step.
  CHECK(m.fpr95 == doctest::Approx(0.45));
}

TEST_CASE("FPR95 interpolates between the ROC points around TPR 0.95") {
  // 10 in-distribution scores 1..10, out-of-distribution scores 0.5 and 8.5, 9.5 above two
  // of them. Thresholds from the top: 10 (TPR .1), 9.5 (FP 1), 9, 8.5 (FP 2), 8, ..., 2
  // (TPR .9, FPR 2/3), 1 (TPR 1, FPR 2/3), 0.5 (FPR 1). TPR 0.95 is halfway from 2 to 1,
  // with FPR 2/3 at both ends.
  std::vector<double> in;
  for (int i = 1; i <= 10; ++i) in.push_back(i);
  const std::vector<double> out = {0.5, 8.5, 9.5};
  CHECK(fpr_at_tpr(in, out, 0.95) == doctest::Approx(2.0 / 3));
  // The lowest in-distribution score tied with the out-of-distribution 0.5: the last step
  // goes from (2/3, 0.9) to (1, 1), and halfway is FPR 5/6.
  in[0] = 0.5;
  CHECK(fpr_at_tpr(in, out, 0.95) == doctest::Approx(5.0 / 6));
}

TEST_CASE("scores: max softmax probability and predictive entropy per row") {
  const Tensor p = from_vector({0.5, 0.5, 1.0, 0.0}, {2, 2});
  const std::vector<double> msp = max_softmax_probability(p), h = predictive_entropy(p);
  CHECK(msp[0] == doctest::Approx(0.5));
  CHECK(msp[1] == doctest::Approx(1.0));
  CHECK(h[0] == doctest::Approx(std::log(2.0)));
  CHECK(h[1] == doctest::Approx(0.0));
}

TEST_CASE("temperature scaling: an overconfident model's T by hand") {
  // Every prediction (0.9, 0.1); the label is class 0 three times in four. softmax(log p / T)
  // gives class 0 the probability 1 / (1 + 9^(-1/T)); the NLL is lowest where it is 3/4, i.e.
  // 9^(1/T) = 3: T = 2.
  const Tensor p = from_vector({0.9, 0.1, 0.9, 0.1, 0.9, 0.1, 0.9, 0.1}, {4, 2});
  const Tensor y = labels_from_vector({0, 0, 0, 1});
  const double t = fit_temperature(p, y);
  CHECK(t == doctest::Approx(2.0).epsilon(1e-5));
  const Tensor scaled = scale_temperature(p, t);
  CHECK(scaled.to_vector()[0] == doctest::Approx(0.75).epsilon(1e-5));
  CHECK(temperature_nll(p, y, t) < temperature_nll(p, y, 1.0));
  // T = 1 gives the probabilities back.
  CHECK(scale_temperature(p, 1.0).to_vector()[1] == doctest::Approx(0.1));
}
