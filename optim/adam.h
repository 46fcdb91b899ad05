// Adam and AdamW: PyTorch's torch.optim.Adam / AdamW formulas (optim/adam_kernel.h), one
// fused pass per parameter tensor. Adam adds weight_decay * w to the gradient (L2);
// AdamW multiplies w by 1 - lr weight_decay before the update (decoupled decay).
//
// State per parameter, created on its first step with a gradient (as PyTorch):
// "<param>.exp_avg", "<param>.exp_avg_sq", "<param>.max_exp_avg_sq" (amsgrad only), and
// "<param>.step" (int64 []: the bias corrections use the parameter's own step count).
#pragma once
#include <vector>

#include "optim/optimizer.h"

namespace slab {

struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // PyTorch's AdamW default is 1e-2: pass it explicitly
  bool amsgrad = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<NamedParameter> parameters, const AdamOptions& options);

  std::string name() const override { return decoupled_weight_decay() ? "adamw" : "adam"; }
  void step() override;

  NamedTensors state_tensors() const override;
  Metadata state_metadata() const override;
  void load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) override;

  const AdamOptions& options() const { return options_; }

 protected:
  virtual bool decoupled_weight_decay() const { return false; }

 private:
  const char* label() const { return decoupled_weight_decay() ? "AdamW" : "Adam"; }
  AdamOptions options_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
  std::vector<int64_t> steps_;  // per parameter, 0 before its first step
};

class AdamW : public Adam {
 public:
  using Adam::Adam;

 protected:
  bool decoupled_weight_decay() const override { return true; }
};

}  // namespace slab
