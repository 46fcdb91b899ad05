// Pooling on the GPU with own kernels (core/cpu/pool.cpp is the oracle; the window rules and
// per-window formulas are core/pool_windows.h's, shared with it). The forward passes give
// one thread per output cell. The average-pool backward passes gather instead of
// scatter: one thread per input cell visits, in increasing output order, the output cells
// whose window covers it, so overlapping windows add up without atomics and in the CPU's
// order. cuDNN's pooling is not used: it has no argmax output, which the max-pool backward
// of the kernel seam needs.
#include "core/cuda/device_math.cuh"
#include "core/pool_windows.h"

namespace slab::cuda {

namespace {

// A kernel/stride/padding pooling's window rules along rows and columns.
struct StridedGeometry {
  pool::StridedWindows rows, cols;
};

struct Planes {
  int64_t count, height, width, out_h, out_w;
};

template <typename T>
__global__ void max_pool_forward_kernel(const T* x, T* out, int64_t* indices, Planes p, StridedGeometry k) {
  SLAB_GRID_STRIDE_LOOP(o, p.count * p.out_h * p.out_w) {
    const int64_t j = o % p.out_w, i = (o / p.out_w) % p.out_h, plane = o / (p.out_w * p.out_h);
    const MaxAt<T> best = pool::max_of_window(x + plane * p.height * p.width, p.width, k.rows(i), k.cols(j));
    out[o] = best.value;
    if (indices != nullptr) indices[o] = best.index;
  }
}

// Output rows whose window [i s - pad, i s - pad + kernel) holds input row h:
// ceil((h + pad - kernel + 1) / s) <= i <= floor((h + pad) / s), clipped to [0, out).
__device__ __forceinline__ void covering(int64_t h, int64_t kernel, int64_t stride, int64_t pad, int64_t out,
                                         int64_t& first, int64_t& last) {
  const int64_t top = h + pad - kernel + 1;
  first = top <= 0 ? 0 : (top + stride - 1) / stride;
  last = math::min<int64_t>((h + pad) / stride, out - 1);
}

// The signature carries no window geometry, only where each maximum was. One thread per
// (image, channel) plane adds its outputs' gradients in increasing output order, exactly
// the CPU's loop: overlapping windows add up without atomics and give the CPU's bits.
template <typename T>
__global__ void max_pool_backward_kernel(const T* grad_out, const int64_t* indices, T* grad_x, Planes p) {
  SLAB_GRID_STRIDE_LOOP(plane, p.count) {
    T* dx = grad_x + plane * p.height * p.width;
    for (int64_t e = 0; e < p.height * p.width; ++e) dx[e] = T(0);
    const T* g = grad_out + plane * p.out_h * p.out_w;
    const int64_t* index = indices + plane * p.out_h * p.out_w;
    for (int64_t o = 0; o < p.out_h * p.out_w; ++o) dx[index[o]] += g[o];
  }
}

template <typename T>
__global__ void avg_pool_forward_kernel(const T* x, T* out, Planes p, StridedGeometry k) {
  SLAB_GRID_STRIDE_LOOP(o, p.count * p.out_h * p.out_w) {
    const int64_t j = o % p.out_w, i = (o / p.out_w) % p.out_h, plane = o / (p.out_w * p.out_h);
    const pool::Window rows = k.rows(i), cols = k.cols(j);
    out[o] = pool::sum_of_window(x + plane * p.height * p.width, p.width, rows, cols) *
             pool::reciprocal_count<T>(rows, cols);
  }
}

template <typename T>
__global__ void avg_pool_backward_kernel(const T* grad_out, T* grad_x, Planes p, StridedGeometry k) {
  const T scale = T(1) / static_cast<T>(k.rows.kernel * k.cols.kernel);  // padding counts in the divisor
  SLAB_GRID_STRIDE_LOOP(at, p.count * p.height * p.width) {
    const int64_t w = at % p.width, h = (at / p.width) % p.height, plane = at / (p.width * p.height);
    int64_t i0, i1, j0, j1;
    covering(h, k.rows.kernel, k.rows.stride, k.rows.pad, p.out_h, i0, i1);
    covering(w, k.cols.kernel, k.cols.stride, k.cols.pad, p.out_w, j0, j1);
    const T* g = grad_out + plane * p.out_h * p.out_w;
    T total = 0;
    for (int64_t i = i0; i <= i1; ++i)
      for (int64_t j = j0; j <= j1; ++j) total += g[i * p.out_w + j] * scale;
    grad_x[at] = total;
  }
}

template <typename T>
__global__ void adaptive_forward_kernel(const T* x, T* out, Planes p) {
  const pool::AdaptiveWindows row_windows{p.height, p.out_h}, col_windows{p.width, p.out_w};
  SLAB_GRID_STRIDE_LOOP(o, p.count * p.out_h * p.out_w) {
    const int64_t j = o % p.out_w, i = (o / p.out_w) % p.out_h, plane = o / (p.out_w * p.out_h);
    const pool::Window rows = row_windows(i), cols = col_windows(j);
    out[o] = pool::sum_of_window(x + plane * p.height * p.width, p.width, rows, cols) /
             static_cast<T>(rows.count * cols.count);
  }
}

// The cells covering input row h: from floor(h out / in) while their window starts at or
// before h (windows may overlap when in is not a multiple of out).
template <typename T>
__global__ void adaptive_backward_kernel(const T* grad_out, T* grad_x, Planes p) {
  const pool::AdaptiveWindows row_windows{p.height, p.out_h}, col_windows{p.width, p.out_w};
  SLAB_GRID_STRIDE_LOOP(at, p.count * p.height * p.width) {
    const int64_t w = at % p.width, h = (at / p.width) % p.height, plane = at / (p.width * p.height);
    const T* g = grad_out + plane * p.out_h * p.out_w;
    T total = 0;
    for (int64_t i = (h * p.out_h) / p.height; i < p.out_h && row_windows(i).begin <= h; ++i) {
      const pool::Window rows = row_windows(i);
      if (h >= rows.end) continue;
      for (int64_t j = (w * p.out_w) / p.width; j < p.out_w && col_windows(j).begin <= w; ++j) {
        const pool::Window cols = col_windows(j);
        if (w >= cols.end) continue;
        total += g[i * p.out_w + j] / static_cast<T>(rows.count * cols.count);
      }
    }
    grad_x[at] = total;
  }
}

// x (or grad_x) [n, c, h, w] and out (or grad_out) [n, c, ho, wo].
Planes planes_of(const Tensor& input, const Tensor& output) {
  return {input.size(0) * input.size(1), input.size(2), input.size(3), output.size(2), output.size(3)};
}

// Calls launch(T{}, grid, stream) for the float type T of `like`, with a grid for `items`
// threads in blocks of `threads`; nothing when there are no items.
template <typename Launch>
void launch_float(const Tensor& like, int64_t items, const char* op, const Launch& launch,
                  int threads = detail::kThreads) {
  if (items == 0) return;
  const int device = like.device().index;
  dispatch_float(like.dtype(), op,
                 [&](auto zero) { launch(zero, detail::grid_for(items, device, threads), detail::stream(device)); });
}

}  // namespace

void max_pool2d_forward(const Tensor& x, const Tensor& out, const Tensor& indices, int64_t kernel_h,
                        int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  const Planes p = planes_of(x, out);
  const StridedGeometry k{{kernel_h, stride_h, pad_h, p.height}, {kernel_w, stride_w, pad_w, p.width}};
  launch_float(x, out.numel(), "max_pool2d", [&](auto zero, unsigned grid, cudaStream_t s) {
    using T = decltype(zero);
    max_pool_forward_kernel<T><<<grid, detail::kThreads, 0, s>>>(
        x.data<T>(), out.data<T>(), indices.defined() ? indices.data<int64_t>() : nullptr, p, k);
    SLAB_CUDA_CHECK_LAUNCH("max_pool_forward_kernel");
  });
}

void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x) {
  const Planes p = planes_of(grad_x, grad_out);
  constexpr int kPlaneThreads = 64;  // one thread per plane: small blocks spread the planes over the device
  launch_float(
      grad_out, grad_x.numel() == 0 ? 0 : p.count, "max_pool2d backward",
      [&](auto zero, unsigned grid, cudaStream_t s) {
        using T = decltype(zero);
        max_pool_backward_kernel<T><<<grid, kPlaneThreads, 0, s>>>(grad_out.data<T>(), indices.data<int64_t>(),
                                                                   grad_x.data<T>(), p);
        SLAB_CUDA_CHECK_LAUNCH("max_pool_backward_kernel");
      },
      kPlaneThreads);
}

