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
#include <algorithm>

#include "core/cuda/device_math.cuh"
#include "core/cuda/runtime.h"

namespace slab::cuda {

namespace {

struct ChannelLayout {
  int64_t batch, channels, spatial;  // x is [batch, channels, spatial]
  __host__ __device__ int64_t count() const { return batch * spatial; }
};

// Partial sums over slice `blockIdx.y` of channel `blockIdx.x`'s M values of
//   first  = a,         second = a * b        (b null: second = a * a)
// written to partial[(channel * slices + slice) * 2 + {0, 1}].
template <typename T>
__global__ void channel_partials_kernel(const T* a, const T* b, ChannelLayout layout, int64_t slice_length,
                                        double* partial) {
  __shared__ double scratch[detail::kThreads / detail::kWarp];
  const int64_t channel = blockIdx.x, slice = blockIdx.y, slices = gridDim.y;
  const int64_t begin = slice * slice_length;
  const int64_t end = math::min<int64_t>(begin + slice_length, layout.count());
  double first = 0, second = 0;
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const int64_t image = e / layout.spatial, position = e - image * layout.spatial;
    const int64_t at = (image * layout.channels + channel) * layout.spatial + position;
    const double va = static_cast<double>(a[at]);
    const double vb = b != nullptr ? static_cast<double>(b[at]) : va;
    first += va;
    second += va * vb;
  }
  first = detail::block_sum(first, scratch);
  second = detail::block_sum(second, scratch);
  if (threadIdx.x == 0) {
    partial[(channel * slices + slice) * 2] = first;
    partial[(channel * slices + slice) * 2 + 1] = second;
  }
}

// Adds each channel's slices in order: totals[2c] = sum first, totals[2c + 1] = sum second.
__global__ void channel_totals_kernel(const double* partial, int64_t channels, int64_t slices, double* totals) {
  SLAB_GRID_STRIDE_LOOP(channel, channels) {
    double first = 0, second = 0;
    for (int64_t s = 0; s < slices; ++s) {
      first += partial[(channel * slices + s) * 2];
      second += partial[(channel * slices + s) * 2 + 1];
    }
    totals[2 * channel] = first;
    totals[2 * channel + 1] = second;
  }
}

template <typename T>
__global__ void statistics_kernel(const double* totals, int64_t channels, double count, double momentum, double eps,
                                  T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  SLAB_GRID_STRIDE_LOOP(c, channels) {
    const double mean = totals[2 * c] / count;
    const double variance = math::max(totals[2 * c + 1] / count - mean * mean, 0.0);
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(1.0 / math::sqrt(variance + eps));
    if (running_mean != nullptr) {
      running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
      running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                      momentum * variance * count / (count - 1.0));
    }
  }
}

// out = (x - mean) invstd weight + bias; invstd from `invstd`, or 1 / sqrt(var + eps) from
// `variance` (evaluation with the running statistics).
template <typename T>
__global__ void normalise_kernel(const T* x, const T* mean, const T* invstd, const T* variance, double eps,
                                 const T* weight, const T* bias, T* out, ChannelLayout layout) {
  SLAB_GRID_STRIDE_LOOP(at, layout.batch * layout.channels * layout.spatial) {
    const int64_t c = (at / layout.spatial) % layout.channels;
    const T scale = invstd != nullptr ? invstd[c] : static_cast<T>(1.0 / math::sqrt(static_cast<double>(variance[c]) + eps));
    const T x_hat = (x[at] - mean[c]) * scale;
    out[at] = (weight != nullptr ? weight[c] : T(1)) * x_hat + (bias != nullptr ? bias[c] : T(0));
  }
}

// From totals (sum g, sum g x): d bias, d weight = invstd (sum g x - mean sum g).
template <typename T>
__global__ void parameter_grads_kernel(const double* totals, const T* mean, const T* invstd, int64_t channels,
                                       T* grad_weight, T* grad_bias, double* reduced) {
  SLAB_GRID_STRIDE_LOOP(c, channels) {
    const double sum_g = totals[2 * c];
    const double sum_g_xhat = static_cast<double>(invstd[c]) * (totals[2 * c + 1] - static_cast<double>(mean[c]) * sum_g);
    if (grad_bias != nullptr) grad_bias[c] = static_cast<T>(sum_g);
    if (grad_weight != nullptr) grad_weight[c] = static_cast<T>(sum_g_xhat);
    reduced[2 * c] = sum_g;
    reduced[2 * c + 1] = sum_g_xhat;
  }
}

template <typename T>
__global__ void input_grad_kernel(const T* g, const T* x, const T* weight, const T* mean, const T* invstd,
                                  const double* reduced, bool batch_statistics, T* grad_x, ChannelLayout layout) {
  const double count = static_cast<double>(layout.count());
  SLAB_GRID_STRIDE_LOOP(at, layout.batch * layout.channels * layout.spatial) {
    const int64_t c = (at / layout.spatial) % layout.channels;
    const T scale = (weight != nullptr ? weight[c] : T(1)) * invstd[c];
    if (!batch_statistics) {
      grad_x[at] = scale * g[at];
    } else {
      const T x_hat = (x[at] - mean[c]) * invstd[c];
      const T mean_g = static_cast<T>(reduced[2 * c] / count);
      const T mean_g_xhat = static_cast<T>(reduced[2 * c + 1] / count);
      grad_x[at] = scale * (g[at] - mean_g - x_hat * mean_g_xhat);
    }
  }
}

ChannelLayout layout_of(const Tensor& x) {
  ChannelLayout layout{x.size(0), x.size(1), 1};
  for (int64_t d = 2; d < x.dim(); ++d) layout.spatial *= x.size(d);
  return layout;
}

