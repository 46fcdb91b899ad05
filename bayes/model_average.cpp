#include "bayes/model_average.h"

#include "core/ops.h"

namespace slab {

void ModelAverage::add(const Tensor& probabilities) {
  SLAB_CHECK(probabilities.dim() == 2, "model average: probabilities must be [n, classes], got ", probabilities.shape());
  const Tensor p = probabilities.to(Device::cpu()).to(DType::f64);
  if (samples_ == 0) {
    mean_ = p.clone();
    samples_ = 1;
    return;
  }
  SLAB_CHECK(p.shape() == mean_.shape(), "model average: sample ", samples_ + 1, " has shape ", p.shape(),
             ", the earlier ones ", mean_.shape());
  ++samples_;
  const double* x = p.data<double>();
  double* m = mean_.data<double>();
  const double weight = 1.0 / static_cast<double>(samples_);
  for (int64_t i = 0; i < p.numel(); ++i) m[i] += (x[i] - m[i]) * weight;
}

Tensor ModelAverage::mean() const {
  SLAB_CHECK(samples_ > 0, "model average: no sample was added");
  return mean_.clone();
}

void ModelAverage::reset() {
  mean_ = Tensor();
  samples_ = 0;
}

}  // namespace slab
