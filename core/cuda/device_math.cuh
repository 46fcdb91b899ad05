// Device-side helpers shared by the .cu files: the grid-stride loop, the broadcast plan the
// elementwise kernels index with, and the warp and block sums. The libm overloads for float
// and double (math::exp(v) for either) are core/scalar_math.h's, shared with the CPU.
// Internal to the CUDA backend.
#pragma once
#include <cstdint>

#include "core/cuda/context.h"
#include "core/kernels.h"
#include "core/scalar_math.h"

// for (int64_t i = ...; i < n; i += all threads): each thread takes every (grid size)-th item.
#define SLAB_GRID_STRIDE_LOOP(i, n)                                                         \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

namespace slab::cuda::detail {

// Up to this many dimensions after merging (the CPU plan merges [n,c,h,w] + [1,c,1,1]
// into three).
constexpr int kMaxDims = 8;

// A broadcast iteration space for up to two operands: extents of the (merged) output
// dimensions and, per operand, its strides there (0 where it broadcasts).
struct BroadcastIndex {
  int rank = 1;
  int64_t extents[kMaxDims] = {1};
  int64_t strides[2][kMaxDims] = {{0}, {0}};

  // Offset of operand k for output element i (row-major, last dimension fastest).
  __device__ __forceinline__ int64_t offset(int k, int64_t i) const {
    int64_t result = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t extent = extents[d];
      const int64_t q = i / extent;
      result += (i - q * extent) * strides[k][d];
      i = q;
    }
    return result;
  }
};

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// Sum over a warp by a fixed shuffle tree (the same order every run); complete in lane 0.
__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_down_sync(kFullMask, v, offset);
  return v;
}

// Sum over a block of kThreads threads (all of them must call it): warp sums, then warp 0
// adds them in order; the result is returned to every thread. `scratch` holds kThreads/32.
__device__ __forceinline__ double block_sum(double v, double* scratch) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  v = warp_sum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double w = lane < static_cast<int>(blockDim.x / kWarp) ? scratch[lane] : 0.0;
    w = warp_sum(w);
    if (lane == 0) scratch[0] = w;
  }
  __syncthreads();
  const double total = scratch[0];
  __syncthreads();  // scratch may be reused by the caller's next round
  return total;
}

// The host's plan (core/broadcast_plan.h) of one or two operands (second may be null) in a
// fixed-size index the kernels take by value. Throws when more than kMaxDims remain.
BroadcastIndex plan_broadcast(const Shape& out_shape, const Shape* first, const Shape* second);

}  // namespace slab::cuda::detail
