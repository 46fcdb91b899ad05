// Temperature scaling (Guo et al. 2017), the post-hoc calibration baseline: the predictive
// distribution softmax(z / T) with one temperature T > 0 fitted by minimising the negative
// log-likelihood on held-out data (never the test set).
//
// It works from probabilities p = softmax(z): log p = z - logsumexp(z) differs from the
// logits by a per-row constant, which softmax ignores, so softmax(log p / T) =
// softmax(z / T). Probabilities below 1e-30 (a float32 softmax underflows to 0 for logit
// gaps above ~100) are read as 1e-30, which changes the scaled distribution by less than
// 1e-30 / T in each entry that mattered.
//
// The fit: NLL(beta) = mean_i [logsumexp(beta log p_i) - beta log p_i,y] is convex in
// beta = 1 / T, so it is unimodal in log T; a golden-section search over log T in
// [log 0.05, log 20] narrows it to 1e-6 (about 60 iterations).
#pragma once
#include "core/tensor.h"

namespace slab {

// probabilities [n, classes] float32 or float64 -> softmax(log p / T), float64.
Tensor scale_temperature(const Tensor& probabilities, double temperature);
// The mean NLL of softmax(log p / T) against labels int64 [n].
double temperature_nll(const Tensor& probabilities, const Tensor& labels, double temperature);
// The temperature minimising temperature_nll on (probabilities, labels).
double fit_temperature(const Tensor& probabilities, const Tensor& labels);

}  // namespace slab
