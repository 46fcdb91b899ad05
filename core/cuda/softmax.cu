// Softmax and log-softmax along one dimension ([outer, extent, inner]), their backward, and
// the negative log-likelihood, with the CPU's formulas (core/softmax_math.h): the maximum
// is subtracted in the tensor's type, exponentials and sums are taken in double.
#include <math_constants.h>

#include "core/cuda/device_math.cuh"
#include "core/cuda/runtime.h"
#include "core/softmax_math.h"

namespace slab::cuda {

namespace {

using detail::kFullMask;
using detail::kWarp;
using detail::warp_sum;

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = math::max(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;  // in every lane
}

__device__ __forceinline__ double warp_sum_all(double v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;  // in every lane (a butterfly: the same bits in each)
}

// inner == 1 (the class dimension of logits): one warp per row.
template <typename T>
__global__ void softmax_rows_kernel(const T* x, T* out, int64_t rows, int64_t extent, bool log) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps_per_grid = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp; row < rows;
       row += warps_per_grid) {
    const T* p = x + row * extent;
    T* q = out + row * extent;
    T peak = math::negative_infinity<T>();
    for (int64_t e = lane; e < extent; e += kWarp) peak = math::max(peak, p[e]);
    peak = warp_max(peak);
    double total = 0;
    for (int64_t e = lane; e < extent; e += kWarp) total += softmax_math::shifted_exp(p[e], peak);
    total = warp_sum_all(total);
    if (log) {
      const T log_total = static_cast<T>(math::log(total));
      for (int64_t e = lane; e < extent; e += kWarp) q[e] = softmax_math::log_softmax_value(p[e], peak, log_total);
    } else {
      const double scale = 1.0 / total;
      for (int64_t e = lane; e < extent; e += kWarp) q[e] = softmax_math::softmax_value(p[e], peak, scale);
    }
  }
}

// inner > 1: one thread per (outer, inner) column, walking the extent as the CPU does.
template <typename T>
__global__ void softmax_columns_kernel(const T* x, T* out, int64_t outer, int64_t extent, int64_t inner, bool log) {
  SLAB_GRID_STRIDE_LOOP(column, outer * inner) {
    const int64_t o = column / inner, i = column - o * inner;
    const int64_t base = o * extent * inner + i;
    softmax_math::softmax_line(x + base, out + base, extent, inner, log);
  }
}

// softmax: dx = y (g - sum(g y));  log-softmax: dx = g - exp(y) sum(g).
template <typename T>
__global__ void softmax_backward_rows_kernel(const T* g, const T* y, T* out, int64_t rows, int64_t extent, bool log) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps_per_grid = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp; row < rows;
       row += warps_per_grid) {
    const int64_t base = row * extent;
    double total = 0;
    for (int64_t e = lane; e < extent; e += kWarp) total += softmax_math::backward_term(g[base + e], y[base + e], log);
    total = warp_sum_all(total);
    for (int64_t e = lane; e < extent; e += kWarp)
      out[base + e] = softmax_math::backward_value(g[base + e], y[base + e], total, log);
  }
}

template <typename T>
__global__ void softmax_backward_columns_kernel(const T* g, const T* y, T* out, int64_t outer, int64_t extent,
                                                int64_t inner, bool log) {
  SLAB_GRID_STRIDE_LOOP(column, outer * inner) {
    const int64_t o = column / inner, i = column - o * inner;
    const int64_t base = o * extent * inner + i;
    softmax_math::softmax_backward_line(g + base, y + base, out + base, extent, inner, log);
  }
}

// loss = -mean_i log_probs[i, t_i], one block, fixed tree. The CPU op checks host targets
// before the kernel; device targets are checked here: a target outside [0, classes) makes
// the loss NaN (it is never read out of bounds) and the lowest such row is reported through
// the device's error record (core/cuda/runtime.h), which the next host synchronisation turns
// into the CPU's error, so the check costs the training step no extra wait.
template <typename T>
__global__ void nll_loss_kernel(const T* log_probs, const int64_t* targets, T* loss, int64_t n, int64_t classes,
                                DeviceErrorRecord* error) {
  __shared__ double scratch[detail::kThreads / kWarp];
  __shared__ int64_t first_bad[detail::kThreads];
  double total = 0;
  int64_t bad = n;  // this thread's lowest out-of-range row (n: none); its rows only increase
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int64_t t = targets[i];
    if (t >= 0 && t < classes) {
      total -= static_cast<double>(log_probs[i * classes + t]);
    } else {
      total = CUDART_NAN;
      if (bad == n) bad = i;
    }
  }
  total = detail::block_sum(total, scratch);
  // The block's lowest bad row, a tree over the power-of-two block (launched with kThreads).
  first_bad[threadIdx.x] = bad;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) first_bad[threadIdx.x] = math::min(first_bad[threadIdx.x], first_bad[threadIdx.x + half]);
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    loss[0] = static_cast<T>(total / static_cast<double>(n));
    const int64_t row = first_bad[0];
    if (row < n) record_device_error(error, DeviceErrorCode::cross_entropy_target, row, targets[row], classes);
  }
}

