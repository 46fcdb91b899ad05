#include "optim/sghmc.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include <omp.h>

#include "core/parse_number.h"
#include "optim/fused_pass.h"
#include "optim/gathered_noise.h"
#include "optim/prior_lanes.h"
#include "optim/prior_slice.h"
#include "optim/sghmc_kernel.h"
#include "optim/sghmc_noise.h"
#include "optim/state_io.h"
#ifdef SLAB_WITH_CUDA
#include "optim/cuda/optimizer_kernels.h"
#endif

namespace slab {

namespace {

// The fused pass (optim/fused_pass.h) reads w, g, m, rho once and writes w, m, rho once:
// with AVX-512 the noise and the prior stay in registers (sghmc_step_span, PriorLanes);
// without, a chunk's two draws and its per-element decay and mask live in four stack
// arrays (4 KiB).
using fused_pass::kChunk;
#if SLAB_NOISE_AVX512
static_assert(kChunk % 64 == 0 && kChunk <= PriorLanes::kMaxCount, "a chunk is whole groups of one PriorLanes view");
#endif
using fused_pass::kParallelElements;

void check_parameter(const NamedParameter& p) {
  SLAB_CHECK(p.tensor.dtype() == DType::f32, "sghmc: parameter '", p.name, "' is ", p.tensor.dtype(),
             "; the sampler updates float32 parameters");
#ifndef SLAB_WITH_CUDA
  SLAB_CHECK(p.tensor.device().is_cpu(), "sghmc: parameter '", p.name, "' is on ", p.tensor.device(),
             "; this build has no CUDA backend");
#endif
}

std::string draw_key(const std::string& name) { return "draw." + name; }

}  // namespace

uint64_t Sghmc::noise_stream(size_t parameter_index) { return noise::kSghmcDomain + parameter_index; }

Sghmc::Sghmc(std::vector<NamedParameter> parameters, const SghmcOptions& options)
    : Optimizer(std::move(parameters), options.learning_rate), options_(options) {
  SLAB_CHECK(options.data_size > 0, "sghmc: the training-set size N must be positive, got ", options.data_size);
  SLAB_CHECK(options.temperature >= 0 && std::isfinite(options.temperature),
             "sghmc: the temperature T must be given explicitly and be >= 0, got ", options.temperature);
  SLAB_CHECK(options.learning_rate > 0, "sghmc: the learning rate C0^2 must be positive, got ", options.learning_rate);
  SLAB_CHECK(options.eta >= 0, "sghmc: eta must be >= 0, got ", options.eta);
  SLAB_CHECK(options.beta1 >= 0 && options.beta1 < 1, "sghmc: beta1 must be in [0, 1), got ", options.beta1);
  SLAB_CHECK(options.beta2 > 0, "sghmc: beta2 must be positive, got ", options.beta2);
  SLAB_CHECK(options.weight_decay >= 0, "sghmc: weight decay must be >= 0, got ", options.weight_decay);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const NamedParameter& p = parameters_[i];
    check_parameter(p);
    const int64_t n = p.tensor.numel();
    // m = 0.001 N(0, 1), from its own Philox domain; rho = 0 (tau = 1/2).
    Tensor m = Tensor::empty({n});
    std::vector<float> draws(static_cast<size_t>((n + 3) / 4 * 4));
    noise::fill_normals(options_.seed, noise::kSghmcInitDomain + i, 0, static_cast<uint64_t>(n), 0, n, draws.data());
    float* md = m.data<float>();
    for (int64_t e = 0; e < n; ++e) md[e] = static_cast<float>(options_.initial_momentum_std) * draws[static_cast<size_t>(e)];
    // The state lives with its parameter (drawn on the host, then copied: the same values).
    momentum_.push_back(m.reshape(p.tensor.shape()).to(p.tensor.device()));
    rho_.push_back(zeros(p.tensor.shape(), {DType::f32, p.tensor.device()}));
    draw_index_.push_back(0);
    PriorState state;
    state.layout = PriorLayout::of(p.tensor.shape(), p.grouping);
    state.weight_decay = static_cast<float>(options_.weight_decay);
    prior_states_.push_back(std::move(state));
    origins_.push_back(ElementOrigin::dense(p.tensor.shape()));
  }
}

