// Weight initialisers with PyTorch's formulas (torch.nn.init), drawn from a slab Generator.
//
// The draws are Philox streams, not PyTorch's generator, so values differ from PyTorch's
// for the same seed; the distributions (bounds, standard deviations, fans) are the same.
//
//   fan_in  = size(1) * receptive field,  fan_out = size(0) * receptive field,
//   receptive field = product of the extents after the first two (1 for a Linear weight).
//   kaiming_uniform_(a): U(-b, b), b = gain * sqrt(3 / fan),  gain = sqrt(2 / (1 + a^2))
//   kaiming_normal_(a):  N(0, s^2), s = gain / sqrt(fan)
// PyTorch's default for Linear and Conv2d is kaiming_uniform_(a = sqrt(5), fan_in), which
// gives b = 1 / sqrt(fan_in), and a bias drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
// "He-normal" (torchvision's ResNet convolutions) is kaiming_normal_(fan_out, relu), that
// is s = sqrt(2 / fan_out).
#pragma once
#include <cstdint>

#include "core/random.h"
#include "core/tensor.h"

namespace slab {

class Module;

enum class FanMode { FanIn, FanOut };

struct Fans {
  int64_t fan_in = 0;
  int64_t fan_out = 0;
};

// PyTorch's _calculate_fan_in_and_fan_out; a tensor of fewer than two dimensions is an error.
Fans compute_fans(const Shape& weight_shape);

// The gain of a leaky ReLU of negative slope a: sqrt(2 / (1 + a^2)) (a = 0: ReLU, sqrt 2).
double leaky_relu_gain(double negative_slope);

// In-place fills (no history). Each returns nothing and advances the generator.
void uniform_(const Tensor& tensor, Generator& generator, double low, double high);
void normal_(const Tensor& tensor, Generator& generator, double mean, double stddev);
void kaiming_uniform_(const Tensor& tensor, Generator& generator, double negative_slope = 0.0,
                      FanMode mode = FanMode::FanIn);
void kaiming_normal_(const Tensor& tensor, Generator& generator, double negative_slope = 0.0,
                     FanMode mode = FanMode::FanIn);

// PyTorch's reset_parameters() of Linear and Conv2d: weight by kaiming_uniform_(sqrt 5),
// bias (if defined) by U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void pytorch_default_init(const Tensor& weight, const Tensor& bias, Generator& generator);

// He-normal initialisation of every Conv2d in `module` (kaiming_normal_(fan_out, relu)),
// with BatchNorm weights set to 1 and biases to 0: torchvision's ResNet initialisation.
// Linear layers keep their initialisation.
void he_normal_init(Module& module, Generator& generator);

}  // namespace slab
