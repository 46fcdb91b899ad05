// Convolution as im2col + GEMM, for any float dtype, groups and dilation (Caffe's
// base_conv_layer idea). For one image and one group, with K = (c_in / groups) kh kw and
// P = out_h out_w pixels:
//   col [K, P]          col[(c, p, q), (i, j)] = x[c, i s_h + p d_h - pad_h, j s_w + q d_w - pad_w] (0 outside)
//   forward             out_g [c_out/groups, P] = W_g [c_out/groups, K] col
//   input gradient      dcol = W_g^T dout_g, then col2im adds dcol back onto the pixels it came from
//   weight gradient     dW_g += dout_g col^T, summed over the images
// A pointwise conv (1x1, stride 1, no padding) skips im2col: x itself is col.
//
// Threads: images are independent, so a batch of two or more is split across threads, each
// with its own col buffer (conv::thread_scratch) and serial GEMMs (Eigen runs serially inside
// a parallel region). A single image runs serially and lets Eigen thread the GEMM instead.
// The weight gradient sums per-thread partials in a fixed order: results are deterministic.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/cpu/conv_paths.h"
#include "core/kernels.h"

namespace slab::cpu::conv {

namespace {

// The output indices [begin, end), of `out` along one axis, whose input index
// i stride + offset lies inside [0, in).
std::pair<int64_t, int64_t> inside(int64_t out, int64_t stride, int64_t offset, int64_t in) {
  int64_t begin = 0;
  while (begin < out && begin * stride + offset < 0) ++begin;
  int64_t end = out;
  while (end > begin && (end - 1) * stride + offset >= in) --end;
  return {begin, end};
}
// The output columns that read inside the image for kernel column offset_w = q d_w - pad_w,
// and the output rows for kernel row offset_h = p d_h - pad_h.
std::pair<int64_t, int64_t> columns_inside(const Geometry& g, int64_t offset_w) {
  return inside(g.out_w, g.stride_w, offset_w, g.width);
}
std::pair<int64_t, int64_t> rows_inside(const Geometry& g, int64_t offset_h) {
  return inside(g.out_h, g.stride_h, offset_h, g.height);
}

// A stride-1 convolution whose output rows are as wide as its input ("same" padding in
// width): the pixel (i, j) of tap (p, q) reads the input's flat index i W + j + shift with
// shift = offset_h W + offset_w, so one tap's col row is the image plane shifted by a
// constant, except where j + offset_w leaves [0, W) (the columns that wrap to the next row
// and must read the zero padding instead). im2col then copies the inside rows as one block
// and zeroes those columns: a few large copies per tap instead of one short one per row.
bool flat_shift(const Geometry& g) { return g.stride_h == 1 && g.stride_w == 1 && g.out_w == g.width; }

// col [K, P] of one image-group `x` [c, height, width] (K = c kh kw).
template <typename T>
void im2col(const Geometry& g, const T* x, int64_t channels, T* col) {
  const int64_t out_w = g.out_w, P = g.out_pixels();
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = x + c * g.in_pixels();
    for (int64_t p = 0; p < g.kernel_h; ++p) {
      const int64_t offset_h = p * g.dilation_h - g.pad_h;
      const auto [i_begin, i_end] = rows_inside(g, offset_h);
      for (int64_t q = 0; q < g.kernel_w; ++q) {
        T* row = col + ((c * g.kernel_h + p) * g.kernel_w + q) * P;
        const int64_t offset_w = q * g.dilation_w - g.pad_w;
        const auto [j_begin, j_end] = columns_inside(g, offset_w);
        std::fill(row, row + i_begin * out_w, T(0));
        std::fill(row + i_end * out_w, row + P, T(0));
        if (j_begin >= j_end) {  // every column of the tap reads padding
          std::fill(row + i_begin * out_w, row + i_end * out_w, T(0));
          continue;
        }
        if (flat_shift(g)) {
          // The block's first and last |offset_w| entries are wrapping columns (zeroed
          // below), so the copy leaves them out and never reads outside the plane.
          const int64_t first = i_begin * out_w + std::max<int64_t>(0, -offset_w);
          const int64_t last = i_end * out_w - std::max<int64_t>(0, offset_w);
          const int64_t shift = offset_h * g.width + offset_w;
          if (last > first)
            std::memcpy(row + first, plane + first + shift, static_cast<size_t>(last - first) * sizeof(T));
          for (int64_t i = i_begin; i < i_end; ++i) {
            T* dst = row + i * out_w;
            std::fill(dst, dst + j_begin, T(0));
            std::fill(dst + j_end, dst + out_w, T(0));
          }
          continue;
        }
        for (int64_t i = i_begin; i < i_end; ++i) {
          T* dst = row + i * out_w;
          const T* src = plane + (i * g.stride_h + offset_h) * g.width + offset_w;
          std::fill_n(dst, j_begin, T(0));
          if (g.stride_w == 1) {
            std::memcpy(dst + j_begin, src + j_begin, static_cast<size_t>(j_end - j_begin) * sizeof(T));
          } else {
            for (int64_t j = j_begin; j < j_end; ++j) dst[j] = src[j * g.stride_w];
          }
          std::fill(dst + j_end, dst + out_w, T(0));
        }
      }
    }
  }
}

// dst[j] += src[j] for j in [begin, end): the stride-1 inner loop of col2im, apart so the
// compiler vectorises it (the general loop's run-time stride keeps it scalar).
template <typename T>
void add_row(const T* __restrict src, T* __restrict dst, int64_t begin, int64_t end) {
  for (int64_t j = begin; j < end; ++j) dst[j] += src[j];
}

// The adjoint of im2col: x [c, height, width] += col scattered back (x zeroed by the caller).
template <typename T>
void col2im(const Geometry& g, const T* col, int64_t channels, T* x) {
  const int64_t out_w = g.out_w;
  for (int64_t c = 0; c < channels; ++c) {
    T* plane = x + c * g.in_pixels();
    for (int64_t p = 0; p < g.kernel_h; ++p) {
      const int64_t offset_h = p * g.dilation_h - g.pad_h;
      const auto [i_begin, i_end] = rows_inside(g, offset_h);
      for (int64_t q = 0; q < g.kernel_w; ++q) {
        const T* row = col + ((c * g.kernel_h + p) * g.kernel_w + q) * g.out_pixels();
        const int64_t offset_w = q * g.dilation_w - g.pad_w;
        const auto [j_begin, j_end] = columns_inside(g, offset_w);
        for (int64_t i = i_begin; i < i_end; ++i) {
          const T* src = row + i * out_w;
          T* dst = plane + (i * g.stride_h + offset_h) * g.width + offset_w;
          if (g.stride_w == 1) {
            add_row(src, dst, j_begin, j_end);
          } else {
            for (int64_t j = j_begin; j < j_end; ++j) dst[j * g.stride_w] += src[j];
          }
        }
      }
    }
  }
}

// Images go to threads when there are at least two; otherwise GEMMs thread themselves.
bool split_images(const Geometry& g) { return g.batch >= 2 && omp_get_max_threads() > 1; }

template <typename T>
void forward_typed(const Geometry& g, const T* x, const T* weight, const T* bias, T* out) {
  const int64_t in_g = g.in_per_group(), out_g = g.out_per_group(), K = in_g * g.taps(), P = g.out_pixels();
  const bool pointwise = g.is_pointwise();
#pragma omp parallel for if (split_images(g)) schedule(static)
  for (int64_t n = 0; n < g.batch; ++n) {
    T* col = pointwise ? nullptr : static_cast<T*>(thread_scratch(static_cast<size_t>(K * P) * sizeof(T), 0));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* x_g = x + (n * g.c_in + grp * in_g) * g.in_pixels();
      T* out_n = out + (n * g.c_out + grp * out_g) * P;
      const T* b = x_g;
      if (!pointwise) {
        im2col(g, x_g, in_g, col);
        b = col;
      }
      gemm(dtype_of<T>(), false, false, out_g, P, K, 1.0, weight + grp * out_g * K, K, 0, b, P, 0, 0.0, out_n, P, 0,
           1);
      if (bias != nullptr)
        for (int64_t o = 0; o < out_g; ++o) {
          const T value = bias[grp * out_g + o];
          T* row = out_n + o * P;
          for (int64_t p = 0; p < P; ++p) row[p] += value;
        }
    }
  }
}

