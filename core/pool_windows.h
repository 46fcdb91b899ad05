// The windows of 2-D pooling and the per-window formulas, written once for the CPU kernels
// (core/cpu/pool.cpp) and the CUDA kernels (core/cuda/pool.cu). A window rule says where
// output cell i's window lies along one axis and how many positions its average divides
// by; a cell's window is the product of its row and column windows.
#pragma once
#include <cstdint>

#include "core/max_rule.h"
#include "core/scalar_math.h"

namespace slab::pool {

// Input positions [begin, end) under one output cell along one axis, and the count an
// average divides by.
struct Window {
  int64_t begin, end, count;
};

// kernel/stride/padding windows, clipped to the input; padding counts in the divisor
// (count_include_pad = true, as PyTorch's default).
struct StridedWindows {
  int64_t kernel, stride, pad, extent;
  SLAB_HOST_DEVICE Window operator()(int64_t i) const {
    const int64_t start = i * stride - pad;
    return {math::max<int64_t>(start, 0), math::min<int64_t>(start + kernel, extent), kernel};
  }
};

// Adaptive cell i of `out` cells over `in` inputs: floor(i in / out) to ceil((i + 1) in / out),
// averaged over exactly those positions.
struct AdaptiveWindows {
  int64_t in, out;
  SLAB_HOST_DEVICE Window operator()(int64_t i) const {
    const int64_t begin = (i * in) / out, end = ((i + 1) * in + out - 1) / out;
    return {begin, end, end - begin};
  }
};

// The maximum over the window of a plane `width` wide and its offset in the plane (the
// window's first position when it holds only -infinity), by replaces_max in row-major order.
template <typename T>
SLAB_HOST_DEVICE MaxAt<T> max_of_window(const T* plane, int64_t width, const Window& rows, const Window& cols) {
  MaxAt<T> best{math::negative_infinity<T>(), rows.begin * width + cols.begin};
  for (int64_t h = rows.begin; h < rows.end; ++h)
    for (int64_t w = cols.begin; w < cols.end; ++w) {
      const T v = plane[h * width + w];
      if (replaces_max(v, best.value)) best = {v, h * width + w};
    }
  return best;
}

template <typename T>
SLAB_HOST_DEVICE T sum_of_window(const T* plane, int64_t width, const Window& rows, const Window& cols) {
  T total = 0;
  for (int64_t h = rows.begin; h < rows.end; ++h)
    for (int64_t w = cols.begin; w < cols.end; ++w) total += plane[h * width + w];
  return total;
}

// 1 / (the positions an average of this window divides by).
template <typename T>
SLAB_HOST_DEVICE T reciprocal_count(const Window& rows, const Window& cols) {
  return T(1) / static_cast<T>(rows.count * cols.count);
}

}  // namespace slab::pool