void avg_pool2d_forward(const Tensor& x, const Tensor& out, int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
                        int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  const Planes p = planes_of(x, out);
  const StridedGeometry k{{kernel_h, stride_h, pad_h, p.height}, {kernel_w, stride_w, pad_w, p.width}};
  launch_float(x, out.numel(), "avg_pool2d", [&](auto zero, unsigned grid, cudaStream_t s) {
    using T = decltype(zero);
    avg_pool_forward_kernel<T><<<grid, detail::kThreads, 0, s>>>(x.data<T>(), out.data<T>(), p, k);
    SLAB_CUDA_CHECK_LAUNCH("avg_pool_forward_kernel");
  });
}

void avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_x, int64_t kernel_h, int64_t kernel_w,
                         int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  const Planes p = planes_of(grad_x, grad_out);
  const StridedGeometry k{{kernel_h, stride_h, pad_h, p.height}, {kernel_w, stride_w, pad_w, p.width}};
  launch_float(grad_out, grad_x.numel(), "avg_pool2d backward", [&](auto zero, unsigned grid, cudaStream_t s) {
    using T = decltype(zero);
    avg_pool_backward_kernel<T><<<grid, detail::kThreads, 0, s>>>(grad_out.data<T>(), grad_x.data<T>(), p, k);
    SLAB_CUDA_CHECK_LAUNCH("avg_pool_backward_kernel");
  });
}

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& out) {
  const Planes p = planes_of(x, out);
  launch_float(x, out.numel(), "adaptive_avg_pool2d", [&](auto zero, unsigned grid, cudaStream_t s) {
    using T = decltype(zero);
    adaptive_forward_kernel<T><<<grid, detail::kThreads, 0, s>>>(x.data<T>(), out.data<T>(), p);
    SLAB_CUDA_CHECK_LAUNCH("adaptive_forward_kernel");
  });
}

void adaptive_avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_x) {
  const Planes p = planes_of(grad_x, grad_out);
  launch_float(grad_out, grad_x.numel(), "adaptive_avg_pool2d backward", [&](auto zero, unsigned grid, cudaStream_t s) {
    using T = decltype(zero);
    adaptive_backward_kernel<T><<<grid, detail::kThreads, 0, s>>>(grad_out.data<T>(), grad_x.data<T>(), p);
    SLAB_CUDA_CHECK_LAUNCH("adaptive_backward_kernel");
  });
}

}  // namespace slab::cuda
