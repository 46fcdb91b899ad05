// Bayesian model averaging (docs/algorithm.md#model-averaging): the predictive distribution is
// the average of the softmax outputs of the S saved posterior samples, kept as a running mean
// in float64 (avg += (p - avg) / s), so samples can be added one at a time as they are evaluated.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace slab {

class ModelAverage {
 public:
  // probabilities [n, classes]: one sample's softmax over the whole evaluation set.
  void add(const Tensor& probabilities);
  int64_t samples() const { return samples_; }
  // The averaged probabilities [n, classes], float64. Throws before the first add().
  Tensor mean() const;
  void reset();

 private:
  Tensor mean_;
  int64_t samples_ = 0;
};

}  // namespace slab
