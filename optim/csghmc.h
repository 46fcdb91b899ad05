// Cyclical SGHMC (Zhang et al. 2019, "Cyclical stochastic gradient MCMC for Bayesian deep
// learning"), the sampling baseline of docs/algorithm.md#csghmc, per weight:
//   d = g + wd w;  v = (1 - alpha) v - lr d;  [sampling phase: v += sqrt(2 lr alpha T / N) xi];  w += v
// with lr the cyclical cosine schedule (docs/algorithm.md#cyclical-schedule) set before each
// step. The noise is on only in the sampling phase at the end of each cycle (the last 5
// epochs of a 50-epoch cycle in the authors' code): start_epoch() switches it by
// sampling_phase() when the options give the cycle length, and set_noise() sets it
// directly. The fresh xi of each step is a Philox draw (stream = domain + tensor index,
// draw = step), so nothing but v is stored: 4 bytes per weight. The per-weight update is
// optim/csghmc_kernel.h; on CUDA parameters the velocity lives on the device and a step is
// one fused kernel calling it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace slab {

struct CsghmcOptions {
  double learning_rate = 0.5;       // lr0; the schedule sets lr each step
  double alpha = 0.9;               // 1 - momentum retention
  double weight_decay = 5e-4;
  double temperature = 1.0 / 50000; // as in the authors' code
  double data_size = 0.0;           // N: required
  uint64_t seed = 0;
  // The sampling phase, for start_epoch(): noise on in the last `noise_epochs` epochs of each
  // cycle of `epochs_per_cycle` epochs (0: start_epoch() leaves the noise as it is).
  int64_t epochs_per_cycle = 0;
  int64_t noise_epochs = 5;
};

class Csghmc : public Optimizer {
 public:
  Csghmc(std::vector<NamedParameter> parameters, const CsghmcOptions& options);
  std::string name() const override { return "csghmc"; }
  void step() override;
  void start_epoch(int64_t epoch) override;
  bool draws_posterior_samples() const override { return true; }
  bool injects_noise() const override { return noise_; }

  void set_noise(bool on) { noise_ = on; }
  bool noise() const { return noise_; }
  // The authors' rule: noise on in the last `noise_epochs` epochs of each
  // `epochs_per_cycle`-epoch cycle, i.e. (epoch mod cycle) + 1 > cycle - noise_epochs.
  static bool sampling_phase(int64_t epoch, int64_t epochs_per_cycle, int64_t noise_epochs = 5);

  NamedTensors state_tensors() const override;
  Metadata state_metadata() const override;
  void load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) override;

  static uint64_t noise_stream(size_t parameter_index);
  const Tensor& velocity(size_t i) const { return velocity_[i]; }

 private:
  CsghmcOptions options_;
  bool noise_ = false;
  std::vector<Tensor> velocity_;
};

}  // namespace slab
