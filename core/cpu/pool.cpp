// Pooling kernels: one pass per (image, channel) plane, planes split across threads.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cpu/parallel.h"
#include "core/kernels.h"

namespace slab::cpu {

namespace {

// The planes of x [n, c, h, w] are independent; a loop over them stays serial when small.
bool parallel_planes(const Tensor& x) { return x.numel() > kParallelGrain; }

// Window [begin, end) of adaptive output cell i of `out` cells over `in` inputs:
// floor(i in / out) to ceil((i + 1) in / out).
inline int64_t adaptive_begin(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

}  // namespace

void max_pool2d_forward(const Tensor& x, const Tensor& out, const Tensor& indices, int64_t kernel_h,
                        int64_t kernel_w, int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  const int64_t planes = x.size(0) * x.size(1), height = x.size(2), width = x.size(3);
  const int64_t out_h = out.size(2), out_w = out.size(3);
  dispatch_float(x.dtype(), "max_pool2d", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    int64_t* pi = indices.defined() ? indices.data<int64_t>() : nullptr;
#pragma omp parallel for if (parallel_planes(x)) schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const T* in = px + plane * height * width;
      for (int64_t i = 0; i < out_h; ++i) {
        const int64_t h_begin = std::max<int64_t>(i * stride_h - pad_h, 0);
        const int64_t h_end = std::min(i * stride_h - pad_h + kernel_h, height);
        for (int64_t j = 0; j < out_w; ++j) {
          const int64_t w_begin = std::max<int64_t>(j * stride_w - pad_w, 0);
          const int64_t w_end = std::min(j * stride_w - pad_w + kernel_w, width);
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_index = h_begin * width + w_begin;
          for (int64_t h = h_begin; h < h_end; ++h)
            for (int64_t w = w_begin; w < w_end; ++w) {
              const T v = in[h * width + w];
              if (v > best || (std::isnan(v) && !std::isnan(best))) {  // the first NaN wins, as in PyTorch
                best = v;
                best_index = h * width + w;
              }
            }
          const int64_t o = (plane * out_h + i) * out_w + j;
          po[o] = best;
          if (pi != nullptr) pi[o] = best_index;
        }
      }
    }
  });
}

void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Tensor& grad_x) {
  const int64_t planes = grad_x.size(0) * grad_x.size(1), in_size = grad_x.size(2) * grad_x.size(3);
  const int64_t out_size = grad_out.size(2) * grad_out.size(3);
  dispatch_float(grad_out.dtype(), "max_pool2d backward", [&](auto zero) {
    using T = decltype(zero);
    const T* pg = grad_out.data<T>();
    const int64_t* pi = indices.data<int64_t>();
    T* pdx = grad_x.data<T>();
#pragma omp parallel for if (parallel_planes(grad_x)) schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      T* dx = pdx + plane * in_size;
      std::fill_n(dx, in_size, T(0));
      const T* g = pg + plane * out_size;
      const int64_t* index = pi + plane * out_size;
      for (int64_t o = 0; o < out_size; ++o) dx[index[o]] += g[o];  // overlapping windows add up
    }
  });
}

void avg_pool2d_forward(const Tensor& x, const Tensor& out, int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
                        int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  const int64_t planes = x.size(0) * x.size(1), height = x.size(2), width = x.size(3);
  const int64_t out_h = out.size(2), out_w = out.size(3);
  dispatch_float(x.dtype(), "avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const T scale = T(1) / static_cast<T>(kernel_h * kernel_w);  // padding counts in the divisor
#pragma omp parallel for if (parallel_planes(x)) schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const T* in = px + plane * height * width;
      for (int64_t i = 0; i < out_h; ++i) {
        const int64_t h_begin = std::max<int64_t>(i * stride_h - pad_h, 0);
        const int64_t h_end = std::min(i * stride_h - pad_h + kernel_h, height);
        for (int64_t j = 0; j < out_w; ++j) {
          const int64_t w_begin = std::max<int64_t>(j * stride_w - pad_w, 0);
          const int64_t w_end = std::min(j * stride_w - pad_w + kernel_w, width);
          T total = 0;
          for (int64_t h = h_begin; h < h_end; ++h)
            for (int64_t w = w_begin; w < w_end; ++w) total += in[h * width + w];
          po[(plane * out_h + i) * out_w + j] = total * scale;
        }
      }
    }
  });
}

void avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_x, int64_t kernel_h, int64_t kernel_w,
                         int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  const int64_t planes = grad_x.size(0) * grad_x.size(1), height = grad_x.size(2), width = grad_x.size(3);
  const int64_t out_h = grad_out.size(2), out_w = grad_out.size(3);
  dispatch_float(grad_out.dtype(), "avg_pool2d backward", [&](auto zero) {
    using T = decltype(zero);
    const T* pg = grad_out.data<T>();
    T* pdx = grad_x.data<T>();
    const T scale = T(1) / static_cast<T>(kernel_h * kernel_w);
#pragma omp parallel for if (parallel_planes(grad_x)) schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      T* dx = pdx + plane * height * width;
      std::fill_n(dx, height * width, T(0));
      const T* g = pg + plane * out_h * out_w;
      for (int64_t i = 0; i < out_h; ++i) {
        const int64_t h_begin = std::max<int64_t>(i * stride_h - pad_h, 0);
        const int64_t h_end = std::min(i * stride_h - pad_h + kernel_h, height);
        for (int64_t j = 0; j < out_w; ++j) {
          const int64_t w_begin = std::max<int64_t>(j * stride_w - pad_w, 0);
          const int64_t w_end = std::min(j * stride_w - pad_w + kernel_w, width);
          const T share = g[i * out_w + j] * scale;
          for (int64_t h = h_begin; h < h_end; ++h)
            for (int64_t w = w_begin; w < w_end; ++w) dx[h * width + w] += share;
        }
      }
    }
  });
}

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& out) {
  const int64_t planes = x.size(0) * x.size(1), height = x.size(2), width = x.size(3);
  const int64_t out_h = out.size(2), out_w = out.size(3);
  dispatch_float(x.dtype(), "adaptive_avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for if (parallel_planes(x)) schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const T* in = px + plane * height * width;
      for (int64_t i = 0; i < out_h; ++i) {
        const int64_t h_begin = adaptive_begin(i, height, out_h), h_end = adaptive_end(i, height, out_h);
        for (int64_t j = 0; j < out_w; ++j) {
          const int64_t w_begin = adaptive_begin(j, width, out_w), w_end = adaptive_end(j, width, out_w);
          T total = 0;
          for (int64_t h = h_begin; h < h_end; ++h)
            for (int64_t w = w_begin; w < w_end; ++w) total += in[h * width + w];
          po[(plane * out_h + i) * out_w + j] = total / static_cast<T>((h_end - h_begin) * (w_end - w_begin));
        }
      }
    }
  });
}

void adaptive_avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_x) {
  const int64_t planes = grad_x.size(0) * grad_x.size(1), height = grad_x.size(2), width = grad_x.size(3);
  const int64_t out_h = grad_out.size(2), out_w = grad_out.size(3);
  dispatch_float(grad_out.dtype(), "adaptive_avg_pool2d backward", [&](auto zero) {
    using T = decltype(zero);
    const T* pg = grad_out.data<T>();
    T* pdx = grad_x.data<T>();
#pragma omp parallel for if (parallel_planes(grad_x)) schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      T* dx = pdx + plane * height * width;
      std::fill_n(dx, height * width, T(0));
      const T* g = pg + plane * out_h * out_w;
      for (int64_t i = 0; i < out_h; ++i) {
        const int64_t h_begin = adaptive_begin(i, height, out_h), h_end = adaptive_end(i, height, out_h);
        for (int64_t j = 0; j < out_w; ++j) {
          const int64_t w_begin = adaptive_begin(j, width, out_w), w_end = adaptive_end(j, width, out_w);
          const T share = g[i * out_w + j] / static_cast<T>((h_end - h_begin) * (w_end - w_begin));
          for (int64_t h = h_begin; h < h_end; ++h)
            for (int64_t w = w_begin; w < w_end; ++w) dx[h * width + w] += share;
        }
      }
    }
  });
}

}  // namespace slab::cpu
