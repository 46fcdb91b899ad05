// Batch normalisation on the GPU with own kernels, for x [n, c] or [n, c, h, w] (statistics
// per channel c over M = n h w values). The maths is core/ops_batchnorm.cpp's:
//   training:  mean, biased var of the batch; invstd = 1 / sqrt(var + eps);
//              running = (1 - momentum) running + momentum (mean, var M / (M - 1))
//   backward:  d bias = sum g,  d weight = sum g x_hat = invstd (sum g x - mean sum g),
//              dx = weight invstd (g - d bias / M - x_hat d weight / M)   (batch statistics)
//              dx = weight invstd g                                       (running statistics)
// Every per-channel sum is two deterministic stages, no atomics: a grid of (channel, slice)
// blocks writes partial sums in double, then one thread per channel adds its slices in
// order. The variance is E[x^2] - mean^2 from double sums (float data, so the cancellation
// costs nothing until |mean| / std nears 1e6). cuDNN's batch norm is not used: it rejects
// eps < 1e-5, needs a scale and shift even when the layer has none, and has no backward for
// frozen (running) statistics.
//
// Indexing: x is `planes` = n c contiguous planes of `spatial` values, plane p belonging to
// channel p mod c. A block walks whole planes (PlaneTiling): `lanes` threads, a power of
// two, share a plane and the block's other threads take the next planes, so a thread finds
// its channel with one division per plane, not per value (64-bit division is a long
// instruction sequence on the GPU, and these kernels are otherwise bound by memory), and a
// warp still reads consecutive addresses.
#include <algorithm>

#include "core/batch_norm_math.h"
#include "core/cuda/device_math.cuh"
#include "core/cuda/runtime.h"

