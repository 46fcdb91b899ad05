// The paper's dense optimizer: the adaptive variational update written as preconditioned
// SGHMC (docs/algorithm.md#adaptive-variational-update), and its spike-and-slab form
// `sghmc-spl` (docs/algorithm.md#spike-and-slab-prior), whose per-group weight decay and hard
// masks bayes/ sets once per epoch.
//
// Only the weight sample w lives in the parameter tensor. Per weight the optimizer keeps
// the momentum m and the dual variable rho (8 bytes); tau = sigmoid(rho) is recomputed; the
// noise xi is regenerated from Philox (optim/sghmc_noise.h): the xi that produced the
// current w (xi_prev) is draw d of the tensor's stream, and the fresh xi of this step is
// draw d + 1. Draw 0 is the initial xi_prev of docs/algorithm.md#adaptive-variational-update.
// Per-group decays and per-channel masks add under half a byte per conv weight
// (optim/prior_state.h).
//
// The learning rate of the base class is C^2 (set by the cyclical schedule before each
// step); T and N are explicit options, never inferred.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "optim/optimizer.h"
#include "optim/prior_state.h"

namespace slab {

struct SghmcCoefficients;  // optim/sghmc_kernel.h

struct SghmcOptions {
  double learning_rate = 1.0;       // C0^2; the schedule sets C^2 each step
  double temperature = -1.0;        // T: required (>= 0); 1/N or sqrt(1/N) in the paper
  double data_size = 0.0;           // N: required (> 0), the training-set size
  double eta = 0.1;                 // step of the rho update
  double beta1 = 0.1;               // momentum retention (friction 1 - beta1)
  double beta2 = 1.0;               // gradient scale
  double weight_decay = 5e-4;       // lambda of every weight until a prior sets groups (lambda1)
  double initial_momentum_std = 1e-3;  // m = 0.001 N(0, 1) at the start
  uint64_t seed = 0;                // Philox key of the noise
  bool spike_and_slab = false;      // name() is "sghmc-spl" (the step is the same)
};

class Sghmc : public Optimizer, public PriorStateHolder {
 public:
  Sghmc(std::vector<NamedParameter> parameters, const SghmcOptions& options);

  std::string name() const override { return options_.spike_and_slab ? "sghmc-spl" : "sghmc"; }
  void step() override;
  bool draws_posterior_samples() const override { return true; }
  bool injects_noise() const override { return options_.temperature > 0; }

  // Exact resume: "<param>.momentum", "<param>.rho", and the prior state
  // ("<param>.group_weight_decay", "<param>.keep_rows", "<param>.keep_columns", as float
  // tensors, present when set); metadata holds step_count, the seed and each tensor's
  // current draw index.
  NamedTensors state_tensors() const override;
  Metadata state_metadata() const override;
  void load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) override;
  size_t state_bytes() const override;

  // Shrinking during training: momentum, rho and the prior state are cut to the kept
  // elements; each parameter's noise is then drawn at the dense addresses of its survivors
  // (optim/gathered_noise.h), so the draws of the kept weights do not change. CPU only.
  bool can_keep_elements() const override { return true; }
  void keep_elements(const std::vector<ParameterSlice>& slices) override;
  const ElementOrigin* element_origin(size_t parameter_index) const override { return &origins_[parameter_index]; }

  std::vector<PriorState>& prior_states() override { return prior_states_; }
  const std::vector<PriorState>& prior_states() const override { return prior_states_; }
  void apply_prior_masks() override;

  const SghmcOptions& options() const { return options_; }
  // The draw of the xi that produced parameter i's current value (for tests and oracles).
  uint64_t current_draw(size_t parameter_index) const { return draw_index_[parameter_index]; }
  // Philox stream of parameter i's xi.
  static uint64_t noise_stream(size_t parameter_index);
  const Tensor& momentum(size_t i) const { return momentum_[i]; }
  const Tensor& rho(size_t i) const { return rho_[i]; }

 private:
  // The step's scalars at the current learning rate; an error if any overflows float.
  SghmcCoefficients coefficients() const;
  void step_tensor(size_t index, const SghmcCoefficients& k);

  SghmcOptions options_;
  std::vector<Tensor> momentum_, rho_;
  std::vector<uint64_t> draw_index_;
  std::vector<PriorState> prior_states_;
  std::vector<ElementOrigin> origins_;  // per parameter: its elements in the dense parameter
};

// Writes a PriorState as named float tensors (empty vectors are omitted) and reads it back:
// shared by the optimizer's checkpoint and bayes' posterior samples.
void append_prior_state_tensors(const std::string& name, const PriorState& state, NamedTensors& out);
void read_prior_state_tensors(const std::string& name, const std::map<std::string, Tensor>& tensors, PriorState& state);

}  // namespace slab