namespace {

// A CPU tensor's share of the step: its arrays and draw, and where its chunks start in the
// step's list of all CPU chunks.
struct HostTensor {
  float* w;
  const float* g;
  float* m;
  float* rho;
  int64_t n;
  uint64_t stream, draw_prev;
  const PriorState* state;
  int64_t first_chunk;
  // A shrunken tensor: its elements' dense indices and the dense count (null: not shrunk).
  const int64_t* dense_index;
  uint64_t dense_numel;
};

// Chunk c of one tensor: elements [c kChunk, c kChunk + kChunk), fused.
void step_chunk(const HostTensor& t, int64_t c, uint64_t seed, const SghmcCoefficients& k) {
  const int64_t first = c * kChunk, count = std::min(kChunk, t.n - first);
  const uint64_t numel = static_cast<uint64_t>(t.n), draw_next = t.draw_prev + 1;
  if (t.dense_index != nullptr) {
    // Shrunken: the survivors' draws at their dense addresses, then the same update.
    alignas(64) float xi_prev[kChunk], xi[kChunk], decay[kChunk], keep[kChunk];
    noise::gather_normals(seed, t.stream, t.draw_prev, t.dense_numel, t.dense_index + first, count, xi_prev);
    noise::gather_normals(seed, t.stream, draw_next, t.dense_numel, t.dense_index + first, count, xi);
    expand_prior_state(*t.state, first, count, decay, keep);
    sghmc_update_span(t.w + first, t.m + first, t.rho + first, t.g + first, xi_prev, xi, decay, keep, count, k);
    return;
  }
#if SLAB_NOISE_AVX512
  // The draws in registers, the prior per group (optim/prior_lanes.h): only w, g, m and
  // rho touch memory.
  const uint64_t blocks = noise::blocks_per_draw(numel), first_block = static_cast<uint64_t>(first / 4);
  PriorLanes prior(*t.state, first, count);
  sghmc_step_span(t.w + first, t.m + first, t.rho + first, t.g + first, count, seed, t.stream,
                  t.draw_prev * blocks + first_block, draw_next * blocks + first_block, prior, k);
#else
  alignas(64) float xi_prev[kChunk], xi[kChunk], decay[kChunk], keep[kChunk];
  noise::fill_normals(seed, t.stream, t.draw_prev, numel, static_cast<uint64_t>(first), count, xi_prev);
  noise::fill_normals(seed, t.stream, draw_next, numel, static_cast<uint64_t>(first), count, xi);
  expand_prior_state(*t.state, first, count, decay, keep);
  sghmc_update_span(t.w + first, t.m + first, t.rho + first, t.g + first, xi_prev, xi, decay, keep, count, k);
#endif
}

}  // namespace

// An overflowing scale would not stop the run: eta T^2 C^3 = inf sends rho to -inf, so tau
// = 0 and the weights silently stop moving. A learning rate that large is a bad flag.
SghmcCoefficients Sghmc::coefficients() const {
  const SghmcCoefficients k = SghmcCoefficients::make(learning_rate_, options_.temperature, options_.data_size,
                                                      options_.eta, options_.beta1, options_.beta2);
  const std::pair<const char*, float> scales[] = {{"eta T^2 C^3", k.decay_scale},
                                                  {"eta T C^1.5", k.gradient_noise_scale},
                                                  {"C^2 beta2", k.gradient_scale},
                                                  {"sqrt(2 + 2 beta1^2) C^1.5 T", k.noise_scale}};
  for (const auto& [name, value] : scales)
    SLAB_CHECK(std::isfinite(value), "sghmc: at learning rate C^2 = ", learning_rate_, " and T = ",
               options_.temperature, " the step's scale ", name, " overflows float; lower the learning rate (--lr, C0^2)");
  return k;
}

void Sghmc::step() {
  const SghmcCoefficients k = coefficients();
  std::vector<HostTensor> host;
  std::vector<size_t> host_index;
  int64_t chunks = 0, elements = 0;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const NamedParameter& p = parameters_[i];
    if (!p.tensor.grad().defined()) continue;
    step_tensor(i, k);
    if (p.tensor.device().is_cpu()) {
      const int64_t n = p.tensor.numel();
      host.push_back({p.tensor.data<float>(), p.tensor.grad().data<float>(), momentum_[i].data<float>(),
                      rho_[i].data<float>(), n, noise_stream(i), draw_index_[i], &prior_states_[i], chunks,
                      origins_[i].elements.empty() ? nullptr : origins_[i].elements.data(),
                      static_cast<uint64_t>(origins_[i].dense_numel())});
      host_index.push_back(i);
      chunks += (n + kChunk - 1) / kChunk;
      elements += n;
    }
  }
  // All CPU tensors in one parallel pass: each thread takes an equal contiguous share of
  // the chunks of all tensors in turn (one fork and one join per step, instead of one per
  // tensor with a wait for the slower thread after each). The chunks are independent, so
  // the result does not depend on the thread count.
  const uint64_t seed = options_.seed;
