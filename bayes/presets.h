// Named settings of the spike-and-slab prior and its sampler (docs/algorithm.md#presets), so a
// program starts from a documented recipe and flags override single values.
//
//   reference-cifar  the authors' CNN defaults: lambda1 5e-4, lambda0 1e-3, soft 1e-4,
//                    hard 1e-2 with the range test, warm-up 300 epochs, prune-bn off,
//                    threshold E-step. They never prune in the authors' own 200-epoch runs
//                    (warm-up 300 > 200 epochs); kept to reproduce the reference.
//   slab-cifar       slab's CIFAR default, measured on ResNet-20 and the CIFAR-10 subset
//                    (prunes ~71% of the conv weights in 30 epochs, at a cost in accuracy)
//   slab-mnist       slab's Fashion-MNIST default, measured on the small CNN (prunes
//                    52-69% of the conv weights in 6 epochs); docs/results.md "Images"
//                    has the runs, docs/algorithm.md#image-defaults the reasoning.
//   regression-1|2|3 the paper's simulated variable-selection examples
//   (docs/algorithm.md#variable-selection-data).
//
// A preset also carries the sampler's schedule settings, which the programs apply.
#pragma once
#include <string>
#include <vector>

#include "bayes/spike_slab.h"

namespace slab {

struct SamplerPreset {
  std::string name;
  SpikeSlabOptions prior;
  double learning_rate = 1.0;      // C0^2
  std::string temperature = "1/N"; // as --temperature takes it
  int64_t cycles = 4;
  int64_t epochs = 200;
  int64_t samples_per_cycle = 3;
  double eta = 0.1, beta1 = 0.1, beta2 = 1.0;
  std::string description;
};

SamplerPreset sampler_preset(const std::string& name);  // throws naming the known presets
std::vector<std::string> sampler_preset_names();

// --temperature: "1/N", "sqrt(1/N)" or a number >= 0, with N the training-set size.
double parse_temperature(const std::string& text, double data_size);

}  // namespace slab
