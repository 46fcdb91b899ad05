// Reductions along one dimension, viewed as [outer, extent, inner], without atomics: each
// output is summed by a fixed set of threads in a fixed order, so a sum is the same bits on
// every run. Sums accumulate in double whatever the dtype, as on the CPU; the CPU adds in
// index order and the GPU in a tree, so the two agree to rounding, not bit for bit.
#include "core/cuda/device_math.cuh"
#include "core/max_rule.h"

namespace slab::cuda {

namespace {

using detail::kFullMask;
using detail::kWarp;
using detail::warp_sum;

// inner == 1, short rows: one warp per row; lane j adds elements j, j + 32, ... in order.
template <typename T>
__global__ void sum_rows_warp_kernel(const T* x, T* out, int64_t rows, int64_t extent) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps_per_grid = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp; row < rows;
       row += warps_per_grid) {
    const T* p = x + row * extent;
    double total = 0;
    for (int64_t e = lane; e < extent; e += kWarp) total += static_cast<double>(p[e]);
    total = warp_sum(total);
    if (lane == 0) out[row] = static_cast<T>(total);
  }
}

// inner == 1, few long rows: one block of kThreads per row, then a fixed tree.
template <typename T>
__global__ void sum_rows_block_kernel(const T* x, T* out, int64_t rows, int64_t extent) {
  __shared__ double scratch[detail::kThreads / kWarp];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* p = x + row * extent;
    double total = 0;
    for (int64_t e = threadIdx.x; e < extent; e += blockDim.x) total += static_cast<double>(p[e]);
    total = detail::block_sum(total, scratch);
    if (threadIdx.x == 0) out[row] = static_cast<T>(total);
  }
}

// inner > 1: a block of 32 x 8 threads owns 32 neighbouring columns of one outer index
// (coalesced reads along inner); its 8 rows of threads split the extent, then thread row 0
// adds the 8 partial sums in order.
// Each thread counts its grid-stride share, each warp adds its lanes' counts, and lane 0
// adds the warp's total to the one counter: integer atomics, so the count is the same
// whatever order they land in.
template <typename T>
__global__ void count_non_finite_kernel(const T* x, int64_t n, unsigned long long* count) {
  unsigned long long mine = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    mine += isfinite(x[i]) ? 0 : 1;
  for (int offset = kWarp / 2; offset > 0; offset /= 2) mine += __shfl_down_sync(kFullMask, mine, offset);
  if (threadIdx.x % kWarp == 0 && mine != 0) atomicAdd(count, mine);
}

constexpr int kColumnsPerBlock = 32, kRowsPerBlock = 8;

template <typename T>
__global__ void sum_columns_kernel(const T* x, T* out, int64_t outer, int64_t extent, int64_t inner) {
  __shared__ double partial[kRowsPerBlock][kColumnsPerBlock];
  const int64_t column = static_cast<int64_t>(blockIdx.x) * kColumnsPerBlock + threadIdx.x;
  for (int64_t o = blockIdx.y; o < outer; o += gridDim.y) {
    double total = 0;
    if (column < inner) {
      const T* p = x + o * extent * inner + column;
      for (int64_t e = threadIdx.y; e < extent; e += kRowsPerBlock) total += static_cast<double>(p[e * inner]);
    }
    partial[threadIdx.y][threadIdx.x] = total;
    __syncthreads();
    if (threadIdx.y == 0 && column < inner) {
      double sum = 0;
      for (int r = 0; r < kRowsPerBlock; ++r) sum += partial[r][threadIdx.x];
      out[o * inner + column] = static_cast<T>(sum);
    }
    __syncthreads();
  }
}

// replaces_max (core/max_rule.h) between two lanes' candidates, which are not in index
// order: the lower index wins a tie, and of two NaNs the lower index.
template <typename T>
__device__ __forceinline__ bool better(T value, int64_t index, T best_value, int64_t best_index) {
  const bool value_nan = value != value, best_nan = best_value != best_value;
  if (value_nan || best_nan) return value_nan && (!best_nan || index < best_index);
  return value > best_value || (value == best_value && index < best_index);
}

// inner == 1: one warp per row, each lane scanning its strided share, then a shuffle tree
// that keeps the better (value, index) pair.
template <typename T>
__global__ void max_rows_kernel(const T* x, T* values, int64_t* indices, int64_t rows, int64_t extent) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps_per_grid = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp; row < rows;
       row += warps_per_grid) {
    const T* p = x + row * extent;
    T best = p[0];
    int64_t best_index = 0;
    for (int64_t e = lane; e < extent; e += kWarp)
      if (better(p[e], e, best, best_index)) {
        best = p[e];
        best_index = e;
      }
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      const T other = __shfl_down_sync(kFullMask, best, offset);
      const int64_t other_index = __shfl_down_sync(kFullMask, best_index, offset);
      if (better(other, other_index, best, best_index)) {
        best = other;
        best_index = other_index;
      }
    }
    if (lane == 0) {
      values[row] = best;
      indices[row] = best_index;
    }
  }
}