#pragma omp parallel if (elements > kParallelElements)
  {
    const int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
    const int64_t begin = chunks * thread / threads, end = chunks * (thread + 1) / threads;
    size_t j = 0;
    for (int64_t c = begin; c < end; ++c) {
      while (c >= host[j].first_chunk + (host[j].n + kChunk - 1) / kChunk) ++j;
      step_chunk(host[j], c - host[j].first_chunk, seed, k);
    }
  }
  for (size_t i : host_index) draw_index_[i] += 1;
  ++step_count_;
}

// Checks parameter `index`'s gradient and prior state, and steps it when it lives on a
// GPU (the same update and draws at the step's coefficients k, one fused kernel). A CPU
// parameter is left to step()'s pass over all CPU parameters, which runs once every
// parameter has passed its checks.
void Sghmc::step_tensor(size_t index, [[maybe_unused]] const SghmcCoefficients& k) {
  const NamedParameter& p = parameters_[index];
  const Tensor grad = p.tensor.grad();
  SLAB_CHECK(grad.shape() == p.tensor.shape() && grad.dtype() == DType::f32, "sghmc: gradient of '", p.name,
             "' is ", grad.dtype(), " ", grad.shape(), ", expected float32 ", p.tensor.shape());
  const PriorState& state = prior_states_[index];
  state.validate(p.name);
#ifdef SLAB_WITH_CUDA
  if (p.tensor.device().is_cuda()) {
    cuda::sghmc_step(p.tensor, grad, momentum_[index], rho_[index], options_.seed, noise_stream(index),
                     draw_index_[index], k, state);
    draw_index_[index] += 1;
  }
#endif
}

namespace {

Tensor gather_elements(const Tensor& t, const std::vector<int64_t>& kept, const Shape& shape) {
  Tensor out = Tensor::empty(shape);
  const float* from = t.data<float>();
  float* to = out.data<float>();
  for (size_t e = 0; e < kept.size(); ++e) to[e] = from[kept[e]];
  return out;
}

}  // namespace

void Sghmc::keep_elements(const std::vector<ParameterSlice>& slices) {
  SLAB_CHECK(slices.size() == parameters_.size(), name(), ": ", slices.size(), " parameter slices for ",
             parameters_.size(), " parameters");
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const ParameterSlice& slice = slices[i];
    const NamedParameter& p = parameters_[i];
    SLAB_CHECK(slice.name == p.name, name(), ": slice ", i, " is of '", slice.name, "', the parameter is '", p.name, "'");
    SLAB_CHECK(slice.shape_before == momentum_[i].shape(), name(), ": the slice of '", p.name, "' starts from shape ",
               slice.shape_before, ", the optimizer holds ", momentum_[i].shape());
    SLAB_CHECK(slice.shape_after() == p.tensor.shape(), name(), ": the slice of '", p.name, "' gives shape ",
               slice.shape_after(), ", the parameter has ", p.tensor.shape());
    if (slice.keeps_all()) continue;
    SLAB_CHECK(p.tensor.device().is_cpu(), name(), ": shrinking '", p.name,
               "' during training is implemented for CPU parameters only");
    const std::vector<int64_t> kept = slice.flat_elements();
    momentum_[i] = gather_elements(momentum_[i], kept, slice.shape_after());
    rho_[i] = gather_elements(rho_[i], kept, slice.shape_after());
    prior_states_[i] = slice_prior_state(prior_states_[i], slice);
    origins_[i].apply(slice);
  }
}

void Sghmc::apply_prior_masks() {
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const PriorState& state = prior_states_[i];
    state.validate(parameters_[i].name);
    if (!state.has_masks()) continue;
#ifdef SLAB_WITH_CUDA
    if (parameters_[i].tensor.device().is_cuda()) {
      cuda::apply_prior_mask(parameters_[i].tensor, momentum_[i], state);
      continue;
    }
#endif
    const int64_t n = parameters_[i].tensor.numel();
    float* w = parameters_[i].tensor.data<float>();
    float* m = momentum_[i].data<float>();
    fused_pass::for_each_chunk(n, [&](int64_t first, int64_t count) {
      alignas(64) float decay[kChunk], keep[kChunk];
      expand_prior_state(state, first, count, decay, keep);
      for (int64_t e = 0; e < count; ++e) {
        w[first + e] *= keep[e];
        m[first + e] *= keep[e];
      }
    });
  }
}

