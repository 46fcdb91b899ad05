// The paper's naive Bayesian adaptive algorithm (natural-gradient VI, its section 2.2),
// kept as the baseline the paper argues against (docs/algorithm.md#vb-adaptive). Per weight it
// keeps the mean mu, the precision P = 1/sigma^2 and a gradient momentum m; the parameter tensor
// holds the one Monte-Carlo sample w = mu + sigma eps used for the gradient. Per step:
//   m   = beta m + (1 - beta) g
//   P   = (1 - kappa gamma) P + gamma (g g + delta/N)
//   mu -= l_t (1/P)^alpha (m + (delta/N) mu)
//   w   = mu + P^(-1/2) eps,  eps ~ N(0, 1) fresh
// alpha in [1/2, 1]: 1/2 is Adam-like, 1 Newton-like. delta/N is written weight_decay here
// (the prior precision per datum, as in the other optimizers). The two failure modes the
// paper shows are reproduced on purpose: sigma^2 = 1/P is large while P is still small
// (no warm-up), and with one sample and a small l_t the injected noise dominates.
// The constructor draws the first sample into the parameters; write_mean() and
// write_sample() switch them between the mean (to predict) and the current sample.
// The per-weight update is optim/vb_adaptive_kernel.h; on CUDA parameters the state lives
// on the device and a step (or a sample) is one fused kernel calling it, with the same draws.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace slab {

struct VbAdaptiveOptions {
  double learning_rate = 1e-3;      // l_t (a schedule may change it)
  double beta = 0.9;                // gradient momentum
  double gamma = 1e-3;              // precision step, 0 < gamma < 1
  double kappa = 1.0;               // second learning rate (lambda in the paper)
  double alpha = 0.5;               // preconditioner power, in [1/2, 1]
  double weight_decay = 5e-4;       // delta / N
  double initial_precision = 1.0;   // P_0
  uint64_t seed = 0;
};

class VbAdaptive : public Optimizer {
 public:
  VbAdaptive(std::vector<NamedParameter> parameters, const VbAdaptiveOptions& options);
  std::string name() const override { return "vb-adaptive"; }
  void step() override;

  bool predicts_at_mean() const override { return true; }
  void write_mean() override;    // parameters := mu
  void write_sample() override;  // parameters := mu + sigma eps, the sample of the current draw

  NamedTensors state_tensors() const override;
  Metadata state_metadata() const override;
  void load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) override;

  static uint64_t noise_stream(size_t parameter_index);
  const Tensor& mean(size_t i) const { return mean_[i]; }
  const Tensor& precision(size_t i) const { return precision_[i]; }
  const Tensor& momentum(size_t i) const { return momentum_[i]; }

 private:
  VbAdaptiveOptions options_;
  std::vector<Tensor> mean_, precision_, momentum_;
};

}  // namespace slab