template <typename T>
void backward_input_typed(const Geometry& g, const T* grad_out, const T* weight, T* grad_x) {
  const int64_t in_g = g.in_per_group(), out_g = g.out_per_group(), K = in_g * g.taps(), P = g.out_pixels();
  const bool pointwise = g.is_pointwise();
#pragma omp parallel for if (split_images(g)) schedule(static)
  for (int64_t n = 0; n < g.batch; ++n) {
    T* col = pointwise ? nullptr : static_cast<T*>(thread_scratch(static_cast<size_t>(K * P) * sizeof(T), 0));
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      T* dx_g = grad_x + (n * g.c_in + grp * in_g) * g.in_pixels();
      const T* dy = grad_out + (n * g.c_out + grp * out_g) * P;
      const T* w = weight + grp * out_g * K;
      if (pointwise) {  // dx [c_in/groups, P] = W^T dy
        gemm(dtype_of<T>(), true, false, K, P, out_g, 1.0, w, K, 0, dy, P, 0, 0.0, dx_g, P, 0, 1);
        continue;
      }
      gemm(dtype_of<T>(), true, false, K, P, out_g, 1.0, w, K, 0, dy, P, 0, 0.0, col, P, 0, 1);
      std::fill_n(dx_g, in_g * g.in_pixels(), T(0));
      col2im(g, col, in_g, dx_g);
    }
  }
}

