#include "optim/ivon.h"

#include <algorithm>
#include <cmath>

#include "optim/sghmc_noise.h"

namespace slab {

namespace {
constexpr int64_t kChunk = 256;
constexpr int64_t kParallelElements = 32768;
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
  for (const NamedParameter& p : parameters_) {
    SLAB_CHECK(p.tensor.dtype() == DType::f32 && p.tensor.device().is_cpu(), "ivon: parameter '", p.name,
               "' must be a float32 CPU tensor, got ", p.tensor.dtype(), " on ", p.tensor.device().str());
    mean_.push_back(p.tensor.detach().clone());
    hessian_.push_back(full(p.tensor.shape(), options.hessian_init));
    gradient_momentum_.push_back(zeros(p.tensor.shape()));
  }
  write_sample();
}

void Ivon::write_mean() {
  for (size_t i = 0; i < parameters_.size(); ++i) parameters_[i].tensor.copy_from(mean_[i]);
}

void Ivon::write_sample() {
  const float ess = static_cast<float>(options_.data_size), delta = static_cast<float>(options_.weight_decay);
  const uint64_t draw = static_cast<uint64_t>(step_count_);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    float* w = parameters_[i].tensor.data<float>();
    const float* m = mean_[i].data<float>();
    const float* h = hessian_[i].data<float>();
    const int64_t n = parameters_[i].tensor.numel();
    for (int64_t first = 0; first < n; first += kChunk) {
      float z[kChunk];
      const int64_t count = std::min(kChunk, n - first);
      noise::fill_normals(options_.seed, noise_stream(i), draw, static_cast<uint64_t>(n), static_cast<uint64_t>(first),
                          count, z);
      for (int64_t e = 0; e < count; ++e)
        w[first + e] = m[first + e] + z[e] / std::sqrt(ess * (h[first + e] + delta));
    }
  }
}

void Ivon::step() {
  const int64_t t = step_count_ + 1;
  const float ess = static_cast<float>(options_.data_size), delta = static_cast<float>(options_.weight_decay);
  const float b1 = static_cast<float>(options_.beta1), b2 = static_cast<float>(options_.beta2);
  const float debias = static_cast<float>(1.0 / (1.0 - std::pow(options_.beta1, static_cast<double>(t))));
  const float lr = static_cast<float>(options_.rescale_learning_rate
                                          ? learning_rate_ * (options_.hessian_init + options_.weight_decay)
                                          : learning_rate_);
  const float radius = static_cast<float>(std::min(options_.clip_radius, 3.0e38));
  const uint64_t draw = static_cast<uint64_t>(step_count_), next_draw = draw + 1;
  for (size_t index = 0; index < parameters_.size(); ++index) {
    const Tensor grad = parameters_[index].tensor.grad();
    if (!grad.defined()) continue;
    SLAB_CHECK(grad.shape() == parameters_[index].tensor.shape() && grad.dtype() == DType::f32,
               "ivon: gradient of '", parameters_[index].name, "' is ", grad.dtype(), " ", grad.shape());
    float* w = parameters_[index].tensor.data<float>();
    float* m = mean_[index].data<float>();
    float* h = hessian_[index].data<float>();
    float* gbar = gradient_momentum_[index].data<float>();
    const float* g = grad.data<float>();
    const int64_t n = parameters_[index].tensor.numel();
    const uint64_t stream = noise_stream(index), numel = static_cast<uint64_t>(n), seed = options_.seed;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > kParallelElements) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      alignas(64) float z[kChunk], z_next[kChunk];
      const int64_t first = c * kChunk, count = std::min(kChunk, n - first);
      noise::fill_normals(seed, stream, draw, numel, static_cast<uint64_t>(first), count, z);
      noise::fill_normals(seed, stream, next_draw, numel, static_cast<uint64_t>(first), count, z_next);
      for (int64_t e = first; e < first + count; ++e) {
        const float sigma = 1.0f / std::sqrt(ess * (h[e] + delta));
        const float hessian_sample = g[e] * z[e - first] / sigma;
        gbar[e] = b1 * gbar[e] + (1.0f - b1) * g[e];
        const float gap = h[e] - hessian_sample;
        h[e] = b2 * h[e] + (1.0f - b2) * hessian_sample + 0.5f * (1.0f - b2) * (1.0f - b2) * gap * gap / (h[e] + delta);
        const float direction = (gbar[e] * debias + delta * m[e]) / (h[e] + delta);
        m[e] -= lr * std::clamp(direction, -radius, radius);
        w[e] = m[e] + z_next[e - first] / std::sqrt(ess * (h[e] + delta));
      }
    }
  }
  ++step_count_;
}

NamedTensors Ivon::state_tensors() const {
  NamedTensors out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    out.emplace_back(parameters_[i].name + ".mean", mean_[i]);
    out.emplace_back(parameters_[i].name + ".hessian", hessian_[i]);
    out.emplace_back(parameters_[i].name + ".gradient_momentum", gradient_momentum_[i]);
  }
  return out;
}

Metadata Ivon::state_metadata() const {
  Metadata metadata = Optimizer::state_metadata();
  metadata["optimizer"] = name();
  metadata["seed"] = std::to_string(options_.seed);
  return metadata;
}

void Ivon::load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
  Optimizer::load_state(tensors, metadata);
  if (auto it = metadata.find("seed"); it != metadata.end()) options_.seed = std::stoull(it->second);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    for (auto [slot, target] : {std::pair{".mean", &mean_[i]}, std::pair{".hessian", &hessian_[i]},
                                std::pair{".gradient_momentum", &gradient_momentum_[i]}}) {
      const std::string key = parameters_[i].name + slot;
      auto it = tensors.find(key);
      SLAB_CHECK(it != tensors.end(), "ivon: the checkpoint has no '", key, "'");
      SLAB_CHECK(it->second.shape() == target->shape(), "ivon: '", key, "' has shape ", it->second.shape(),
                 " in the checkpoint, expected ", target->shape());
      target->copy_from(it->second);
    }
  }
}

}  // namespace slab
