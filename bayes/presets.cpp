#include "bayes/presets.h"
#include "core/parse_number.h"

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

// slab's image defaults, each value measured (docs/results.md#image-defaults). A conv
// followed by BatchNorm is scale-invariant in its filter, so the spike acts only where the
// soft threshold sits above the layer's weights; the filters and input channels the data
// does not need then settle far below the others, and the magnitude test removes them.
SamplerPreset slab_cifar() {
  // ResNet-20 on the CIFAR-10 subset in 30 epochs: docs/results.md#cifar-10.
  SamplerPreset p = reference_cifar();
  p.name = "slab-cifar";
  // A weak spike: useful filters are held up by their gradient and stay above the cut.
  p.prior.lambda0 = 4e-3;
  // Between stage 3's initial mean w^2 (2/576) and stage 2's (2/288): stage 3 is what is spiked.
  p.prior.soft_threshold = 6e-3;
  // Falls between the stage-3 filters the data needs and those it lets collapse.
  p.prior.hard_threshold_conv = 6e-2;
  // No effect on the image models: their classifiers are outside the prior (PriorGrouping::None).
  p.prior.hard_threshold_linear = 1e-4;
  // max|w| < cut: a unit goes when its largest weight is small (range would also cut a large uniform filter).
  p.prior.hard_test = HardTest::Magnitude;
  // The first E-step after one epoch of training: 30 epochs in all.
  p.prior.warm_up = 1;
  // A pruned filter takes its BatchNorm channel with it: a dead channel, not a bias.
  p.prior.prune_bn = true;
  // C0^2 0.2 at momentum retention 0.9: without a prior the sampler is then as accurate as SGD.
  p.learning_rate = 0.2;
  p.beta1 = 0.9;
  p.epochs = 30;
  // One cycle: with two, the first cycle's samples (62-66% accurate) pull the average down.
  p.cycles = 1;
  // The last 10 epochs: the last 3 alone are nearly one model; 20 take in worse models.
  p.samples_per_cycle = 10;
  p.description = "slab's CIFAR default: prunes ResNet-20 within 30 epochs (measured, docs/results.md)";
  return p;
}

SamplerPreset slab_mnist() {
  // The small CNN on Fashion-MNIST in 6 epochs: docs/results.md#fashion-mnist.
  SamplerPreset p = slab_cifar();
  p.name = "slab-mnist";
  // The most accurate of 0.05-0.2 at the pruning target on the small CNN.
  p.prior.lambda0 = 0.1;
  // Thresholds relative to each layer's scale: under BatchNorm the only scale that means anything.
  p.prior.threshold_scale = ThresholdScale::Layer;
  // A kernel slice is spiked when its mean w^2 is below its layer's mean.
  p.prior.soft_threshold = 1.0;
  // A unit goes when its max|w| is below 0.4 of its layer's RMS: the margin over the 50% pruning target.
  p.prior.hard_threshold_conv = 0.4;
  // E-steps from the first epoch: 6 epochs in all.
  p.prior.warm_up = 0;
  // C0^2 0.02 with momentum retention 0.9: the effective step of SGD at lr 0.01, momentum 0.9.
  p.beta1 = 0.9;
  p.learning_rate = 0.02;
  p.epochs = 6;
  p.cycles = 1;
  p.samples_per_cycle = 3;
  p.description = "slab's Fashion-MNIST default: prunes the small CNN within 6 epochs (measured, docs/results.md)";
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
  p.description = "the paper's simulated variable-selection example " + std::to_string(example) +
                  " (docs/algorithm.md#variable-selection-data)";
  return p;
}

}  // namespace

std::vector<std::string> sampler_preset_names() {
  return {"slab-cifar", "slab-mnist", "reference-cifar", "regression-1", "regression-2", "regression-3"};
}

SamplerPreset sampler_preset(const std::string& name) {
  if (name == "reference-cifar") return reference_cifar();
  if (name == "slab-cifar") return slab_cifar();
  if (name == "slab-mnist") return slab_mnist();
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
  double value = 0;
  const size_t used = parse_double_prefix(text, value);
  SLAB_CHECK(used == text.size() && used > 0 && std::isfinite(value) && value >= 0,
             "--temperature: expected '1/N', 'sqrt(1/N)' or a number >= 0, got '", text, "'");
  return value;
}

}  // namespace slab
