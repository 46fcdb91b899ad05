#include "optim/sgd.h"

#include "core/dtype.h"
#include "optim/sgd_kernel.h"
#include "optim/state_io.h"
#ifdef SLAB_WITH_CUDA
#include "optim/cuda/optimizer_kernels.h"
#endif

namespace slab {

Sgd::Sgd(std::vector<NamedParameter> parameters, const SgdOptions& options)
    : Optimizer(std::move(parameters), options.learning_rate), options_(options) {
  SLAB_CHECK(options.learning_rate >= 0, "SGD: learning rate must be non-negative, got ", options.learning_rate);
  SLAB_CHECK(options.momentum >= 0, "SGD: momentum must be non-negative, got ", options.momentum);
  SLAB_CHECK(options.weight_decay >= 0, "SGD: weight decay must be non-negative, got ", options.weight_decay);
  SLAB_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
             "SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum ", options.momentum,
             ", dampening ", options.dampening, ")");
  check_optimizer_parameters(parameters_, "SGD");
  momentum_buffers_.resize(parameters_.size());
}

void Sgd::step() {
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& weight = parameters_[i].tensor;
    const Tensor gradient = weight.grad();
    if (!gradient.defined()) continue;
    check_cpu_step(parameters_[i], gradient, "SGD");
    const bool use_momentum = options_.momentum != 0;
    const bool first = use_momentum && !momentum_buffers_[i].defined();
    if (first) momentum_buffers_[i] = Tensor::empty(weight.shape(), weight.dtype(), weight.device());
    dispatch_float(weight.dtype(), "SGD", [&](auto zero) {
      using T = decltype(zero);
      SgdCoefficients<T> k;
      k.learning_rate = static_cast<T>(learning_rate_);
      k.momentum = static_cast<T>(options_.momentum);
      k.one_minus_dampening = static_cast<T>(1.0 - options_.dampening);
      k.weight_decay = static_cast<T>(options_.weight_decay);
      k.nesterov = options_.nesterov;
      k.first_step = first;
#ifdef SLAB_WITH_CUDA
      if (weight.device().is_cuda()) {  // the same update, one fused kernel
        cuda::sgd_step(weight, gradient, use_momentum ? momentum_buffers_[i] : Tensor(), k);
        return;
      }
#endif
      T* w = weight.data<T>();
      const T* g = gradient.data<T>();
      T unused = 0;
      T* buffer = use_momentum ? momentum_buffers_[i].data<T>() : nullptr;
      const int64_t n = weight.numel();
#pragma omp parallel for schedule(static) if (n > 32768)
      for (int64_t e = 0; e < n; ++e) sgd_update(w[e], buffer ? buffer[e] : unused, g[e], k);
    });
  }
  ++step_count_;
}

NamedTensors Sgd::state_tensors() const {
  NamedTensors out;
  for (size_t i = 0; i < parameters_.size(); ++i)
    if (momentum_buffers_[i].defined())
      out.emplace_back(parameters_[i].name + ".momentum_buffer", momentum_buffers_[i]);
  return out;
}

Metadata Sgd::state_metadata() const {
  Metadata metadata = Optimizer::state_metadata();
  metadata["learning_rate"] = format_scalar(learning_rate_);
  metadata["momentum"] = format_scalar(options_.momentum);
  metadata["dampening"] = format_scalar(options_.dampening);
  metadata["weight_decay"] = format_scalar(options_.weight_decay);
  metadata["nesterov"] = options_.nesterov ? "true" : "false";
  return metadata;
}

void Sgd::load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
  check_state_keys(parameters_, tensors, {"momentum_buffer"}, "SGD");
  // A buffer is absent for a parameter that never had a gradient, but a state saved after
  // steps with momentum and holding none at all has lost them: resuming would restart the
  // momentum from zero and leave the run it continues. Checked before anything changes.
  const auto steps = metadata.find("step_count");
  const bool stepped = steps != metadata.end() && steps->second != "0";
  bool any_buffer = false;
  for (const NamedParameter& p : parameters_) any_buffer = any_buffer || tensors.count(p.name + ".momentum_buffer") > 0;
  SLAB_CHECK(options_.momentum == 0 || !stepped || parameters_.empty() || any_buffer, "SGD: the saved state is from step ",
             steps == metadata.end() ? std::string("0") : steps->second, " with momentum ", options_.momentum,
             " but holds no momentum buffers ('<parameter>.momentum_buffer')");
  for (size_t i = 0; i < parameters_.size(); ++i)
    momentum_buffers_[i] = load_state_slot(parameters_[i], tensors, "momentum_buffer", "SGD");
  Optimizer::load_state(tensors, metadata);
}

}  // namespace slab
