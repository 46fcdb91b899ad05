// Pooling on the GPU with own kernels (core/cpu/pool.cpp is the oracle). The forward passes
// give one thread per output cell. The average-pool backward passes gather instead of
// scatter: one thread per input cell visits, in increasing output order, the output cells
// whose window covers it, so overlapping windows add up without atomics and in the CPU's
// order. cuDNN's pooling is not used: it has no argmax output, which the max-pool backward
// of the kernel seam needs.
#include <math_constants.h>

#include "core/cuda/device_math.cuh"

namespace slab::cuda {

namespace {

struct Window {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
};

struct Planes {
  int64_t count, height, width, out_h, out_w;
};

template <typename T>
__global__ void max_pool_forward_kernel(const T* x, T* out, int64_t* indices, Planes p, Window k) {
  SLAB_GRID_STRIDE_LOOP(o, p.count * p.out_h * p.out_w) {
    const int64_t j = o % p.out_w, i = (o / p.out_w) % p.out_h, plane = o / (p.out_w * p.out_h);
    const T* in = x + plane * p.height * p.width;
    const int64_t h_begin = math::max<int64_t>(i * k.stride_h - k.pad_h, 0);
    const int64_t h_end = math::min<int64_t>(i * k.stride_h - k.pad_h + k.kernel_h, p.height);
    const int64_t w_begin = math::max<int64_t>(j * k.stride_w - k.pad_w, 0);
    const int64_t w_end = math::min<int64_t>(j * k.stride_w - k.pad_w + k.kernel_w, p.width);
    T best = T(-CUDART_INF);
    int64_t best_index = h_begin * p.width + w_begin;
    for (int64_t h = h_begin; h < h_end; ++h)
      for (int64_t w = w_begin; w < w_end; ++w) {
        const T v = in[h * p.width + w];
        if (v > best || (v != v && best == best)) {  // the first NaN wins
          best = v;
          best_index = h * p.width + w;
        }
      }
    out[o] = best;
    if (indices != nullptr) indices[o] = best_index;
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
__global__ void avg_pool_forward_kernel(const T* x, T* out, Planes p, Window k) {
  const T scale = T(1) / static_cast<T>(k.kernel_h * k.kernel_w);  // padding counts in the divisor
  SLAB_GRID_STRIDE_LOOP(o, p.count * p.out_h * p.out_w) {
    const int64_t j = o % p.out_w, i = (o / p.out_w) % p.out_h, plane = o / (p.out_w * p.out_h);
    const T* in = x + plane * p.height * p.width;
    const int64_t h_begin = math::max<int64_t>(i * k.stride_h - k.pad_h, 0);
    const int64_t h_end = math::min<int64_t>(i * k.stride_h - k.pad_h + k.kernel_h, p.height);
    const int64_t w_begin = math::max<int64_t>(j * k.stride_w - k.pad_w, 0);
    const int64_t w_end = math::min<int64_t>(j * k.stride_w - k.pad_w + k.kernel_w, p.width);
    T total = 0;
    for (int64_t h = h_begin; h < h_end; ++h)
      for (int64_t w = w_begin; w < w_end; ++w) total += in[h * p.width + w];
    out[o] = total * scale;
  }
}

template <typename T>
__global__ void avg_pool_backward_kernel(const T* grad_out, T* grad_x, Planes p, Window k) {
  const T scale = T(1) / static_cast<T>(k.kernel_h * k.kernel_w);
  SLAB_GRID_STRIDE_LOOP(at, p.count * p.height * p.width) {
    const int64_t w = at % p.width, h = (at / p.width) % p.height, plane = at / (p.width * p.height);
    int64_t i0, i1, j0, j1;
    covering(h, k.kernel_h, k.stride_h, k.pad_h, p.out_h, i0, i1);
    covering(w, k.kernel_w, k.stride_w, k.pad_w, p.out_w, j0, j1);
    const T* g = grad_out + plane * p.out_h * p.out_w;
    T total = 0;
    for (int64_t i = i0; i <= i1; ++i)
      for (int64_t j = j0; j <= j1; ++j) total += g[i * p.out_w + j] * scale;
    grad_x[at] = total;
  }
}

// Adaptive cell i covers [floor(i in / out), ceil((i + 1) in / out)).
__device__ __forceinline__ int64_t adaptive_begin(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__device__ __forceinline__ int64_t adaptive_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

template <typename T>
__global__ void adaptive_forward_kernel(const T* x, T* out, Planes p) {
  SLAB_GRID_STRIDE_LOOP(o, p.count * p.out_h * p.out_w) {
    const int64_t j = o % p.out_w, i = (o / p.out_w) % p.out_h, plane = o / (p.out_w * p.out_h);
    const T* in = x + plane * p.height * p.width;
    const int64_t h_begin = adaptive_begin(i, p.height, p.out_h), h_end = adaptive_end(i, p.height, p.out_h);
    const int64_t w_begin = adaptive_begin(j, p.width, p.out_w), w_end = adaptive_end(j, p.width, p.out_w);
    T total = 0;
    for (int64_t h = h_begin; h < h_end; ++h)
      for (int64_t w = w_begin; w < w_end; ++w) total += in[h * p.width + w];
    out[o] = total / static_cast<T>((h_end - h_begin) * (w_end - w_begin));
  }
}

// The cells covering input row h: from floor(h out / in) while their window starts at or
// before h (windows may overlap when in is not a multiple of out).
template <typename T>
__global__ void adaptive_backward_kernel(const T* grad_out, T* grad_x, Planes p) {
  SLAB_GRID_STRIDE_LOOP(at, p.count * p.height * p.width) {
    const int64_t w = at % p.width, h = (at / p.width) % p.height, plane = at / (p.width * p.height);
    const T* g = grad_out + plane * p.out_h * p.out_w;
    T total = 0;
    for (int64_t i = (h * p.out_h) / p.height; i < p.out_h && adaptive_begin(i, p.height, p.out_h) <= h; ++i) {
      const int64_t h_begin = adaptive_begin(i, p.height, p.out_h), h_end = adaptive_end(i, p.height, p.out_h);
      if (h >= h_end) continue;
      for (int64_t j = (w * p.out_w) / p.width; j < p.out_w && adaptive_begin(j, p.width, p.out_w) <= w; ++j) {
        const int64_t w_begin = adaptive_begin(j, p.width, p.out_w), w_end = adaptive_end(j, p.width, p.out_w);
        if (w >= w_end) continue;
        total += g[i * p.out_w + j] / static_cast<T>((h_end - h_begin) * (w_end - w_begin));
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
  const Window k{kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w};
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
  const Window k{kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w};
  launch_float(x, out.numel(), "avg_pool2d", [&](auto zero, unsigned grid, cudaStream_t s) {
    using T = decltype(zero);
    avg_pool_forward_kernel<T><<<grid, detail::kThreads, 0, s>>>(x.data<T>(), out.data<T>(), p, k);
    SLAB_CUDA_CHECK_LAUNCH("avg_pool_forward_kernel");
  });
}

void avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_x, int64_t kernel_h, int64_t kernel_w,
                         int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  const Planes p = planes_of(grad_x, grad_out);
  const Window k{kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w};
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