template <typename T>
__global__ void nll_loss_backward_kernel(const T* log_probs, const int64_t* targets, const T* grad_loss, T* out,
                                         int64_t n, int64_t classes) {
  const T scale = grad_loss[0] / static_cast<T>(n);
  SLAB_GRID_STRIDE_LOOP(at, n * classes) {
    const int64_t i = at / classes, c = at - i * classes;
    out[at] = softmax_math::nll_backward_value(log_probs[at], scale, targets[i] == c);
  }
}

}  // namespace

void softmax(const Tensor& x, int64_t outer, int64_t extent, int64_t inner, bool log, const Tensor& out) {
  const int device = x.device().index;
  if (outer * extent * inner == 0) return;
  dispatch_float(x.dtype(), "softmax", [&](auto zero) {
    using scalar_t = decltype(zero);
    cudaStream_t s = detail::stream(device);
    if (inner == 1) {
      softmax_rows_kernel<scalar_t><<<detail::grid_for(outer * kWarp, device), detail::kThreads, 0, s>>>(
          x.data<scalar_t>(), out.data<scalar_t>(), outer, extent, log);
      SLAB_CUDA_CHECK_LAUNCH("softmax_rows_kernel");
    } else {
      softmax_columns_kernel<scalar_t><<<detail::grid_for(outer * inner, device), detail::kThreads, 0, s>>>(
          x.data<scalar_t>(), out.data<scalar_t>(), outer, extent, inner, log);
      SLAB_CUDA_CHECK_LAUNCH("softmax_columns_kernel");
    }
  });
}

void softmax_backward(const Tensor& grad, const Tensor& y, int64_t outer, int64_t extent, int64_t inner, bool log,
                      const Tensor& out) {
  const int device = y.device().index;
  if (outer * extent * inner == 0) return;
  dispatch_float(y.dtype(), "softmax backward", [&](auto zero) {
    using scalar_t = decltype(zero);
    cudaStream_t s = detail::stream(device);
    if (inner == 1) {
      softmax_backward_rows_kernel<scalar_t><<<detail::grid_for(outer * kWarp, device), detail::kThreads, 0, s>>>(
          grad.data<scalar_t>(), y.data<scalar_t>(), out.data<scalar_t>(), outer, extent, log);
      SLAB_CUDA_CHECK_LAUNCH("softmax_backward_rows_kernel");
    } else {
      softmax_backward_columns_kernel<scalar_t><<<detail::grid_for(outer * inner, device), detail::kThreads, 0, s>>>(
          grad.data<scalar_t>(), y.data<scalar_t>(), out.data<scalar_t>(), outer, extent, inner, log);
      SLAB_CUDA_CHECK_LAUNCH("softmax_backward_columns_kernel");
    }
  });
}

void nll_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& loss) {
  const int device = log_probs.device().index;
  DeviceErrorRecord* error = device_error_record(device);  // read back at the next synchronisation
  dispatch_float(log_probs.dtype(), "cross_entropy", [&](auto zero) {
    using scalar_t = decltype(zero);
    nll_loss_kernel<scalar_t><<<1, detail::kThreads, 0, detail::stream(device)>>>(
        log_probs.data<scalar_t>(), targets.data<int64_t>(), loss.data<scalar_t>(), log_probs.size(0),
        log_probs.size(1), error);
    SLAB_CUDA_CHECK_LAUNCH("nll_loss_kernel");
  });
}

void nll_loss_backward(const Tensor& log_probs, const Tensor& targets, const Tensor& grad_loss, const Tensor& out) {
  const int device = log_probs.device().index;
  const int64_t n = log_probs.size(0), classes = log_probs.size(1);
  if (n * classes == 0) return;
  dispatch_float(log_probs.dtype(), "cross_entropy backward", [&](auto zero) {
    using scalar_t = decltype(zero);
    nll_loss_backward_kernel<scalar_t><<<detail::grid_for(n * classes, device), detail::kThreads, 0,
                                         detail::stream(device)>>>(log_probs.data<scalar_t>(),
                                                                   targets.data<int64_t>(),
                                                                   grad_loss.data<scalar_t>(), out.data<scalar_t>(),
                                                                   n, classes);
    SLAB_CUDA_CHECK_LAUNCH("nll_loss_backward_kernel");
  });
}

}  // namespace slab::cuda