template <typename T>
void backward_weight_typed(const Geometry& g, const T* grad_out, const T* x, T* grad_weight, T* partials,
                           int threads) {
  const int64_t in_g = g.in_per_group(), out_g = g.out_per_group(), K = in_g * g.taps(), P = g.out_pixels();
  const int64_t weight_size = g.c_out * K;
  const bool pointwise = g.is_pointwise();
  int team = 1;  // the threads that really ran (a runtime may grant fewer than asked)
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int thread = omp_get_thread_num();
#pragma omp single
    team = omp_get_num_threads();
    T* dw = threads > 1 ? partials + thread * weight_size : grad_weight;
    std::fill_n(dw, weight_size, T(0));
    T* col = pointwise ? nullptr : static_cast<T*>(thread_scratch(static_cast<size_t>(K * P) * sizeof(T), 0));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.batch; ++n) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* x_g = x + (n * g.c_in + grp * in_g) * g.in_pixels();
        const T* dy = grad_out + (n * g.c_out + grp * out_g) * P;
        const T* b = x_g;
        if (!pointwise) {
          im2col(g, x_g, in_g, col);
          b = col;
        }
        // dW_g [c_out/groups, K] += dy [c_out/groups, P] col^T
        gemm(dtype_of<T>(), false, true, out_g, K, P, 1.0, dy, P, 0, b, P, 0, 1.0, dw + grp * out_g * K, K, 0, 1);
      }
    }
  }
  if (threads > 1) {
#pragma omp parallel for schedule(static) if (weight_size > 4096)
    for (int64_t i = 0; i < weight_size; ++i) {
      T total = partials[i];
      for (int t = 1; t < team; ++t) total += partials[t * weight_size + i];
      grad_weight[i] = total;
    }
  }
}

}  // namespace

void im2col_forward(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out) {
  dispatch_float(x.dtype(), "conv2d", [&](auto zero) {
    using T = decltype(zero);
    forward_typed<T>(g, x.data<T>(), weight.data<T>(), bias.defined() ? bias.data<T>() : nullptr, out.data<T>());
  });
}

void im2col_backward_input(const Geometry& g, const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x) {
  dispatch_float(grad_out.dtype(), "conv2d input backward", [&](auto zero) {
    using T = decltype(zero);
    backward_input_typed<T>(g, grad_out.data<T>(), weight.data<T>(), grad_x.data<T>());
  });
}

void im2col_backward_weight(const Geometry& g, const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight) {
  const int threads = split_images(g) ? static_cast<int>(std::min<int64_t>(omp_get_max_threads(), g.batch)) : 1;
  Tensor partials;
  if (threads > 1) partials = Tensor::empty({threads, grad_weight.numel()}, grad_weight.dtype());
  dispatch_float(grad_out.dtype(), "conv2d weight backward", [&](auto zero) {
    using T = decltype(zero);
    backward_weight_typed<T>(g, grad_out.data<T>(), x.data<T>(), grad_weight.data<T>(),
                             threads > 1 ? partials.data<T>() : nullptr, threads);
  });
}

}  // namespace slab::cpu::conv
