// Pooling kernels: one pass per (image, channel) plane, planes split across threads.
//
// Every windowed kernel walks the same structure: planes, then output cells (i, j), each
// reading the input window rows x cols. for_each_cell holds that walk once; the window
// rules (strided with padding, or adaptive) and the per-window formulas are
// core/pool_windows.h's, shared with the CUDA kernels. Max pooling's backward needs no
// windows: the forward's indices say where each gradient goes.
#include <algorithm>

#include "core/cpu/parallel.h"
#include "core/kernels.h"
#include "core/pool_windows.h"

namespace slab::cpu {

namespace {

// The planes of x [n, c, h, w] are independent; a loop over them stays serial when small.
bool parallel_planes(const Tensor& x) { return x.numel() > kParallelGrain; }

using pool::AdaptiveWindows;
using pool::StridedWindows;
using pool::Window;

// Calls cell(plane, o, rows, cols) for every output cell o = i * out_w + j of every plane,
// planes across threads. Rows and cols are window rules; inlined, so as fast as the loops
// written out.
template <typename Rows, typename Cols, typename Cell>
inline void for_each_cell(int64_t planes, int64_t out_h, int64_t out_w, bool parallel, const Rows& rows,
                          const Cols& cols, const Cell& cell) {
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t plane = 0; plane < planes; ++plane)
    for (int64_t i = 0; i < out_h; ++i) {
      const Window r = rows(i);
      for (int64_t j = 0; j < out_w; ++j) cell(plane, i * out_w + j, r, cols(j));
    }
}

// out = the mean of each window (avg_pool2d, adaptive_avg_pool2d).
template <typename Rows, typename Cols>
void average_forward(const Tensor& x, const Tensor& out, const Rows& rows, const Cols& cols, const char* name) {
  const int64_t planes = x.size(0) * x.size(1), height = x.size(2), width = x.size(3);
  const int64_t out_h = out.size(2), out_w = out.size(3);
  dispatch_float(x.dtype(), name, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    for_each_cell(planes, out_h, out_w, parallel_planes(x), rows, cols,
                  [&](int64_t plane, int64_t o, const Window& r, const Window& c) {
                    const T total = pool::sum_of_window(px + plane * height * width, width, r, c);
                    // A reciprocal of loop-invariant counts (strided windows) is hoisted out of the loop.
                    po[plane * out_h * out_w + o] = total * pool::reciprocal_count<T>(r, c);
                  });
  });
}

// grad_x = each cell's gradient spread evenly over its window (overlapping windows add up).
template <typename Rows, typename Cols>
void average_backward(const Tensor& grad_out, const Tensor& grad_x, const Rows& rows, const Cols& cols,
                      const char* name) {
  const int64_t planes = grad_x.size(0) * grad_x.size(1), height = grad_x.size(2), width = grad_x.size(3);
  const int64_t out_h = grad_out.size(2), out_w = grad_out.size(3);
  dispatch_float(grad_out.dtype(), name, [&](auto zero) {
    using T = decltype(zero);
    const T* pg = grad_out.data<T>();
    T* pdx = grad_x.data<T>();
    for_each_cell(planes, out_h, out_w, parallel_planes(grad_x), rows, cols,
                  [&](int64_t plane, int64_t o, const Window& r, const Window& c) {
                    T* dx = pdx + plane * height * width;
                    if (o == 0) std::fill_n(dx, height * width, T(0));  // the plane's first cell
                    const T share = pg[plane * out_h * out_w + o] * pool::reciprocal_count<T>(r, c);
                    for (int64_t h = r.begin; h < r.end; ++h)
                      for (int64_t w = c.begin; w < c.end; ++w) dx[h * width + w] += share;
                  });
  });
}

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
    for_each_cell(planes, out_h, out_w, parallel_planes(x), StridedWindows{kernel_h, stride_h, pad_h, height},
                  StridedWindows{kernel_w, stride_w, pad_w, width},
                  [&](int64_t plane, int64_t o, const Window& r, const Window& c) {
                    const MaxAt<T> best = pool::max_of_window(px + plane * height * width, width, r, c);
                    po[plane * out_h * out_w + o] = best.value;
                    if (pi != nullptr) pi[plane * out_h * out_w + o] = best.index;
                  });
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
  average_forward(x, out, StridedWindows{kernel_h, stride_h, pad_h, x.size(2)},
                  StridedWindows{kernel_w, stride_w, pad_w, x.size(3)}, "avg_pool2d");
}

void avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_x, int64_t kernel_h, int64_t kernel_w,
                         int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w) {
  average_backward(grad_out, grad_x, StridedWindows{kernel_h, stride_h, pad_h, grad_x.size(2)},
                   StridedWindows{kernel_w, stride_w, pad_w, grad_x.size(3)}, "avg_pool2d backward");
}

void adaptive_avg_pool2d_forward(const Tensor& x, const Tensor& out) {
  average_forward(x, out, AdaptiveWindows{x.size(2), out.size(2)}, AdaptiveWindows{x.size(3), out.size(3)},
                  "adaptive_avg_pool2d");
}

void adaptive_avg_pool2d_backward(const Tensor& grad_out, const Tensor& grad_x) {
  average_backward(grad_out, grad_x, AdaptiveWindows{grad_x.size(2), grad_out.size(2)},
                   AdaptiveWindows{grad_x.size(3), grad_out.size(3)}, "adaptive_avg_pool2d backward");
}

}  // namespace slab::cpu
