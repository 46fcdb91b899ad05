// Fused optimizer kernels (optim/cuda/optimizer_kernels.h): one grid-stride kernel per
// parameter tensor, each thread applying optim's per-element update function.
#include "optim/cuda/optimizer_kernels.h"

#include <initializer_list>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/cuda/device_math.cuh"
#include "core/cuda/runtime.h"
#include "optim/adam_kernel.h"
#include "optim/csghmc_kernel.h"
#include "optim/ivon_kernel.h"
#include "optim/prior_group_map.h"
#include "optim/prior_state.h"
#include "optim/sgd_kernel.h"
#include "optim/sghmc_kernel.h"
#include "optim/sghmc_noise.h"
#include "optim/vb_adaptive_kernel.h"

namespace slab::cuda {

namespace {

void check_same(const Tensor& weight, const Tensor& other, const char* optimizer, const char* what) {
  if (!other.defined()) return;
  SLAB_CHECK(other.device() == weight.device() && other.dtype() == weight.dtype() && other.shape() == weight.shape(),
             optimizer, ": ", what, " is ", other.dtype(), " ", other.shape(), " on ", other.device(),
             ", expected ", weight.dtype(), " ", weight.shape(), " on ", weight.device());
}

template <typename T>
__global__ void sgd_kernel(T* weight, T* buffer, const T* gradient, int64_t n, SgdCoefficients<T> k) {
  SLAB_GRID_STRIDE_LOOP(i, n) {
    T unused = 0;
    sgd_update(weight[i], buffer != nullptr ? buffer[i] : unused, gradient[i], k);
  }
}

template <typename T>
__global__ void adam_kernel(T* weight, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* gradient, int64_t n,
                            AdamCoefficients<T> k) {
  SLAB_GRID_STRIDE_LOOP(i, n) {
    T unused = 0;
    adam_update(weight[i], exp_avg[i], exp_avg_sq[i], max_exp_avg_sq != nullptr ? max_exp_avg_sq[i] : unused,
                gradient[i], k);
  }
}

template <typename T>
void launch_sgd(const Tensor& weight, const Tensor& gradient, const Tensor& buffer, const SgdCoefficients<T>& k) {
  check_same(weight, gradient, "SGD", "the gradient");
  check_same(weight, buffer, "SGD", "the momentum buffer");
  SLAB_CHECK(k.momentum == T(0) || buffer.defined(), "SGD: momentum ", k.momentum, " needs a momentum buffer");
  const int64_t n = weight.numel();
  if (n == 0) return;
  const int device = weight.device().index;
  sgd_kernel<T><<<detail::grid_for(n, device), detail::kThreads, 0, detail::stream(device)>>>(
      weight.data<T>(), buffer.defined() ? buffer.data<T>() : nullptr, gradient.data<T>(), n, k);
  SLAB_CUDA_CHECK_LAUNCH("sgd_kernel");
}

template <typename T>
void launch_adam(const Tensor& weight, const Tensor& gradient, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                 const Tensor& max_exp_avg_sq, const AdamCoefficients<T>& k) {
  check_same(weight, gradient, "Adam", "the gradient");
  check_same(weight, exp_avg, "Adam", "exp_avg");
  check_same(weight, exp_avg_sq, "Adam", "exp_avg_sq");
  check_same(weight, max_exp_avg_sq, "Adam", "max_exp_avg_sq");
  SLAB_CHECK(exp_avg.defined() && exp_avg_sq.defined() && (!k.amsgrad || max_exp_avg_sq.defined()),
             "Adam: the moment buffers must exist before a CUDA step");
  const int64_t n = weight.numel();
  if (n == 0) return;
  const int device = weight.device().index;
  adam_kernel<T><<<detail::grid_for(n, device), detail::kThreads, 0, detail::stream(device)>>>(
      weight.data<T>(), exp_avg.data<T>(), exp_avg_sq.data<T>(),
      max_exp_avg_sq.defined() ? max_exp_avg_sq.data<T>() : nullptr, gradient.data<T>(), n, k);
  SLAB_CUDA_CHECK_LAUNCH("adam_kernel");
}

// ---- the sampler's prior on the device ----------------------------------------------------

// What a thread needs to find element i's decay and keep: the device copies of the prior's
// vectors and the layout's map (optim/prior_group_map.h), which gives i's row, column and
// soft group exactly as on the CPU.
struct PriorView {
  const float* group_decay = nullptr;  // null: every element has weight_decay
  const float* keep_rows = nullptr;    // null: all rows kept
  const float* keep_columns = nullptr;
  float weight_decay = 0;
  PriorGroupMap map;
};

__device__ __forceinline__ void prior_of(const PriorView& p, int64_t i, float& decay, float& keep) {
  const int64_t slice = p.map.slice_of(i);
  const int64_t row = p.map.row_of(slice), column = p.map.column_of(slice);
  decay = p.group_decay == nullptr ? p.weight_decay : p.group_decay[p.map.group_of(row, column)];
  keep = (p.keep_rows == nullptr ? 1.0f : p.keep_rows[row]) * (p.keep_columns == nullptr ? 1.0f : p.keep_columns[column]);
}

// Device copies of one PriorState's vectors, with the host values they were made from.
struct DevicePrior {
  std::vector<float> group_decay;
  std::vector<uint8_t> keep_rows, keep_columns;
  float* device_decay = nullptr;
  float* device_rows = nullptr;
  float* device_columns = nullptr;
  size_t decay_bytes = 0, rows_bytes = 0, columns_bytes = 0;
  int device = -1;
};

template <typename Source>
void upload(const std::vector<Source>& values, float*& buffer, size_t& bytes, int device) {
  const size_t needed = values.size() * sizeof(float);
  if (buffer != nullptr && needed != bytes) {
    device_release(buffer, bytes, device);
    buffer = nullptr;
  }
  bytes = needed;
  if (values.empty()) return;
  if (buffer == nullptr) buffer = static_cast<float*>(device_allocate(bytes, device));
  const std::vector<float> converted(values.begin(), values.end());
  copy_host_to_device(buffer, converted.data(), bytes, device);  // staged: `converted` may go at once
}

PriorView device_prior(const PriorState& prior, int device) {
  static std::mutex mutex;
  static auto* cache = new std::unordered_map<const PriorState*, DevicePrior>();
  std::lock_guard<std::mutex> lock(mutex);
  DevicePrior& d = (*cache)[&prior];
  if (d.device != device) {  // first use, or the parameter moved: start over
    d = DevicePrior{};
    d.device = device;
    upload(prior.group_weight_decay, d.device_decay, d.decay_bytes, device);
    upload(prior.keep_rows, d.device_rows, d.rows_bytes, device);
    upload(prior.keep_columns, d.device_columns, d.columns_bytes, device);
    d.group_decay = prior.group_weight_decay;
    d.keep_rows = prior.keep_rows;
    d.keep_columns = prior.keep_columns;
  }
  if (d.group_decay != prior.group_weight_decay) {
    upload(prior.group_weight_decay, d.device_decay, d.decay_bytes, device);
    d.group_decay = prior.group_weight_decay;
  }
  if (d.keep_rows != prior.keep_rows) {
    upload(prior.keep_rows, d.device_rows, d.rows_bytes, device);
    d.keep_rows = prior.keep_rows;
  }
  if (d.keep_columns != prior.keep_columns) {
    upload(prior.keep_columns, d.device_columns, d.columns_bytes, device);
    d.keep_columns = prior.keep_columns;
  }
  PriorView view;
  view.group_decay = d.group_decay.empty() ? nullptr : d.device_decay;
  view.keep_rows = d.keep_rows.empty() ? nullptr : d.device_rows;
  view.keep_columns = d.keep_columns.empty() ? nullptr : d.device_columns;
  view.weight_decay = prior.weight_decay;
  view.map = prior.layout.group_map();
  return view;
}

// One thread per Philox block: the four normals of xi_prev and of xi come from one block
// each, exactly as optim/sghmc.cpp's CPU loop draws them.
__global__ void sghmc_kernel(float* weight, const float* gradient, float* momentum, float* rho, int64_t n,
                             uint64_t seed, uint64_t stream, uint64_t first_block_prev, uint64_t first_block_next,
                             SghmcCoefficients k, PriorView prior) {
  SLAB_GRID_STRIDE_LOOP(j, (n + 3) / 4) {
    float xi_prev[4], xi[4];
    noise::normals_of_block(philox::block(seed, stream, first_block_prev + static_cast<uint64_t>(j)), xi_prev);
    noise::normals_of_block(philox::block(seed, stream, first_block_next + static_cast<uint64_t>(j)), xi);
    for (int w = 0; w < 4; ++w) {
      const int64_t i = 4 * j + w;
      if (i >= n) break;
      float decay, keep;
      prior_of(prior, i, decay, keep);
      sghmc_update(weight[i], momentum[i], rho[i], gradient[i], xi_prev[w], xi[w], decay, keep, k);
    }
  }
}

__global__ void mask_kernel(float* weight, float* momentum, int64_t n, PriorView prior) {
  SLAB_GRID_STRIDE_LOOP(i, n) {
    float decay, keep;
    prior_of(prior, i, decay, keep);
    weight[i] *= keep;
    if (momentum != nullptr) momentum[i] *= keep;
  }
}

void check_sampler_tensors(const Tensor& weight, const Tensor& gradient, const Tensor& momentum, const Tensor& rho,
                           const PriorState& prior) {
  SLAB_CHECK(weight.device().is_cuda() && weight.dtype() == DType::f32, "sghmc (CUDA): the weight must be a float32 ",
             "CUDA tensor, got ", weight.dtype(), " on ", weight.device());
  SLAB_CHECK(gradient.defined(), "sghmc (CUDA): the weight of shape ", weight.shape(), " has no gradient");
  check_same(weight, gradient, "sghmc (CUDA)", "the gradient");
  check_same(weight, momentum, "sghmc (CUDA)", "the momentum");
  check_same(weight, rho, "sghmc (CUDA)", "rho");
  SLAB_CHECK(momentum.defined() && rho.defined(), "sghmc (CUDA): momentum and rho must exist");
  SLAB_CHECK(prior.layout.numel() == weight.numel(), "sghmc (CUDA): the prior's layout covers ", prior.layout.numel(),
             " elements, the weight has ", weight.numel());
}


// ---- the baselines (docs/algorithm.md#baselines) ----------------------------------------------
// One thread per Philox block of four elements, the blocks the CPU loops draw
// (noise::fill_normals): element i of draw d is word i mod 4 of block d * blocks(n) + i / 4.

__global__ void csghmc_kernel(float* weight, float* velocity, const float* gradient, int64_t n, uint64_t seed,
                              uint64_t stream, uint64_t first_block, CsghmcCoefficients k) {
  SLAB_GRID_STRIDE_LOOP(j, (n + 3) / 4) {
    float xi[4] = {0.0f, 0.0f, 0.0f, 0.0f};  // the CPU's zeros outside the sampling phase
    if (k.with_noise) noise::normals_of_block(philox::block(seed, stream, first_block + static_cast<uint64_t>(j)), xi);
    for (int w = 0; w < 4; ++w) {
      const int64_t i = 4 * j + w;
      if (i >= n) break;
      csghmc_update(weight[i], velocity[i], gradient[i], xi[w], k);
    }
  }
}

__global__ void ivon_kernel(float* weight, float* mean, float* hessian, float* gradient_momentum,
                            const float* gradient, int64_t n, uint64_t seed, uint64_t stream, uint64_t first_block,
                            uint64_t first_block_next, IvonCoefficients k) {
  SLAB_GRID_STRIDE_LOOP(j, (n + 3) / 4) {
    float z[4], z_next[4];
    noise::normals_of_block(philox::block(seed, stream, first_block + static_cast<uint64_t>(j)), z);
    noise::normals_of_block(philox::block(seed, stream, first_block_next + static_cast<uint64_t>(j)), z_next);
    for (int w = 0; w < 4; ++w) {
      const int64_t i = 4 * j + w;
      if (i >= n) break;
      ivon_update(weight[i], mean[i], hessian[i], gradient_momentum[i], gradient[i], z[w], z_next[w], k);
    }
  }
}

__global__ void vb_adaptive_kernel(float* weight, float* mean, float* precision, float* momentum,
                                   const float* gradient, int64_t n, uint64_t seed, uint64_t stream,
                                   uint64_t first_block, VbAdaptiveCoefficients k) {
  SLAB_GRID_STRIDE_LOOP(j, (n + 3) / 4) {
    float eps[4];
    noise::normals_of_block(philox::block(seed, stream, first_block + static_cast<uint64_t>(j)), eps);
    for (int w = 0; w < 4; ++w) {
      const int64_t i = 4 * j + w;
      if (i >= n) break;
      vb_adaptive_update(weight[i], mean[i], precision[i], momentum[i], gradient[i], eps[w], k);
    }
  }
}

__global__ void gaussian_sample_kernel(float* weight, const float* mean, const float* precision, int64_t n,
                                       float scale, float shift, uint64_t seed, uint64_t stream,
                                       uint64_t first_block) {
  SLAB_GRID_STRIDE_LOOP(j, (n + 3) / 4) {
    float z[4];
    noise::normals_of_block(philox::block(seed, stream, first_block + static_cast<uint64_t>(j)), z);
    for (int w = 0; w < 4; ++w) {
      const int64_t i = 4 * j + w;
      if (i >= n) break;
      weight[i] = slab::gaussian_sample(mean[i], precision[i], scale, shift, z[w]);
    }
  }
}

// The weight is a float32 CUDA tensor; every state tensor exists and matches it.
void check_baseline_tensors(const char* optimizer, const Tensor& weight,
                            std::initializer_list<std::pair<const char*, Tensor>> state) {
  SLAB_CHECK(weight.defined() && weight.device().is_cuda() && weight.dtype() == DType::f32, optimizer,
             ": the weight must be a float32 CUDA tensor, got ", weight.dtype(), " on ", weight.device());
  for (const auto& [what, tensor] : state) {
    SLAB_CHECK(tensor.defined(), optimizer, ": ", what, " of the weight of shape ", weight.shape(), " is undefined");
    check_same(weight, tensor, optimizer, what);
  }
}

// First Philox counter of draw `draw` of a tensor of n elements.
uint64_t first_block_of(uint64_t draw, int64_t n) { return draw * noise::blocks_per_draw(static_cast<uint64_t>(n)); }

}  // namespace

void sgd_step(const Tensor& weight, const Tensor& gradient, const Tensor& momentum_buffer,
              const SgdCoefficients<float>& k) {
  launch_sgd<float>(weight, gradient, momentum_buffer, k);
}
void sgd_step(const Tensor& weight, const Tensor& gradient, const Tensor& momentum_buffer,
              const SgdCoefficients<double>& k) {
  launch_sgd<double>(weight, gradient, momentum_buffer, k);
}

void adam_step(const Tensor& weight, const Tensor& gradient, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor& max_exp_avg_sq, const AdamCoefficients<float>& k) {
  launch_adam<float>(weight, gradient, exp_avg, exp_avg_sq, max_exp_avg_sq, k);
}
void adam_step(const Tensor& weight, const Tensor& gradient, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor& max_exp_avg_sq, const AdamCoefficients<double>& k) {
  launch_adam<double>(weight, gradient, exp_avg, exp_avg_sq, max_exp_avg_sq, k);
}

void sghmc_step(const Tensor& weight, const Tensor& gradient, const Tensor& momentum, const Tensor& rho,
                uint64_t seed, uint64_t stream, uint64_t draw_prev, const SghmcCoefficients& k,
                const PriorState& prior) {
  check_sampler_tensors(weight, gradient, momentum, rho, prior);
  const int64_t n = weight.numel();
  if (n == 0) return;
  const int device = weight.device().index;
  const PriorView view = device_prior(prior, device);
  const uint64_t blocks = noise::blocks_per_draw(static_cast<uint64_t>(n));
  sghmc_kernel<<<detail::grid_for((n + 3) / 4, device), detail::kThreads, 0, detail::stream(device)>>>(
      weight.data<float>(), gradient.data<float>(), momentum.data<float>(), rho.data<float>(), n, seed, stream,
      draw_prev * blocks, (draw_prev + 1) * blocks, k, view);
  SLAB_CUDA_CHECK_LAUNCH("sghmc_kernel");
}

void apply_prior_mask(const Tensor& weight, const Tensor& momentum, const PriorState& prior) {
  SLAB_CHECK(weight.device().is_cuda() && weight.dtype() == DType::f32,
             "apply_prior_mask (CUDA): the weight must be a float32 CUDA tensor");
  check_same(weight, momentum, "apply_prior_mask (CUDA)", "the momentum");
  if (!prior.has_masks() || weight.numel() == 0) return;
  const int device = weight.device().index;
  const PriorView view = device_prior(prior, device);
  mask_kernel<<<detail::grid_for(weight.numel(), device), detail::kThreads, 0, detail::stream(device)>>>(
      weight.data<float>(), momentum.defined() ? momentum.data<float>() : nullptr, weight.numel(), view);
  SLAB_CUDA_CHECK_LAUNCH("mask_kernel");
}

void csghmc_step(const Tensor& weight, const Tensor& gradient, const Tensor& velocity, uint64_t seed, uint64_t stream,
                 uint64_t draw, const CsghmcCoefficients& k) {
  check_baseline_tensors("csghmc (CUDA)", weight, {{"the gradient", gradient}, {"the velocity", velocity}});
  const int64_t n = weight.numel();
  if (n == 0) return;
  const int device = weight.device().index;
  csghmc_kernel<<<detail::grid_for((n + 3) / 4, device), detail::kThreads, 0, detail::stream(device)>>>(
      weight.data<float>(), velocity.data<float>(), gradient.data<float>(), n, seed, stream, first_block_of(draw, n), k);
  SLAB_CUDA_CHECK_LAUNCH("csghmc_kernel");
}

void ivon_step(const Tensor& weight, const Tensor& gradient, const Tensor& mean, const Tensor& hessian,
               const Tensor& gradient_momentum, uint64_t seed, uint64_t stream, uint64_t draw,
               const IvonCoefficients& k) {
  check_baseline_tensors("ivon (CUDA)", weight,
                         {{"the gradient", gradient}, {"the mean", mean}, {"the Hessian estimate", hessian},
                          {"the gradient momentum", gradient_momentum}});
  const int64_t n = weight.numel();
  if (n == 0) return;
  const int device = weight.device().index;
  ivon_kernel<<<detail::grid_for((n + 3) / 4, device), detail::kThreads, 0, detail::stream(device)>>>(
      weight.data<float>(), mean.data<float>(), hessian.data<float>(), gradient_momentum.data<float>(),
      gradient.data<float>(), n, seed, stream, first_block_of(draw, n), first_block_of(draw + 1, n), k);
  SLAB_CUDA_CHECK_LAUNCH("ivon_kernel");
}

void vb_adaptive_step(const Tensor& weight, const Tensor& gradient, const Tensor& mean, const Tensor& precision,
                      const Tensor& momentum, uint64_t seed, uint64_t stream, uint64_t draw,
                      const VbAdaptiveCoefficients& k) {
  check_baseline_tensors("vb-adaptive (CUDA)", weight,
                         {{"the gradient", gradient}, {"the mean", mean}, {"the precision", precision},
                          {"the momentum", momentum}});
  const int64_t n = weight.numel();
  if (n == 0) return;
  const int device = weight.device().index;
  vb_adaptive_kernel<<<detail::grid_for((n + 3) / 4, device), detail::kThreads, 0, detail::stream(device)>>>(
      weight.data<float>(), mean.data<float>(), precision.data<float>(), momentum.data<float>(),
      gradient.data<float>(), n, seed, stream, first_block_of(draw, n), k);
  SLAB_CUDA_CHECK_LAUNCH("vb_adaptive_kernel");
}

void gaussian_sample(const Tensor& weight, const Tensor& mean, const Tensor& precision, float scale, float shift,
                     uint64_t seed, uint64_t stream, uint64_t draw) {
  check_baseline_tensors("gaussian_sample (CUDA)", weight, {{"the mean", mean}, {"the precision", precision}});
  const int64_t n = weight.numel();
  if (n == 0) return;
  const int device = weight.device().index;
  gaussian_sample_kernel<<<detail::grid_for((n + 3) / 4, device), detail::kThreads, 0, detail::stream(device)>>>(
      weight.data<float>(), mean.data<float>(), precision.data<float>(), n, scale, shift, seed, stream,
      first_block_of(draw, n));
  SLAB_CUDA_CHECK_LAUNCH("gaussian_sample_kernel");
}

}  // namespace slab::cuda
