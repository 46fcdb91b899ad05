#include "bayes/ood_metrics.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"

namespace slab {

namespace {

void check_sets(const std::vector<double>& in, const std::vector<double>& out) {
  SLAB_CHECK(!in.empty() && !out.empty(), "OOD metrics: need at least one in-distribution and one ",
             "out-of-distribution score, got ", in.size(), " and ", out.size());
}

// The ROC points over the distinct thresholds from the highest down, starting at (0, 0):
// (false positives, true positives) counted at each threshold, ties entering together.
std::vector<std::pair<double, double>> roc_counts(const std::vector<double>& positives,
                                                  const std::vector<double>& negatives) {
  std::vector<std::pair<double, bool>> all;
  all.reserve(positives.size() + negatives.size());
  for (double s : positives) all.emplace_back(s, true);
  for (double s : negatives) all.emplace_back(s, false);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::pair<double, double>> points{{0.0, 0.0}};
  double fp = 0, tp = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    (all[i].second ? tp : fp) += 1;
    if (i + 1 == all.size() || all[i + 1].first != all[i].first) points.emplace_back(fp, tp);
  }
  return points;
}

template <typename F>
std::vector<double> per_row(const Tensor& probabilities, F f) {
  SLAB_CHECK(probabilities.dim() == 2, "OOD scores: probabilities must be [n, classes], got ", probabilities.shape());
  const Tensor p = probabilities.dtype() == DType::f64 ? probabilities : probabilities.to(DType::f64);
  const int64_t n = p.size(0), classes = p.size(1);
  std::vector<double> scores(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) scores[static_cast<size_t>(i)] = f(p.data<double>() + i * classes, classes);
  return scores;
}

}  // namespace

double auroc(const std::vector<double>& in, const std::vector<double>& out) {
  check_sets(in, out);
  std::vector<std::pair<double, bool>> all;
  for (double s : in) all.emplace_back(s, true);
  for (double s : out) all.emplace_back(s, false);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum = 0;  // of the positives, ranks 1-based, a tie group sharing its mean rank
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double mean_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k) rank_sum += all[k].second ? mean_rank : 0.0;
    i = j;
  }
  const double n_in = static_cast<double>(in.size()), n_out = static_cast<double>(out.size());
  return (rank_sum - n_in * (n_in + 1) / 2) / (n_in * n_out);
}

double average_precision(const std::vector<double>& positives, const std::vector<double>& negatives) {
  check_sets(positives, negatives);
  const std::vector<std::pair<double, double>> points = roc_counts(positives, negatives);
  const double p = static_cast<double>(positives.size());
  double ap = 0;
  for (size_t k = 1; k < points.size(); ++k) {
    const auto [fp, tp] = points[k];
    ap += (tp - points[k - 1].second) / p * (tp / (tp + fp));
  }
  return ap;
}

double fpr_at_tpr(const std::vector<double>& in, const std::vector<double>& out, double tpr) {
  check_sets(in, out);
  const std::vector<std::pair<double, double>> points = roc_counts(in, out);
  const double p = static_cast<double>(in.size()), n = static_cast<double>(out.size());
  for (size_t k = 1; k < points.size(); ++k) {
    const double t1 = points[k].second / p;
    if (t1 < tpr) continue;
    const double t0 = points[k - 1].second / p, f0 = points[k - 1].first / n, f1 = points[k].first / n;
    return t1 == t0 ? f0 : f0 + (tpr - t0) / (t1 - t0) * (f1 - f0);
  }
  return 1.0;  // not reached: the last point has TPR 1
}

DetectionMetrics detection_metrics(const std::vector<double>& in, const std::vector<double>& out) {
  std::vector<double> negated_in(in.size()), negated_out(out.size());
  std::transform(in.begin(), in.end(), negated_in.begin(), [](double s) { return -s; });
  std::transform(out.begin(), out.end(), negated_out.begin(), [](double s) { return -s; });
  return {auroc(in, out), average_precision(in, out), average_precision(negated_out, negated_in),
          fpr_at_tpr(in, out, 0.95)};
}

std::vector<double> max_softmax_probability(const Tensor& probabilities) {
  return per_row(probabilities, [](const double* p, int64_t classes) { return *std::max_element(p, p + classes); });
}

std::vector<double> predictive_entropy(const Tensor& probabilities) {
  return per_row(probabilities, [](const double* p, int64_t classes) {
    double h = 0;
    for (int64_t k = 0; k < classes; ++k)
      if (p[k] > 0) h -= p[k] * std::log(p[k]);
    return h;
  });
}

}  // namespace slab
