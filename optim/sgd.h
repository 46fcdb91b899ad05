// SGD with momentum, dampening, Nesterov momentum and L2 weight decay: PyTorch's
// torch.optim.SGD formulas (optim/sgd_kernel.h), one fused pass per parameter tensor.
//
// State: "<param>.momentum_buffer", created on the first step a parameter has a gradient
// (as PyTorch's lazily created buffer), absent without momentum. state_tensors() and
// load_state() give an exact resume.
#pragma once
#include <vector>

#include "optim/optimizer.h"

namespace slab {

struct SgdOptions {
  double learning_rate = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening = 0, as in PyTorch
};

class Sgd : public Optimizer {
 public:
  Sgd(std::vector<NamedParameter> parameters, const SgdOptions& options);

  std::string name() const override { return "sgd"; }
  void step() override;

  NamedTensors state_tensors() const override;
  Metadata state_metadata() const override;
  void load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) override;

  const SgdOptions& options() const { return options_; }

 private:
  SgdOptions options_;
  std::vector<Tensor> momentum_buffers_;  // undefined until a parameter's first step
};

}  // namespace slab
