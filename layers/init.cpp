#include "layers/init.h"

#include <cmath>

#include "layers/batch_norm.h"
#include "layers/conv2d.h"

namespace slab {

Fans compute_fans(const Shape& shape) {
  SLAB_CHECK(shape.size() >= 2, "compute_fans: a weight needs at least 2 dimensions to have fans, got shape ", shape);
  int64_t receptive_field = 1;
  for (size_t d = 2; d < shape.size(); ++d) receptive_field *= shape[d];
  return {shape[1] * receptive_field, shape[0] * receptive_field};
}

double leaky_relu_gain(double negative_slope) { return std::sqrt(2.0 / (1.0 + negative_slope * negative_slope)); }

void uniform_(const Tensor& tensor, Generator& generator, double low, double high) {
  NoGradGuard no_grad;
  generator.fill_uniform(tensor, low, high);
}

void normal_(const Tensor& tensor, Generator& generator, double mean, double stddev) {
  NoGradGuard no_grad;
  generator.fill_normal(tensor, mean, stddev);
}

namespace {
double chosen_fan(const Tensor& tensor, FanMode mode, const char* name) {
  const Fans fans = compute_fans(tensor.shape());
  const int64_t fan = mode == FanMode::FanIn ? fans.fan_in : fans.fan_out;
  SLAB_CHECK(fan > 0, name, ": zero fan for a tensor of shape ", tensor.shape());
  return static_cast<double>(fan);
}
}  // namespace

void kaiming_uniform_(const Tensor& tensor, Generator& generator, double negative_slope, FanMode mode) {
  const double bound = leaky_relu_gain(negative_slope) * std::sqrt(3.0 / chosen_fan(tensor, mode, "kaiming_uniform_"));
  uniform_(tensor, generator, -bound, bound);
}

void kaiming_normal_(const Tensor& tensor, Generator& generator, double negative_slope, FanMode mode) {
  const double stddev = leaky_relu_gain(negative_slope) / std::sqrt(chosen_fan(tensor, mode, "kaiming_normal_"));
  normal_(tensor, generator, 0.0, stddev);
}

void pytorch_default_init(const Tensor& weight, const Tensor& bias, Generator& generator) {
  kaiming_uniform_(weight, generator, std::sqrt(5.0), FanMode::FanIn);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(compute_fans(weight.shape()).fan_in));
    uniform_(bias, generator, -bound, bound);
  }
}

void he_normal_init(Module& module, Generator& generator) {
  NoGradGuard no_grad;
  for (auto& [name, child] : module.named_modules()) {
    if (auto* conv = dynamic_cast<Conv2d*>(child)) {
      kaiming_normal_(conv->weight, generator, 0.0, FanMode::FanOut);
    } else if (auto* norm = dynamic_cast<BatchNorm*>(child)) {
      if (norm->weight.defined()) norm->weight.fill(1.0);
      if (norm->bias.defined()) norm->bias.fill(0.0);
    }
  }
}

}  // namespace slab