namespace slab::cuda {

namespace {

struct ChannelLayout {
  int64_t batch, channels, spatial;  // x is [batch, channels, spatial]
  __host__ __device__ int64_t count() const { return batch * spatial; }  // values per channel
  __host__ __device__ int64_t planes() const { return batch * channels; }
};

// A block of kThreads threads as groups() groups of lanes() threads, each group on one plane
// at a time: lanes is the smallest power of two >= spatial, at most kThreads, so a group
// wastes fewer than half its threads on a small plane and loops over a large one.
struct PlaneTiling {
  int lanes_log2 = 0;
  __host__ __device__ int lanes() const { return 1 << lanes_log2; }
  __host__ __device__ int groups() const { return detail::kThreads >> lanes_log2; }
  __device__ int lane() const { return static_cast<int>(threadIdx.x) & (lanes() - 1); }
  __device__ int group() const { return static_cast<int>(threadIdx.x) >> lanes_log2; }
};

PlaneTiling tiling_for(int64_t spatial) {
  PlaneTiling tiling;
  while (tiling.lanes() < spatial && tiling.lanes() < detail::kThreads) ++tiling.lanes_log2;
  return tiling;
}

// for (int64_t plane = ...; plane < planes; plane += all groups): each thread's group takes
// every (groups in the grid)-th plane, as SLAB_GRID_STRIDE_LOOP does for single values.
#define SLAB_PLANE_LOOP(plane, planes, tiling)                                                           \
  for (int64_t plane = static_cast<int64_t>(blockIdx.x) * (tiling).groups() + (tiling).group(); \
       plane < (planes); plane += static_cast<int64_t>(gridDim.x) * (tiling).groups())

// The gradient behind a fused ReLU with output y: g (y > 0) (BinaryOp::ReluGrad's rule);
// y null: g.
template <typename T>
__device__ __forceinline__ T relu_masked(T g, const T* y, int64_t at) {
  return y == nullptr || y[at] > T(0) ? g : T(0);
}

// Partial sums over slice `blockIdx.y` (images_per_slice whole images) of channel
// `blockIdx.x`'s values of
//   first  = a,         second = a * b        (b null: second = a * a)
// with a masked by `relu_output` (relu_masked), written to
// partial[(channel * slices + slice) * 2 + {0, 1}].
template <typename T>
__global__ void channel_partials_kernel(const T* a, const T* b, const T* relu_output, ChannelLayout layout,
                                        PlaneTiling tiling, int64_t images_per_slice, double* partial) {
  __shared__ double scratch[detail::kThreads / detail::kWarp];
  const int64_t channel = blockIdx.x, slice = blockIdx.y, slices = gridDim.y;
  const int64_t first_image = slice * images_per_slice;
  const int64_t end_image = math::min<int64_t>(first_image + images_per_slice, layout.batch);
  double first = 0, second = 0;
  for (int64_t image = first_image + tiling.group(); image < end_image; image += tiling.groups()) {
    const int64_t base = (image * layout.channels + channel) * layout.spatial;
    for (int64_t position = tiling.lane(); position < layout.spatial; position += tiling.lanes()) {
      const double va = static_cast<double>(relu_masked(a[base + position], relu_output, base + position));
      const double vb = b != nullptr ? static_cast<double>(b[base + position]) : va;
      first += va;
      second += va * vb;
    }
  }
  first = detail::block_sum(first, scratch);
  second = detail::block_sum(second, scratch);
  if (threadIdx.x == 0) {
    partial[(channel * slices + slice) * 2] = first;
    partial[(channel * slices + slice) * 2 + 1] = second;
  }
}

// A channel's totals: its slices added in order.
__device__ __forceinline__ void channel_totals(const double* partial, int64_t channel, int64_t slices, double& first,
                                               double& second) {
  first = 0;
  second = 0;
  for (int64_t s = 0; s < slices; ++s) {
    first += partial[(channel * slices + s) * 2];
    second += partial[(channel * slices + s) * 2 + 1];
  }
}

template <typename T>
__global__ void statistics_kernel(const double* partial, int64_t slices, int64_t channels, double count,
                                  double momentum, double eps, T* save_mean, T* save_invstd, T* running_mean,
                                  T* running_var) {
  SLAB_GRID_STRIDE_LOOP(c, channels) {
    double sum = 0, sum_squares = 0;
    channel_totals(partial, c, slices, sum, sum_squares);
    const double mean = sum / count;
    const double variance = batch_norm_math::biased_variance(sum, sum_squares, count);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(batch_norm_math::inverse_std(variance, eps));
    if (running_mean != nullptr) {
      running_mean[c] = static_cast<T>(batch_norm_math::running_mean(running_mean[c], mean, momentum));
      running_var[c] = static_cast<T>(batch_norm_math::running_variance(running_var[c], variance, count, momentum));
    }
  }
}

// out = (x - mean) invstd weight + bias, or its ReLU (NaN to 0, as UnaryOp::Relu); invstd
// from `invstd`, or 1 / sqrt(var + eps) from `variance` (evaluation with the running
// statistics).
template <typename T>
__global__ void normalise_kernel(const T* x, const T* mean, const T* invstd, const T* variance, double eps,
                                 const T* weight, const T* bias, bool relu, T* out, ChannelLayout layout,
                                 PlaneTiling tiling) {
  SLAB_PLANE_LOOP(plane, layout.planes(), tiling) {
    const int64_t c = plane % layout.channels;
    const T scale = invstd != nullptr ? invstd[c] : static_cast<T>(1.0 / math::sqrt(static_cast<double>(variance[c]) + eps));
    const T channel_mean = mean[c];
    const T w = weight != nullptr ? weight[c] : T(1);
    const T b = bias != nullptr ? bias[c] : T(0);
    const int64_t base = plane * layout.spatial;
    for (int64_t position = tiling.lane(); position < layout.spatial; position += tiling.lanes()) {
      const T x_hat = (x[base + position] - channel_mean) * scale;
      const T value = w * x_hat + b;
      out[base + position] = !relu || value > T(0) ? value : T(0);
    }
  }
}

// From the sums (sum g, sum g x): d bias, d weight = invstd (sum g x - mean sum g).
template <typename T>
__global__ void parameter_grads_kernel(const double* partial, int64_t slices, const T* mean, const T* invstd,
                                       int64_t channels, T* grad_weight, T* grad_bias, double* reduced) {
  SLAB_GRID_STRIDE_LOOP(c, channels) {
    double sum_g = 0, sum_g_x = 0;
    channel_totals(partial, c, slices, sum_g, sum_g_x);
    const double sum_g_xhat = static_cast<double>(invstd[c]) * (sum_g_x - static_cast<double>(mean[c]) * sum_g);
    if (grad_bias != nullptr) grad_bias[c] = static_cast<T>(sum_g);
    if (grad_weight != nullptr) grad_weight[c] = static_cast<T>(sum_g_xhat);
    reduced[2 * c] = sum_g;
    reduced[2 * c + 1] = sum_g_xhat;
  }
}

template <typename T>
__global__ void input_grad_kernel(const T* g, const T* x, const T* relu_output, const T* weight, const T* mean,
                                  const T* invstd, const double* reduced, bool batch_statistics, T* grad_x,
                                  ChannelLayout layout, PlaneTiling tiling) {
  const double count = static_cast<double>(layout.count());
  SLAB_PLANE_LOOP(plane, layout.planes(), tiling) {
    const int64_t c = plane % layout.channels;
    const T scale = (weight != nullptr ? weight[c] : T(1)) * invstd[c];
    const T channel_mean = mean[c], channel_invstd = invstd[c];
    const T mean_g = static_cast<T>(reduced[2 * c] / count);
    const T mean_g_xhat = static_cast<T>(reduced[2 * c + 1] / count);
    const int64_t base = plane * layout.spatial;
    for (int64_t position = tiling.lane(); position < layout.spatial; position += tiling.lanes()) {
      const int64_t at = base + position;
      const T g_at = relu_masked(g[at], relu_output, at);
      if (!batch_statistics) {
        grad_x[at] = scale * g_at;
      } else {
        const T x_hat = (x[at] - channel_mean) * channel_invstd;
        grad_x[at] = scale * (g_at - mean_g - x_hat * mean_g_xhat);
      }
    }
  }
}

#undef SLAB_PLANE_LOOP

ChannelLayout layout_of(const Tensor& x) {
  ChannelLayout layout{x.size(0), x.size(1), 1};
  for (int64_t d = 2; d < x.dim(); ++d) layout.spatial *= x.size(d);
  return layout;
}

// A grid for the plane loops: one group per plane, no more blocks than fill the device.
unsigned plane_grid(const ChannelLayout& layout, const PlaneTiling& tiling, int device) {
  return detail::grid_for(layout.planes() * tiling.lanes(), device);
}

template <typename T>
const T* optional(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <typename T>
T* optional_mutable(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The first stage of the per-channel sums (sum a, sum a b): partial sums [channels, slices,
// 2] in a fresh device buffer, which the caller releases (release()) once the kernel that
// adds them (channel_totals) is launched; stream order keeps it alive until then.
struct ChannelSums {
  double* partial = nullptr;
  int64_t slices = 0;
  size_t bytes = 0;
  void release(int device) const { device_release(partial, bytes, device); }
};

template <typename T>
ChannelSums channel_sums(const T* a, const T* b, const T* relu_output, const ChannelLayout& layout, int device) {
  const int64_t count = layout.count();
  // Enough slices to give every multiprocessor a few blocks, none of fewer than about 2048
  // values, each a whole number of images.
  const int64_t wanted = (4 * static_cast<int64_t>(detail::multiprocessor_count(device)) + layout.channels - 1) /
                         layout.channels;
  const int64_t most = std::max<int64_t>(1, std::min<int64_t>(layout.batch, (count + 2047) / 2048));
  const int64_t slices = std::clamp<int64_t>(wanted, 1, most);
  const int64_t images_per_slice = (layout.batch + slices - 1) / slices;
  ChannelSums sums;
  sums.slices = (layout.batch + images_per_slice - 1) / images_per_slice;  // none empty
  sums.bytes = static_cast<size_t>(layout.channels * sums.slices * 2) * sizeof(double);
  sums.partial = static_cast<double*>(device_allocate(sums.bytes, device));
  const PlaneTiling tiling = tiling_for(layout.spatial);
  channel_partials_kernel<T><<<dim3(static_cast<unsigned>(layout.channels), static_cast<unsigned>(sums.slices)),
                               detail::kThreads, 0, detail::stream(device)>>>(a, b, relu_output, layout, tiling,
                                                                              images_per_slice, sums.partial);
  SLAB_CUDA_CHECK_LAUNCH("channel_partials_kernel");
  return sums;
}

}  // namespace

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 const Tensor& running_mean, const Tensor& running_var, double momentum, double eps,
                                 bool relu, const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd) {
  const ChannelLayout layout = layout_of(x);
  if (x.numel() == 0) return;
  const int device = x.device().index;
  dispatch_float(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    cudaStream_t s = detail::stream(device);
    const ChannelSums sums = channel_sums<T>(x.data<T>(), nullptr, nullptr, layout, device);
    statistics_kernel<T><<<detail::grid_for(layout.channels, device), detail::kThreads, 0, s>>>(
        sums.partial, sums.slices, layout.channels, static_cast<double>(layout.count()), momentum, eps,
        save_mean.data<T>(), save_invstd.data<T>(), optional_mutable<T>(running_mean),
        optional_mutable<T>(running_var));
    SLAB_CUDA_CHECK_LAUNCH("statistics_kernel");
    sums.release(device);
    const PlaneTiling tiling = tiling_for(layout.spatial);
    normalise_kernel<T><<<plane_grid(layout, tiling, device), detail::kThreads, 0, s>>>(
        x.data<T>(), save_mean.data<T>(), save_invstd.data<T>(), nullptr, eps, optional<T>(weight), optional<T>(bias),
        relu, out.data<T>(), layout, tiling);
    SLAB_CUDA_CHECK_LAUNCH("normalise_kernel");
  });
}

void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  const Tensor& running_mean, const Tensor& running_var, double eps, bool relu,
                                  const Tensor& out) {
  const ChannelLayout layout = layout_of(x);
  if (x.numel() == 0) return;
  const int device = x.device().index;
  dispatch_float(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    const PlaneTiling tiling = tiling_for(layout.spatial);
    normalise_kernel<T><<<plane_grid(layout, tiling, device), detail::kThreads, 0, detail::stream(device)>>>(
        x.data<T>(), running_mean.data<T>(), nullptr, running_var.data<T>(), eps, optional<T>(weight),
        optional<T>(bias), relu, out.data<T>(), layout, tiling);
    SLAB_CUDA_CHECK_LAUNCH("normalise_kernel");
  });
}

