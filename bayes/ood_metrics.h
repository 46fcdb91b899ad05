// Out-of-distribution detection metrics (docs/run-folder.md#ood-json):
// a score per example, higher meaning "more in-distribution", and how well it separates the
// in-distribution test set (the positives) from an out-of-distribution set (the negatives).
//
// Scores of a predictive distribution p (one row of softmax outputs):
//   max softmax probability  max_k p_k
//   predictive entropy       -sum_k p_k log p_k   (its negation is the score)
//   mutual information       H(mean_s p_s) - mean_s H(p_s) over posterior samples s: the
//                            part of the entropy that comes from the samples disagreeing
//                            (its negation is the score)
// Metrics of a score (n_in positives, n_out negatives):
//   AUROC      P(score_in > score_out) + P(score_in = score_out) / 2, the Mann-Whitney
//              statistic with average ranks, so tied scores count one half;
//   AUPR-in    average precision with the in-distribution set positive: over the distinct
//              thresholds t from the highest down (ties enter together),
//              sum_t (recall_t - recall_{t-1}) precision_t, recall_0 = 0;
//   AUPR-out   the same with the out-of-distribution set positive and the score negated;
//   FPR95      the false-positive rate (out-of-distribution examples scored at or above the
//              threshold) where the true-positive rate reaches 0.95, interpolated linearly
//              between the two ROC points (distinct thresholds, from (0, 0)) around it.
// A perfect detector has AUROC 1, both AUPRs 1 and FPR95 0; a constant score has AUROC 1/2,
// AUPR-in n_in / (n_in + n_out) and FPR95 0.95.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace slab {

struct DetectionMetrics {
  double auroc = 0, aupr_in = 0, aupr_out = 0, fpr95 = 0;
};

// `in` and `out` are scores, higher = more in-distribution; neither may be empty.
DetectionMetrics detection_metrics(const std::vector<double>& in, const std::vector<double>& out);
double auroc(const std::vector<double>& in, const std::vector<double>& out);
double average_precision(const std::vector<double>& positives, const std::vector<double>& negatives);
double fpr_at_tpr(const std::vector<double>& in, const std::vector<double>& out, double tpr);

// Per-example scores of probabilities [n, classes] (float32 or float64).
std::vector<double> max_softmax_probability(const Tensor& probabilities);
std::vector<double> predictive_entropy(const Tensor& probabilities);  // the entropy itself (>= 0)

}  // namespace slab