// inner > 1: one thread per (outer, inner) column, scanning the extent in order as the CPU.
template <typename T>
__global__ void max_columns_kernel(const T* x, T* values, int64_t* indices, int64_t outer, int64_t extent,
                                   int64_t inner) {
  SLAB_GRID_STRIDE_LOOP(column, outer * inner) {
    const int64_t o = column / inner, i = column - o * inner;
    const MaxAt<T> best = max_of_line(x + o * extent * inner + i, extent, inner);
    values[column] = best.value;
    indices[column] = best.index;
  }
}

template <typename T>
__global__ void scatter_kernel(const T* grad, const int64_t* indices, T* out, int64_t outer, int64_t extent,
                               int64_t inner) {
  SLAB_GRID_STRIDE_LOOP(at, outer * extent * inner) {
    const int64_t i = at % inner, oe = at / inner;
    const int64_t e = oe % extent, o = oe / extent;
    const int64_t source = o * inner + i;
    out[at] = indices[source] == e ? grad[source] : T(0);
  }
}

}  // namespace

void sum_dim(const Tensor& x, int64_t outer, int64_t extent, int64_t inner, const Tensor& out) {
  const int device = x.device().index;
  if (outer * inner == 0) return;
  dispatch_float(x.dtype(), "sum", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    cudaStream_t s = detail::stream(device);
    if (inner == 1) {
      const int64_t rows = outer;
      const int sms = detail::multiprocessor_count(device);
      if (extent >= 4096 && rows < 4 * sms) {
        sum_rows_block_kernel<scalar_t><<<static_cast<unsigned>(rows), detail::kThreads, 0, s>>>(px, po, rows, extent);
        SLAB_CUDA_CHECK_LAUNCH("sum_rows_block_kernel");
      } else {
        sum_rows_warp_kernel<scalar_t>
            <<<detail::grid_for(rows * kWarp, device), detail::kThreads, 0, s>>>(px, po, rows, extent);
        SLAB_CUDA_CHECK_LAUNCH("sum_rows_warp_kernel");
      }
      return;
    }
    const dim3 block(kColumnsPerBlock, kRowsPerBlock);
    const dim3 grid(static_cast<unsigned>((inner + kColumnsPerBlock - 1) / kColumnsPerBlock),
                    static_cast<unsigned>(std::min<int64_t>(outer, 65535)));
    sum_columns_kernel<scalar_t><<<grid, block, 0, s>>>(px, po, outer, extent, inner);
    SLAB_CUDA_CHECK_LAUNCH("sum_columns_kernel");
  });
}

void count_non_finite(const Tensor& x, const Tensor& count) {
  const int device = x.device().index;
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "count_non_finite", [&](auto zero) {
    using scalar_t = decltype(zero);
    count_non_finite_kernel<scalar_t><<<detail::grid_for(n, device), detail::kThreads, 0, detail::stream(device)>>>(
        x.data<scalar_t>(), n, reinterpret_cast<unsigned long long*>(count.data<int64_t>()));
    SLAB_CUDA_CHECK_LAUNCH("count_non_finite_kernel");
  });
}

void max_dim(const Tensor& x, int64_t outer, int64_t extent, int64_t inner, const Tensor& values,
             const Tensor& indices) {
  const int device = x.device().index;
  if (outer * inner == 0) return;
  dispatch_float(x.dtype(), "max", [&](auto zero) {
    using scalar_t = decltype(zero);
    cudaStream_t s = detail::stream(device);
    if (inner == 1) {
      max_rows_kernel<scalar_t><<<detail::grid_for(outer * kWarp, device), detail::kThreads, 0, s>>>(
          x.data<scalar_t>(), values.data<scalar_t>(), indices.data<int64_t>(), outer, extent);
      SLAB_CUDA_CHECK_LAUNCH("max_rows_kernel");
    } else {
      max_columns_kernel<scalar_t><<<detail::grid_for(outer * inner, device), detail::kThreads, 0, s>>>(
          x.data<scalar_t>(), values.data<scalar_t>(), indices.data<int64_t>(), outer, extent, inner);
      SLAB_CUDA_CHECK_LAUNCH("max_columns_kernel");
    }
  });
}

void scatter_dim(const Tensor& grad, const Tensor& indices, int64_t outer, int64_t extent, int64_t inner,
                 const Tensor& out) {
  const int device = grad.device().index;
  const int64_t n = outer * extent * inner;
  if (n == 0) return;
  dispatch_float(grad.dtype(), "max backward", [&](auto zero) {
    using scalar_t = decltype(zero);
    scatter_kernel<scalar_t><<<detail::grid_for(n, device), detail::kThreads, 0, detail::stream(device)>>>(
        grad.data<scalar_t>(), indices.data<int64_t>(), out.data<scalar_t>(), outer, extent, inner);
    SLAB_CUDA_CHECK_LAUNCH("scatter_kernel");
  });
}

}  // namespace slab::cuda
