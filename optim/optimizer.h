// Optimizer: the base of every update rule (SGD, Adam, the paper's samplers).
//
// An optimizer owns its per-parameter state and performs one fused pass over each
// parameter tensor per step (docs/architecture.md#fused-optimizer-steps). The learning rate is
// set by a schedule before each step. Checkpoints save state_tensors()
// (named "<parameter>.<slot>") and state_metadata() (scalars as strings), and load_state()
// restores them exactly.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/parse_number.h"
#include "core/safetensors.h"
#include "layers/module.h"
#include "layers/parameter_slice.h"

namespace slab {

// The state slot that holds a variational optimizer's posterior mean (predicts_at_mean()).
inline constexpr const char* kPosteriorMeanSlot = "mean";

class Optimizer {
 public:
  explicit Optimizer(std::vector<NamedParameter> parameters, double learning_rate)
      : parameters_(std::move(parameters)), learning_rate_(learning_rate) {}
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string name() const = 0;
  // One update of every parameter from its gradient (parameters without one are skipped).
  virtual void step() = 0;

  // What the training loop asks of an optimizer, so that it never needs to know which one
  // it runs (tools/trainer/trainer.h).
  //
  // The epoch-boundary hook, called before the first step of each epoch, and again when a
  // resumed run continues an epoch midway: what it sets must depend on `epoch` alone.
  // cSGHMC switches its noise on in the sampling phase of each cycle.
  virtual void start_epoch(int64_t epoch) { (void)epoch; }
  // Whether the parameters hold one draw of a variational posterior whose mean predicts
  // better (IVON, vb-adaptive): the loop evaluates between write_mean() and write_sample().
  virtual bool predicts_at_mean() const { return false; }
  virtual void write_mean() {}    // parameters := the posterior mean
  virtual void write_sample() {}  // parameters := the current draw again
  // Such an optimizer saves the mean as the state slot "<parameter>.mean"
  // (kPosteriorMeanSlot), so a program that reads a checkpoint predicts at the mean too.
  // Whether the iterates are a Markov chain whose states are posterior samples (the
  // SG-MCMC samplers): the loop saves samples at the end of each cycle and averages them.
  virtual bool draws_posterior_samples() const { return false; }
  // Whether the step injects noise now (reported per epoch for the samplers).
  virtual bool injects_noise() const { return false; }

  // Shrinking during training (docs/algorithm.md#shrinking-during-training). The model's
  // parameters have just been replaced by their kept slices (layers/shrink.h, whose report
  // gives `slices`, one per parameter in parameters() order); the optimizer slices every
  // per-element state it keeps (momentum, preconditioner, masks, group decays) alike and
  // keeps, per parameter, where its surviving elements lie in the dense parameter, so that
  // what it draws for a surviving element is what it would have drawn for it unshrunk.
  // An optimizer that cannot refuses here, naming itself.
  virtual bool can_keep_elements() const { return false; }
  virtual void keep_elements(const std::vector<ParameterSlice>& slices) {
    (void)slices;
    SLAB_FAIL(name(), ": this optimizer cannot follow a model that shrinks during training (--shrink off)");
  }
  // Where parameter i's elements lie in the parameter the model was built with; null for an
  // optimizer that never shrinks.
  virtual const ElementOrigin* element_origin(size_t parameter_index) const {
    (void)parameter_index;
    return nullptr;
  }

  void zero_grad() {
    for (const NamedParameter& p : parameters_) p.tensor.zero_grad();
  }
  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double value) { learning_rate_ = value; }
  int64_t step_count() const { return step_count_; }
  const std::vector<NamedParameter>& parameters() const { return parameters_; }

  // Exact-resume state.
  virtual NamedTensors state_tensors() const { return {}; }
  virtual Metadata state_metadata() const { return {{"step_count", std::to_string(step_count_)}}; }
  virtual void load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
    (void)tensors;
    auto it = metadata.find("step_count");
    if (it != metadata.end()) step_count_ = parse_int64(it->second, "optimizer metadata 'step_count'");
  }
  // Bytes of optimizer state (what `slab-bench optim` reports per parameter).
  virtual size_t state_bytes() const {
    size_t total = 0;
    for (const auto& [name, tensor] : state_tensors()) total += tensor.nbytes();
    return total;
  }

 protected:
  std::vector<NamedParameter> parameters_;
  double learning_rate_;
  int64_t step_count_ = 0;
};

}  // namespace slab
