#include "optim/ivon.h"

#include <algorithm>
#include <cmath>

#include "optim/fused_pass.h"
#include "optim/ivon_kernel.h"
#include "optim/sghmc_noise.h"
#include "optim/state_io.h"
#ifdef SLAB_WITH_CUDA
#include "optim/cuda/optimizer_kernels.h"
#endif

namespace slab {

namespace {
using fused_pass::kChunk;

// The state slots, in the order state_tensors() lists them.
const std::vector<std::string> kSlots = {kPosteriorMeanSlot, "hessian", "gradient_momentum"};

// The scalars of step t (1, 2, ...); a sample reads only data_size and weight_decay.
IvonCoefficients coefficients(const IvonOptions& options, double learning_rate, int64_t t) {
  IvonCoefficients k;
  k.data_size = static_cast<float>(options.data_size);
  k.weight_decay = static_cast<float>(options.weight_decay);
  k.beta1 = static_cast<float>(options.beta1);
  k.beta2 = static_cast<float>(options.beta2);
  k.debias = static_cast<float>(1.0 / (1.0 - std::pow(options.beta1, static_cast<double>(t))));
  k.learning_rate = static_cast<float>(options.rescale_learning_rate
                                           ? learning_rate * (options.hessian_init + options.weight_decay)
                                           : learning_rate);
  k.clip_radius = static_cast<float>(std::min(options.clip_radius, 3.0e38));
  return k;
}
}  // namespace

uint64_t Ivon::noise_stream(size_t parameter_index) { return noise::kIvonDomain + parameter_index; }

Ivon::Ivon(std::vector<NamedParameter> parameters, const IvonOptions& options)
    : Optimizer(std::move(parameters), options.learning_rate), options_(options) {
  SLAB_CHECK(options.data_size > 0, "ivon: the effective sample size (N) must be positive, got ", options.data_size);
  SLAB_CHECK(options.hessian_init > 0, "ivon: the Hessian init h0 must be positive, got ", options.hessian_init);
  SLAB_CHECK(options.beta1 >= 0 && options.beta1 < 1, "ivon: beta1 must be in [0, 1), got ", options.beta1);
  SLAB_CHECK(options.beta2 >= 0 && options.beta2 < 1, "ivon: beta2 must be in [0, 1), got ", options.beta2);
  SLAB_CHECK(options.weight_decay >= 0, "ivon: weight decay must be >= 0, got ", options.weight_decay);
  SLAB_CHECK(options.clip_radius > 0, "ivon: the clip radius must be positive, got ", options.clip_radius);
  check_optimizer_parameters(parameters_, "ivon");
  for (const NamedParameter& p : parameters_) {
    SLAB_CHECK(p.tensor.dtype() == DType::f32, "ivon: parameter '", p.name, "' is ", p.tensor.dtype(),
               "; ivon updates float32 parameters");
    const TensorOptions with_parameter{DType::f32, p.tensor.device()};  // the state lives with its parameter
    mean_.push_back(p.tensor.detach().clone());
    hessian_.push_back(full(p.tensor.shape(), options.hessian_init, with_parameter));
    gradient_momentum_.push_back(zeros(p.tensor.shape(), with_parameter));
  }
  write_sample();
}

void Ivon::write_mean() {
  for (size_t i = 0; i < parameters_.size(); ++i) parameters_[i].tensor.copy_from(mean_[i]);
}

void Ivon::write_sample() {
  const IvonCoefficients k = coefficients(options_, learning_rate_, step_count_ + 1);
  const uint64_t draw = static_cast<uint64_t>(step_count_);
  for (size_t i = 0; i < parameters_.size(); ++i) {
#ifdef SLAB_WITH_CUDA
    if (parameters_[i].tensor.device().is_cuda()) {
      cuda::gaussian_sample(parameters_[i].tensor, mean_[i], hessian_[i], k.data_size, k.weight_decay, options_.seed,
                            noise_stream(i), draw);
      continue;
    }
#endif
    float* w = parameters_[i].tensor.data<float>();
    const float* m = mean_[i].data<float>();
    const float* h = hessian_[i].data<float>();
    const int64_t n = parameters_[i].tensor.numel();
    const uint64_t stream = noise_stream(i), seed = options_.seed;
    fused_pass::for_each_chunk(n, [&](int64_t first, int64_t count) {
      alignas(64) float z[kChunk];
      noise::fill_normals(seed, stream, draw, static_cast<uint64_t>(n), static_cast<uint64_t>(first), count, z);
      for (int64_t e = 0; e < count; ++e) w[first + e] = ivon_sample(m[first + e], h[first + e], z[e], k);
    });
  }
}

void Ivon::step() {
  const IvonCoefficients k = coefficients(options_, learning_rate_, step_count_ + 1);
  const uint64_t draw = static_cast<uint64_t>(step_count_), next_draw = draw + 1;
  for (size_t index = 0; index < parameters_.size(); ++index) {
    const Tensor grad = parameters_[index].tensor.grad();
    if (!grad.defined()) continue;
    check_cpu_step(parameters_[index], grad, "ivon");
#ifdef SLAB_WITH_CUDA
    if (grad.device().is_cuda()) {  // the same update and draws, one fused kernel
      cuda::ivon_step(parameters_[index].tensor, grad, mean_[index], hessian_[index], gradient_momentum_[index],
                      options_.seed, noise_stream(index), draw, k);
      continue;
    }
#endif
    float* w = parameters_[index].tensor.data<float>();
    float* m = mean_[index].data<float>();
    float* h = hessian_[index].data<float>();
    float* gbar = gradient_momentum_[index].data<float>();
    const float* g = grad.data<float>();
    const int64_t n = parameters_[index].tensor.numel();
    const uint64_t stream = noise_stream(index), numel = static_cast<uint64_t>(n), seed = options_.seed;
    fused_pass::for_each_chunk(n, [&](int64_t first, int64_t count) {
      alignas(64) float z[kChunk], z_next[kChunk];
      noise::fill_normals(seed, stream, draw, numel, static_cast<uint64_t>(first), count, z);
      noise::fill_normals(seed, stream, next_draw, numel, static_cast<uint64_t>(first), count, z_next);
      for (int64_t e = first; e < first + count; ++e)
        ivon_update(w[e], m[e], h[e], gbar[e], g[e], z[e - first], z_next[e - first], k);
    });
  }
  ++step_count_;
}

NamedTensors Ivon::state_tensors() const {
  return state_slot_tensors(parameters_, kSlots, {&mean_, &hessian_, &gradient_momentum_});
}

Metadata Ivon::state_metadata() const {
  Metadata metadata = Optimizer::state_metadata();
  write_noise_seed(metadata, name(), options_.seed);
  return metadata;
}

void Ivon::load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
  std::vector<std::vector<Tensor>> loaded = load_required_state_slots(parameters_, tensors, kSlots, "ivon");
  mean_ = std::move(loaded[0]);
  hessian_ = std::move(loaded[1]);
  gradient_momentum_ = std::move(loaded[2]);
  Optimizer::load_state(tensors, metadata);
  read_noise_seed(metadata, options_.seed, "ivon");
}

}  // namespace slab
