// IVON (Shen et al. 2024, "Variational learning is effective for large deep networks"),
// the strongest variational baseline (docs/algorithm.md#ivon). Per weight: mean m, Hessian
// estimate h, gradient momentum gbar (12 bytes); the parameter tensor holds the sample
// m + eps with eps ~ N(0, sigma^2), sigma = 1/sqrt(lam (h + delta)). Per step t = 1, 2, ...:
//   z     = the draw that produced the sample (regenerated from Philox, not stored)
//   hhat  = g eps / sigma^2 = g z / sigma                 (sigma from the h before the update)
//   gbar  = b1 gbar + (1 - b1) g
//   h     = b2 h + (1 - b2) hhat + (1 - b2)^2 (h - hhat)^2 / (2 (h + delta))
//   m    -= a' clip((gbar / (1 - b1^t) + delta m) / (h + delta), +-r)
//   sample = m + z' / sqrt(lam (h + delta)),  z' the next draw
// a' = a (h0 + delta) with the public implementation's rescaled learning rate (default on),
// r the clip radius (default infinite). One Monte-Carlo sample per step (several samples
// would average hhat over extra forward/backward passes, which the training loop owns).
// The per-weight update is optim/ivon_kernel.h; on CUDA parameters the state lives on the
// device and a step (or a sample) is one fused kernel calling it, with the same draws.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace slab {

struct IvonOptions {
  double learning_rate = 0.1;      // a
  double data_size = 0.0;          // lam, the effective sample size (N): required
  double hessian_init = 1.0;       // h0
  double beta1 = 0.9;
  double beta2 = 0.99999;
  double weight_decay = 1e-4;      // delta
  double clip_radius = std::numeric_limits<double>::infinity();
  bool rescale_learning_rate = true;
  uint64_t seed = 0;
};

class Ivon : public Optimizer {
 public:
  Ivon(std::vector<NamedParameter> parameters, const IvonOptions& options);
  std::string name() const override { return "ivon"; }
  void step() override;

  bool predicts_at_mean() const override { return true; }
  void write_mean() override;    // parameters := m (prediction at the mean)
  void write_sample() override;  // parameters := the sample of the current draw

  NamedTensors state_tensors() const override;
  Metadata state_metadata() const override;
  void load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) override;

  static uint64_t noise_stream(size_t parameter_index);
  const Tensor& mean(size_t i) const { return mean_[i]; }
  const Tensor& hessian(size_t i) const { return hessian_[i]; }
  const Tensor& gradient_momentum(size_t i) const { return gradient_momentum_[i]; }

 private:
  IvonOptions options_;
  std::vector<Tensor> mean_, hessian_, gradient_momentum_;
};

}  // namespace slab