void batch_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool batch_statistics, const Tensor& relu_output,
                         const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias) {
  const ChannelLayout layout = layout_of(x);
  if (x.numel() == 0) return;
  const int device = x.device().index;
  dispatch_float(x.dtype(), "batch_norm backward", [&](auto zero) {
    using T = decltype(zero);
    cudaStream_t s = detail::stream(device);
    const size_t reduced_bytes = static_cast<size_t>(layout.channels * 2) * sizeof(double);
    const ChannelSums sums = channel_sums<T>(grad_out.data<T>(), x.data<T>(), optional<T>(relu_output), layout, device);  // sum g, sum g x
    auto* reduced = static_cast<double*>(device_allocate(reduced_bytes, device));
    parameter_grads_kernel<T><<<detail::grid_for(layout.channels, device), detail::kThreads, 0, s>>>(
        sums.partial, sums.slices, mean.data<T>(), invstd.data<T>(), layout.channels, optional_mutable<T>(grad_weight),
        optional_mutable<T>(grad_bias), reduced);
    SLAB_CUDA_CHECK_LAUNCH("parameter_grads_kernel");
    sums.release(device);
    if (grad_x.defined()) {
      const PlaneTiling tiling = tiling_for(layout.spatial);
      input_grad_kernel<T><<<plane_grid(layout, tiling, device), detail::kThreads, 0, s>>>(
          grad_out.data<T>(), x.data<T>(), optional<T>(relu_output), optional<T>(weight), mean.data<T>(),
          invstd.data<T>(), reduced,
          batch_statistics, grad_x.data<T>(), layout, tiling);
      SLAB_CUDA_CHECK_LAUNCH("input_grad_kernel");
    }
    device_release(reduced, reduced_bytes, device);
  });
}

}  // namespace slab::cuda