NamedTensors Sghmc::state_tensors() const {
  NamedTensors out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const std::string& name = parameters_[i].name;
    out.emplace_back(name + ".momentum", momentum_[i]);
    out.emplace_back(name + ".rho", rho_[i]);
    append_prior_state_tensors(name, prior_states_[i], out);
  }
  return out;
}

Metadata Sghmc::state_metadata() const {
  Metadata metadata = Optimizer::state_metadata();
  write_noise_seed(metadata, name(), options_.seed);
  for (size_t i = 0; i < parameters_.size(); ++i)
    metadata[draw_key(parameters_[i].name)] = std::to_string(draw_index_[i]);
  return metadata;
}

void Sghmc::load_state(const std::map<std::string, Tensor>& tensors, const Metadata& metadata) {
  Optimizer::load_state(tensors, metadata);
  read_noise_seed(metadata, options_.seed, "sghmc");
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const std::string& name = parameters_[i].name;
    for (auto [slot, target] : {std::pair{".momentum", &momentum_[i]}, std::pair{".rho", &rho_[i]}}) {
      auto it = tensors.find(name + slot);
      SLAB_CHECK(it != tensors.end(), "sghmc: the checkpoint has no '", name, slot, "'");
      SLAB_CHECK(it->second.shape() == target->shape(), "sghmc: '", name, slot, "' has shape ", it->second.shape(),
                 " in the checkpoint, expected ", target->shape());
      target->copy_from(it->second);
    }
    auto draw = metadata.find(draw_key(name));
    SLAB_CHECK(draw != metadata.end(), "sghmc: the checkpoint's metadata has no '", draw_key(name), "'");
    draw_index_[i] = parse_uint64(draw->second, "sghmc: the checkpoint's '" + draw_key(name) + "'");
    read_prior_state_tensors(name, tensors, prior_states_[i]);
  }
}

size_t Sghmc::state_bytes() const {
  size_t total = draw_index_.size() * sizeof(uint64_t);
  for (size_t i = 0; i < parameters_.size(); ++i)
    total += momentum_[i].nbytes() + rho_[i].nbytes() + prior_states_[i].bytes() +
             origins_[i].elements.size() * sizeof(int64_t);
  return total;
}

void append_prior_state_tensors(const std::string& name, const PriorState& state, NamedTensors& out) {
  auto as_tensor = [](const auto& values) {
    std::vector<float> copy(values.begin(), values.end());
    return from_vector_f32(copy, {static_cast<int64_t>(copy.size())});
  };
  if (!state.group_weight_decay.empty()) out.emplace_back(name + ".group_weight_decay", as_tensor(state.group_weight_decay));
  if (!state.keep_rows.empty()) out.emplace_back(name + ".keep_rows", as_tensor(state.keep_rows));
  if (!state.keep_columns.empty()) out.emplace_back(name + ".keep_columns", as_tensor(state.keep_columns));
}

void read_prior_state_tensors(const std::string& name, const std::map<std::string, Tensor>& tensors, PriorState& state) {
  auto read = [&](const std::string& slot, int64_t expected, auto& values) {
    values.clear();
    auto it = tensors.find(name + slot);
    if (it == tensors.end()) return;
    SLAB_CHECK(it->second.numel() == expected, "prior state: '", name, slot, "' holds ", it->second.numel(),
               " values, expected ", expected);
    for (double v : it->second.to_vector()) values.push_back(static_cast<std::decay_t<decltype(values[0])>>(v));
  };
  read(".group_weight_decay", state.layout.group_count(), state.group_weight_decay);
  read(".keep_rows", state.layout.rows, state.keep_rows);
  read(".keep_columns", state.layout.columns, state.keep_columns);
  for (uint8_t v : state.keep_rows) SLAB_CHECK(v <= 1, "prior state: '", name, ".keep_rows' must hold 0 or 1");
  for (uint8_t v : state.keep_columns) SLAB_CHECK(v <= 1, "prior state: '", name, ".keep_columns' must hold 0 or 1");
  state.validate(name);
}

}  // namespace slab
