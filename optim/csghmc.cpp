#include "optim/csghmc.h"

#include <algorithm>
#include <cmath>

#include "optim/csghmc_kernel.h"
#include "optim/fused_pass.h"
#include "optim/sghmc_noise.h"
#include "optim/state_io.h"
#ifdef SLAB_WITH_CUDA
#include "optim/cuda/optimizer_kernels.h"
#endif

namespace slab {

namespace {
using fused_pass::kChunk;
}  // namespace

uint64_t Csghmc::noise_stream(size_t parameter_index) { return noise::kCsghmcDomain + parameter_index; }

bool Csghmc::sampling_phase(int64_t epoch, int64_t epochs_per_cycle, int64_t noise_epochs) {
  SLAB_CHECK(epochs_per_cycle > 0, "csghmc: epochs per cycle must be positive, got ", epochs_per_cycle);
  return (epoch % epochs_per_cycle) + 1 > epochs_per_cycle - noise_epochs;
}

void Csghmc::start_epoch(int64_t epoch) {
  if (options_.epochs_per_cycle > 0) set_noise(sampling_phase(epoch, options_.epochs_per_cycle, options_.noise_epochs));
}

Csghmc::Csghmc(std::vector<NamedParameter> parameters, const CsghmcOptions& options)
    : Optimizer(std::move(parameters), options.learning_rate), options_(options) {
  SLAB_CHECK(options.data_size > 0, "csghmc: the training-set size N must be positive, got ", options.data_size);
  SLAB_CHECK(options.alpha > 0 && options.alpha <= 1, "csghmc: alpha must be in (0, 1], got ", options.alpha);
  SLAB_CHECK(options.temperature >= 0, "csghmc: the temperature must be >= 0, got ", options.temperature);
  check_optimizer_parameters(parameters_, "csghmc");
  for (const NamedParameter& p : parameters_) {
    SLAB_CHECK(p.tensor.dtype() == DType::f32, "csghmc: parameter '", p.name, "' is ", p.tensor.dtype(),
               "; csghmc updates float32 parameters");
    velocity_.push_back(zeros(p.tensor.shape(), {DType::f32, p.tensor.device()}));  // with its parameter
  }
}

void Csghmc::step() {
  const CsghmcCoefficients k = CsghmcCoefficients::make(learning_rate_, options_.alpha, options_.weight_decay,
                                                        options_.temperature, options_.data_size, noise_);
  const uint64_t draw = static_cast<uint64_t>(step_count_);
  for (size_t index = 0; index < parameters_.size(); ++index) {
    const Tensor grad = parameters_[index].tensor.grad();
    if (!grad.defined()) continue;
    check_cpu_step(parameters_[index], grad, "csghmc");
#ifdef SLAB_WITH_CUDA
    if (grad.device().is_cuda()) {  // the same update and draws, one fused kernel
      cuda::csghmc_step(parameters_[index].tensor, grad, velocity_[index], options_.seed, noise_stream(index), draw, k);
      continue;
    }
#endif
    float* w = parameters_[index].tensor.data<float>();
    float* v = velocity_[index].data<float>();
    const float* g = grad.data<float>();
    const int64_t n = parameters_[index].tensor.numel();
    const uint64_t stream = noise_stream(index), numel = static_cast<uint64_t>(n), seed = options_.seed;
    fused_pass::for_each_chunk(n, [&](int64_t first, int64_t count) {
      alignas(64) float xi[kChunk];
      if (k.with_noise) noise::fill_normals(seed, stream, draw, numel, static_cast<uint64_t>(first), count, xi);
      else std::fill(xi, xi + count, 0.0f);
#pragma omp simd
      for (int64_t e = first; e < first + count; ++e) csghmc_update(w[e], v[e], g[e], xi[e - first], k);
    });
  }
  ++step_count_;
}

NamedTensors Csghmc::state_tensors() const {
  NamedTensors out;
  for (size_t i = 0; i < parameters_.size(); ++i) out.emplace_back(parameters_[i].name + ".velocity", velocity_[i]);
  return out;
}

Metadata Csghmc::state_metadata() const {
  Metadata metadata = Optimizer::state_metadata();
  write_noise_seed(metadata, name(), options_.seed);
  metadata["noise"] = std::to_string(noise_ ? 1 : 0);
  return metadata;
}

void Csghmc::load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
  velocity_ = std::move(load_required_state_slots(parameters_, tensors, {"velocity"}, "csghmc")[0]);
  Optimizer::load_state(tensors, metadata);
  read_noise_seed(metadata, options_.seed, "csghmc");
  if (auto it = metadata.find("noise"); it != metadata.end()) noise_ = it->second == "1";
}

}  // namespace slab
