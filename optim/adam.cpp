#include "optim/adam.h"

#include <cmath>

#include "core/dtype.h"
#include "optim/adam_kernel.h"
#include "optim/state_io.h"
#ifdef SLAB_WITH_CUDA
#include "optim/cuda/optimizer_kernels.h"
#endif

namespace slab {

Adam::Adam(std::vector<NamedParameter> parameters, const AdamOptions& options)
    : Optimizer(std::move(parameters), options.learning_rate), options_(options) {
  // The virtual label() is not yet AdamW's inside this constructor, so the checks say "Adam".
  SLAB_CHECK(options.learning_rate >= 0, "Adam: learning rate must be non-negative, got ", options.learning_rate);
  SLAB_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
             "Adam: betas must lie in [0, 1), got (", options.beta1, ", ", options.beta2, ")");
  SLAB_CHECK(options.eps >= 0, "Adam: eps must be non-negative, got ", options.eps);
  SLAB_CHECK(options.weight_decay >= 0, "Adam: weight decay must be non-negative, got ", options.weight_decay);
  check_optimizer_parameters(parameters_, "Adam");
  exp_avg_.resize(parameters_.size());
  exp_avg_sq_.resize(parameters_.size());
  max_exp_avg_sq_.resize(parameters_.size());
  steps_.assign(parameters_.size(), 0);
}

void Adam::step() {
  const bool decoupled = decoupled_weight_decay();
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& weight = parameters_[i].tensor;
    const Tensor gradient = weight.grad();
    if (!gradient.defined()) continue;
    check_cpu_step(parameters_[i], gradient, label());
    if (!exp_avg_[i].defined()) {
      exp_avg_[i] = zeros(weight.shape(), {weight.dtype(), weight.device()});
      exp_avg_sq_[i] = zeros(weight.shape(), {weight.dtype(), weight.device()});
      if (options_.amsgrad) max_exp_avg_sq_[i] = zeros(weight.shape(), {weight.dtype(), weight.device()});
    }
    const int64_t t = ++steps_[i];
    const double bias_correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(t));
    const double bias_correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(t));
    dispatch_float(weight.dtype(), label(), [&](auto zero) {
      using T = decltype(zero);
      AdamCoefficients<T> k;
      k.beta1 = static_cast<T>(options_.beta1);
      k.one_minus_beta1 = static_cast<T>(1.0 - options_.beta1);
      k.beta2 = static_cast<T>(options_.beta2);
      k.one_minus_beta2 = static_cast<T>(1.0 - options_.beta2);
      k.eps = static_cast<T>(options_.eps);
      k.l2_weight_decay = static_cast<T>(decoupled ? 0.0 : options_.weight_decay);
      k.decoupled_decay = static_cast<T>(decoupled ? 1.0 - learning_rate_ * options_.weight_decay : 1.0);
      k.step_size = static_cast<T>(learning_rate_ / bias_correction1);
      k.bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
      k.amsgrad = options_.amsgrad;
#ifdef SLAB_WITH_CUDA
      if (weight.device().is_cuda()) {  // the same update, one fused kernel
        cuda::adam_step(weight, gradient, exp_avg_[i], exp_avg_sq_[i], max_exp_avg_sq_[i], k);
        return;
      }
#endif
      T* w = weight.data<T>();
      const T* g = gradient.data<T>();
      T* m = exp_avg_[i].data<T>();
      T* v = exp_avg_sq_[i].data<T>();
      T* v_max = options_.amsgrad ? max_exp_avg_sq_[i].data<T>() : nullptr;
      const int64_t n = weight.numel();
#pragma omp parallel for schedule(static) if (n > 32768)
      for (int64_t e = 0; e < n; ++e) {
        T unused = 0;
        adam_update(w[e], m[e], v[e], v_max ? v_max[e] : unused, g[e], k);
      }
    });
  }
  ++step_count_;
}

NamedTensors Adam::state_tensors() const {
  NamedTensors out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (!exp_avg_[i].defined()) continue;
    const std::string& name = parameters_[i].name;
    out.emplace_back(name + ".exp_avg", exp_avg_[i]);
    out.emplace_back(name + ".exp_avg_sq", exp_avg_sq_[i]);
    if (max_exp_avg_sq_[i].defined()) out.emplace_back(name + ".max_exp_avg_sq", max_exp_avg_sq_[i]);
    Tensor step = zeros({}, {DType::i64});
    step.data<int64_t>()[0] = steps_[i];
    out.emplace_back(name + ".step", step);
  }
  return out;
}

Metadata Adam::state_metadata() const {
  Metadata metadata = Optimizer::state_metadata();
  metadata["learning_rate"] = format_scalar(learning_rate_);
  metadata["beta1"] = format_scalar(options_.beta1);
  metadata["beta2"] = format_scalar(options_.beta2);
  metadata["eps"] = format_scalar(options_.eps);
  metadata["weight_decay"] = format_scalar(options_.weight_decay);
  metadata["amsgrad"] = options_.amsgrad ? "true" : "false";
  return metadata;
}

void Adam::load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
  check_state_keys(parameters_, tensors, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"}, label());
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const NamedParameter& p = parameters_[i];
    exp_avg_[i] = load_state_slot(p, tensors, "exp_avg", label());
    exp_avg_sq_[i] = load_state_slot(p, tensors, "exp_avg_sq", label());
    max_exp_avg_sq_[i] = load_state_slot(p, tensors, "max_exp_avg_sq", label());
    steps_[i] = 0;
    auto step = tensors.find(p.name + ".step");
    SLAB_CHECK(exp_avg_[i].defined() == exp_avg_sq_[i].defined() && exp_avg_[i].defined() == (step != tensors.end()),
               label(), ": the saved state of '", p.name, "' is incomplete (exp_avg, exp_avg_sq and step go together)");
    SLAB_CHECK(!exp_avg_[i].defined() || options_.amsgrad == max_exp_avg_sq_[i].defined(), label(),
               ": the saved state of '", p.name, "' ", options_.amsgrad ? "lacks" : "has",
               " max_exp_avg_sq, but this optimizer has amsgrad ", options_.amsgrad ? "on" : "off");
    if (step != tensors.end()) {
      SLAB_CHECK(step->second.dtype() == DType::i64 && step->second.numel() == 1, label(), ": saved '", p.name,
                 ".step' must be one int64, got ", step->second.dtype(), " ", step->second.shape());
      steps_[i] = step->second.to(Device::cpu()).data<int64_t>()[0];
    }
  }
  Optimizer::load_state(tensors, metadata);
}

}  // namespace slab
