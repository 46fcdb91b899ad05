#include "optim/vb_adaptive.h"

#include <algorithm>
#include <cmath>

#include "optim/fused_pass.h"
#include "optim/sghmc_noise.h"
#include "optim/state_io.h"
#include "optim/vb_adaptive_kernel.h"
#ifdef SLAB_WITH_CUDA
#include "optim/cuda/optimizer_kernels.h"
#endif

namespace slab {

namespace {
using fused_pass::kChunk;

// The state slots, in the order state_tensors() lists them.
const std::vector<std::string> kSlots = {kPosteriorMeanSlot, "precision", "momentum"};
}  // namespace

uint64_t VbAdaptive::noise_stream(size_t parameter_index) { return noise::kVbDomain + parameter_index; }

VbAdaptive::VbAdaptive(std::vector<NamedParameter> parameters, const VbAdaptiveOptions& options)
    : Optimizer(std::move(parameters), options.learning_rate), options_(options) {
  SLAB_CHECK(options.gamma > 0 && options.gamma < 1, "vb-adaptive: gamma must be in (0, 1), got ", options.gamma);
  SLAB_CHECK(options.alpha >= 0.5 && options.alpha <= 1, "vb-adaptive: alpha must be in [1/2, 1], got ", options.alpha);
  SLAB_CHECK(options.kappa * options.gamma < 1, "vb-adaptive: kappa gamma must be below 1, got ",
             options.kappa * options.gamma);
  SLAB_CHECK(options.initial_precision > 0, "vb-adaptive: the initial precision must be positive, got ",
             options.initial_precision);
  SLAB_CHECK(options.beta >= 0 && options.beta < 1, "vb-adaptive: beta must be in [0, 1), got ", options.beta);
  check_optimizer_parameters(parameters_, "vb-adaptive");
  for (const NamedParameter& p : parameters_) {
    SLAB_CHECK(p.tensor.dtype() == DType::f32, "vb-adaptive: parameter '", p.name, "' is ", p.tensor.dtype(),
               "; vb-adaptive updates float32 parameters");
    const TensorOptions with_parameter{DType::f32, p.tensor.device()};  // the state lives with its parameter
    mean_.push_back(p.tensor.detach().clone());
    precision_.push_back(full(p.tensor.shape(), options.initial_precision, with_parameter));
    momentum_.push_back(zeros(p.tensor.shape(), with_parameter));
  }
  write_sample();
}

void VbAdaptive::write_mean() {
  for (size_t i = 0; i < parameters_.size(); ++i) parameters_[i].tensor.copy_from(mean_[i]);
}

void VbAdaptive::write_sample() {
  const uint64_t draw = static_cast<uint64_t>(step_count_);  // the sample of the coming step
  for (size_t i = 0; i < parameters_.size(); ++i) {
#ifdef SLAB_WITH_CUDA
    if (parameters_[i].tensor.device().is_cuda()) {  // mu + eps / sqrt(1 (P + 0))
      cuda::gaussian_sample(parameters_[i].tensor, mean_[i], precision_[i], 1.0f, 0.0f, options_.seed, noise_stream(i),
                            draw);
      continue;
    }
#endif
    float* w = parameters_[i].tensor.data<float>();
    const float* mu = mean_[i].data<float>();
    const float* precision = precision_[i].data<float>();
    const int64_t n = parameters_[i].tensor.numel();
    const uint64_t stream = noise_stream(i), seed = options_.seed;
    fused_pass::for_each_chunk(n, [&](int64_t first, int64_t count) {
      alignas(64) float eps[kChunk];
      noise::fill_normals(seed, stream, draw, static_cast<uint64_t>(n), static_cast<uint64_t>(first), count, eps);
      for (int64_t e = 0; e < count; ++e) w[first + e] = vb_adaptive_sample(mu[first + e], precision[first + e], eps[e]);
    });
  }
}

void VbAdaptive::step() {
  VbAdaptiveCoefficients k;
  k.learning_rate = static_cast<float>(learning_rate_);
  k.beta = static_cast<float>(options_.beta);
  k.retain = static_cast<float>(1.0 - options_.kappa * options_.gamma);
  k.gamma = static_cast<float>(options_.gamma);
  k.weight_decay = static_cast<float>(options_.weight_decay);
  k.alpha = static_cast<float>(options_.alpha);
  const uint64_t next_draw = static_cast<uint64_t>(step_count_) + 1;
  for (size_t index = 0; index < parameters_.size(); ++index) {
    const Tensor grad = parameters_[index].tensor.grad();
    if (!grad.defined()) continue;
    check_cpu_step(parameters_[index], grad, "vb-adaptive");
#ifdef SLAB_WITH_CUDA
    if (grad.device().is_cuda()) {  // the same update and draws, one fused kernel
      cuda::vb_adaptive_step(parameters_[index].tensor, grad, mean_[index], precision_[index], momentum_[index],
                             options_.seed, noise_stream(index), next_draw, k);
      continue;
    }
#endif
    float* w = parameters_[index].tensor.data<float>();
    float* mu = mean_[index].data<float>();
    float* precision = precision_[index].data<float>();
    float* m = momentum_[index].data<float>();
    const float* g = grad.data<float>();
    const int64_t n = parameters_[index].tensor.numel();
    const uint64_t stream = noise_stream(index), numel = static_cast<uint64_t>(n), seed = options_.seed;
    fused_pass::for_each_chunk(n, [&](int64_t first, int64_t count) {
      alignas(64) float eps[kChunk];
      noise::fill_normals(seed, stream, next_draw, numel, static_cast<uint64_t>(first), count, eps);
      for (int64_t e = first; e < first + count; ++e)
        vb_adaptive_update(w[e], mu[e], precision[e], m[e], g[e], eps[e - first], k);
    });
  }
  ++step_count_;
}

NamedTensors VbAdaptive::state_tensors() const {
  return state_slot_tensors(parameters_, kSlots, {&mean_, &precision_, &momentum_});
}

Metadata VbAdaptive::state_metadata() const {
  Metadata metadata = Optimizer::state_metadata();
  write_noise_seed(metadata, name(), options_.seed);
  return metadata;
}

void VbAdaptive::load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
  std::vector<std::vector<Tensor>> loaded = load_required_state_slots(parameters_, tensors, kSlots, "vb-adaptive");
  mean_ = std::move(loaded[0]);
  precision_ = std::move(loaded[1]);
  momentum_ = std::move(loaded[2]);
  Optimizer::load_state(tensors, metadata);
  read_noise_seed(metadata, options_.seed, "vb-adaptive");
}

}  // namespace slab
