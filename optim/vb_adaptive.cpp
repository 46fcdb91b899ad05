#include "optim/vb_adaptive.h"

#include <algorithm>
#include <cmath>

#include "optim/sghmc_noise.h"

namespace slab {

namespace {
constexpr int64_t kChunk = 256;
constexpr int64_t kParallelElements = 32768;
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
  for (const NamedParameter& p : parameters_) {
    SLAB_CHECK(p.tensor.dtype() == DType::f32 && p.tensor.device().is_cpu(), "vb-adaptive: parameter '", p.name,
               "' must be a float32 CPU tensor, got ", p.tensor.dtype(), " on ", p.tensor.device().str());
    mean_.push_back(p.tensor.detach().clone());
    precision_.push_back(full(p.tensor.shape(), options.initial_precision));
    momentum_.push_back(zeros(p.tensor.shape()));
  }
  write_sample();
}

void VbAdaptive::write_mean() {
  for (size_t i = 0; i < parameters_.size(); ++i) parameters_[i].tensor.copy_from(mean_[i]);
}

void VbAdaptive::write_sample() {
  const uint64_t draw = static_cast<uint64_t>(step_count_);  // the sample of the coming step
  for (size_t i = 0; i < parameters_.size(); ++i) {
    float* w = parameters_[i].tensor.data<float>();
    const float* mu = mean_[i].data<float>();
    const float* precision = precision_[i].data<float>();
    const int64_t n = parameters_[i].tensor.numel();
    for (int64_t first = 0; first < n; first += kChunk) {
      float eps[kChunk];
      const int64_t count = std::min(kChunk, n - first);
      noise::fill_normals(options_.seed, noise_stream(i), draw, static_cast<uint64_t>(n), static_cast<uint64_t>(first),
                          count, eps);
      for (int64_t e = 0; e < count; ++e) w[first + e] = mu[first + e] + eps[e] / std::sqrt(precision[first + e]);
    }
  }
}

void VbAdaptive::step() {
  const float lr = static_cast<float>(learning_rate_), beta = static_cast<float>(options_.beta);
  const float retain = static_cast<float>(1.0 - options_.kappa * options_.gamma);
  const float gamma = static_cast<float>(options_.gamma), decay = static_cast<float>(options_.weight_decay);
  const float alpha = static_cast<float>(options_.alpha);
  const uint64_t next_draw = static_cast<uint64_t>(step_count_) + 1;
  for (size_t index = 0; index < parameters_.size(); ++index) {
    const Tensor grad = parameters_[index].tensor.grad();
    if (!grad.defined()) continue;
    SLAB_CHECK(grad.shape() == parameters_[index].tensor.shape() && grad.dtype() == DType::f32,
               "vb-adaptive: gradient of '", parameters_[index].name, "' is ", grad.dtype(), " ", grad.shape());
    float* w = parameters_[index].tensor.data<float>();
    float* mu = mean_[index].data<float>();
    float* precision = precision_[index].data<float>();
    float* m = momentum_[index].data<float>();
    const float* g = grad.data<float>();
    const int64_t n = parameters_[index].tensor.numel();
    const uint64_t stream = noise_stream(index), numel = static_cast<uint64_t>(n), seed = options_.seed;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > kParallelElements) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      alignas(64) float eps[kChunk];
      const int64_t first = c * kChunk, count = std::min(kChunk, n - first);
      noise::fill_normals(seed, stream, next_draw, numel, static_cast<uint64_t>(first), count, eps);
      for (int64_t e = first; e < first + count; ++e) {
        m[e] = beta * m[e] + (1.0f - beta) * g[e];
        precision[e] = retain * precision[e] + gamma * (g[e] * g[e] + decay);
        mu[e] -= lr * std::pow(precision[e], -alpha) * (m[e] + decay * mu[e]);
        w[e] = mu[e] + eps[e - first] / std::sqrt(precision[e]);
      }
    }
  }
  ++step_count_;
}

NamedTensors VbAdaptive::state_tensors() const {
  NamedTensors out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    out.emplace_back(parameters_[i].name + ".mean", mean_[i]);
    out.emplace_back(parameters_[i].name + ".precision", precision_[i]);
    out.emplace_back(parameters_[i].name + ".momentum", momentum_[i]);
  }
  return out;
}

Metadata VbAdaptive::state_metadata() const {
  Metadata metadata = Optimizer::state_metadata();
  metadata["optimizer"] = name();
  metadata["seed"] = std::to_string(options_.seed);
  return metadata;
}

void VbAdaptive::load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
  Optimizer::load_state(tensors, metadata);
  if (auto it = metadata.find("seed"); it != metadata.end()) options_.seed = std::stoull(it->second);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    for (auto [slot, target] : {std::pair{".mean", &mean_[i]}, std::pair{".precision", &precision_[i]},
                                std::pair{".momentum", &momentum_[i]}}) {
      const std::string key = parameters_[i].name + slot;
      auto it = tensors.find(key);
      SLAB_CHECK(it != tensors.end(), "vb-adaptive: the checkpoint has no '", key, "'");
      SLAB_CHECK(it->second.shape() == target->shape(), "vb-adaptive: '", key, "' has shape ", it->second.shape(),
                 " in the checkpoint, expected ", target->shape());
      target->copy_from(it->second);
    }
  }
}

}  // namespace slab