template <typename T>
const T* optional(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <typename T>
T* optional_mutable(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Per-channel (sum a, sum a b) into a fresh device buffer of 2 * channels doubles, which the
// caller releases with device_release(totals, 2 * channels * sizeof(double), device).
template <typename T>
double* channel_sums(const T* a, const T* b, const ChannelLayout& layout, int device) {
  cudaStream_t s = detail::stream(device);
  const int64_t count = layout.count();
  // Enough slices to give every multiprocessor a few blocks, none shorter than 2048 values.
  const int64_t wanted = (4 * static_cast<int64_t>(detail::multiprocessor_count(device)) + layout.channels - 1) /
                         layout.channels;
  const int64_t slices = std::clamp<int64_t>(wanted, 1, std::max<int64_t>(1, (count + 2047) / 2048));
  const int64_t slice_length = (count + slices - 1) / slices;
  const size_t partial_bytes = static_cast<size_t>(layout.channels * slices * 2) * sizeof(double);
  const size_t total_bytes = static_cast<size_t>(layout.channels * 2) * sizeof(double);
  auto* partial = static_cast<double*>(device_allocate(partial_bytes, device));
  auto* totals = static_cast<double*>(device_allocate(total_bytes, device));
  channel_partials_kernel<T><<<dim3(static_cast<unsigned>(layout.channels), static_cast<unsigned>(slices)),
                               detail::kThreads, 0, s>>>(a, b, layout, slice_length, partial);
  SLAB_CUDA_CHECK_LAUNCH("channel_partials_kernel");
  channel_totals_kernel<<<detail::grid_for(layout.channels, device), detail::kThreads, 0, s>>>(
      partial, layout.channels, slices, totals);
  SLAB_CUDA_CHECK_LAUNCH("channel_totals_kernel");
  device_release(partial, partial_bytes, device);  // stream order keeps it alive for the kernels
  return totals;
}

}  // namespace

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 const Tensor& running_mean, const Tensor& running_var, double momentum, double eps,
                                 const Tensor& out, const Tensor& save_mean, const Tensor& save_invstd) {
  const ChannelLayout layout = layout_of(x);
  if (x.numel() == 0) return;
  const int device = x.device().index;
  dispatch_float(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    cudaStream_t s = detail::stream(device);
    double* totals = channel_sums<T>(x.data<T>(), nullptr, layout, device);
    statistics_kernel<T><<<detail::grid_for(layout.channels, device), detail::kThreads, 0, s>>>(
        totals, layout.channels, static_cast<double>(layout.count()), momentum, eps, save_mean.data<T>(),
        save_invstd.data<T>(), optional_mutable<T>(running_mean), optional_mutable<T>(running_var));
    SLAB_CUDA_CHECK_LAUNCH("statistics_kernel");
    device_release(totals, static_cast<size_t>(layout.channels * 2) * sizeof(double), device);
    normalise_kernel<T><<<detail::grid_for(x.numel(), device), detail::kThreads, 0, s>>>(
        x.data<T>(), save_mean.data<T>(), save_invstd.data<T>(), nullptr, eps, optional<T>(weight), optional<T>(bias),
        out.data<T>(), layout);
    SLAB_CUDA_CHECK_LAUNCH("normalise_kernel");
  });
}

void batch_norm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                  const Tensor& running_mean, const Tensor& running_var, double eps,
                                  const Tensor& out) {
  const ChannelLayout layout = layout_of(x);
  if (x.numel() == 0) return;
  const int device = x.device().index;
  dispatch_float(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    normalise_kernel<T><<<detail::grid_for(x.numel(), device), detail::kThreads, 0, detail::stream(device)>>>(
        x.data<T>(), running_mean.data<T>(), nullptr, running_var.data<T>(), eps, optional<T>(weight),
        optional<T>(bias), out.data<T>(), layout);
    SLAB_CUDA_CHECK_LAUNCH("normalise_kernel");
  });
}

void batch_norm_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool batch_statistics, const Tensor& grad_x,
                         const Tensor& grad_weight, const Tensor& grad_bias) {
  const ChannelLayout layout = layout_of(x);
  if (x.numel() == 0) return;
  const int device = x.device().index;
  dispatch_float(x.dtype(), "batch_norm backward", [&](auto zero) {
    using T = decltype(zero);
    cudaStream_t s = detail::stream(device);
    const size_t reduced_bytes = static_cast<size_t>(layout.channels * 2) * sizeof(double);
    double* totals = channel_sums<T>(grad_out.data<T>(), x.data<T>(), layout, device);  // sum g, sum g x
    auto* reduced = static_cast<double*>(device_allocate(reduced_bytes, device));
    parameter_grads_kernel<T><<<detail::grid_for(layout.channels, device), detail::kThreads, 0, s>>>(
        totals, mean.data<T>(), invstd.data<T>(), layout.channels, optional_mutable<T>(grad_weight),
        optional_mutable<T>(grad_bias), reduced);
    SLAB_CUDA_CHECK_LAUNCH("parameter_grads_kernel");
    device_release(totals, reduced_bytes, device);
    if (grad_x.defined()) {
      input_grad_kernel<T><<<detail::grid_for(x.numel(), device), detail::kThreads, 0, s>>>(
          grad_out.data<T>(), x.data<T>(), optional<T>(weight), mean.data<T>(), invstd.data<T>(), reduced,
          batch_statistics, grad_x.data<T>(), layout);
      SLAB_CUDA_CHECK_LAUNCH("input_grad_kernel");
    }
    device_release(reduced, reduced_bytes, device);
  });
}

}  // namespace slab::cuda
