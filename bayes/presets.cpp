#include "bayes/presets.h"

#include <cmath>

namespace slab {

namespace {

SamplerPreset reference_cifar() {
  SamplerPreset p;
  p.name = "reference-cifar";
  p.prior.lambda1 = 5e-4;
  p.prior.lambda0 = 1e-3;
  p.prior.soft_threshold = 1e-4;
  p.prior.hard_threshold_conv = 1e-2;
  p.prior.hard_threshold_linear = 1e-2;
  p.prior.hard_test = HardTest::Range;
  p.prior.estep = EStep::Threshold;
  p.prior.warm_up = 300;
  p.prior.prune_bn = false;
  p.learning_rate = 1.0;
  p.temperature = "1/N";
  p.cycles = 4;
  p.epochs = 200;
  p.samples_per_cycle = 3;
  p.description = "the authors' CNN defaults (never prune within 200 epochs: warm-up 300)";
  return p;
}

SamplerPreset slab_cifar() {
  // Provisional (docs/algorithm-notes.md, "Image defaults"): a spike strong enough to
  // shrink a scale-invariant conv+BN filter within a few epochs, a magnitude test on
  // whole input channels and filters, prune-bn so a pruned filter is a dead channel, and a
  // short warm-up so pruning starts inside a short budget.
  SamplerPreset p = reference_cifar();
  p.name = "slab-cifar";
  p.prior.lambda0 = 5e-2;
  p.prior.soft_threshold = 1e-3;
  p.prior.hard_threshold_conv = 1e-2;
  p.prior.hard_threshold_linear = 1e-4;
  p.prior.hard_test = HardTest::Magnitude;
  p.prior.warm_up = 2;
  p.prior.prune_bn = true;
  p.epochs = 20;
  p.cycles = 2;
  p.samples_per_cycle = 2;
  p.description = "slab's image default: prunes on a short budget (provisional, see docs/algorithm-notes.md)";
  return p;
}

SamplerPreset regression(int example) {
  SamplerPreset p;
  p.name = "regression-" + std::to_string(example);
  p.prior.lambda1 = example == 1 ? 2e-4 : 5e-4;
  p.prior.lambda0 = 1e-2;
  p.prior.soft_threshold = example == 3 ? 2e-2 : 1e-2;
  p.prior.hard_threshold_linear = 1e-3;
  p.prior.hard_threshold_conv = 1e-3;
  p.prior.hard_test = HardTest::Magnitude;
  p.prior.estep = EStep::Threshold;
  p.prior.warm_up = 50;
  p.prior.prune_bn = true;
  p.learning_rate = example == 3 ? 0.1 : 0.01;
  p.temperature = "sqrt(1/N)";
  p.cycles = 6;
  p.epochs = example == 2 ? 6000 : 3000;
  p.samples_per_cycle = 0;
  p.description = "the paper's simulated variable-selection example " + std::to_string(example) + " (ALGORITHM.md 5)";
  return p;
}

}  // namespace

std::vector<std::string> sampler_preset_names() {
  return {"slab-cifar", "reference-cifar", "regression-1", "regression-2", "regression-3"};
}

SamplerPreset sampler_preset(const std::string& name) {
  if (name == "reference-cifar") return reference_cifar();
  if (name == "slab-cifar") return slab_cifar();
  if (name == "regression-1") return regression(1);
  if (name == "regression-2") return regression(2);
  if (name == "regression-3") return regression(3);
  std::string known;
  for (const std::string& n : sampler_preset_names()) known += (known.empty() ? "" : ", ") + n;
  SLAB_FAIL("--preset: unknown preset '", name, "' (known: ", known, ")");
}

double parse_temperature(const std::string& text, double data_size) {
  SLAB_CHECK(data_size > 0, "--temperature: the training-set size N must be positive, got ", data_size);
  if (text == "1/N") return 1.0 / data_size;
  if (text == "sqrt(1/N)") return std::sqrt(1.0 / data_size);
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  SLAB_CHECK(used == text.size() && used > 0 && std::isfinite(value) && value >= 0,
             "--temperature: expected '1/N', 'sqrt(1/N)' or a number >= 0, got '", text, "'");
  return value;
}

}  // namespace slab
