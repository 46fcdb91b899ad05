// Elementwise kernels on the GPU: unary maps, broadcasting binary maps, axpy and expand,
// with the formulas the CPU kernels use (core/elementwise_math.h). One kernel per dtype
// with the op chosen by a switch: the switch is uniform across a launch, so it costs a
// branch, not divergence, and it keeps the number of compiled kernels small.
#include "core/broadcast_plan.h"
#include "core/cuda/device_math.cuh"
#include "core/cuda/runtime.h"

namespace slab::cuda {

namespace detail {

BroadcastIndex plan_broadcast(const Shape& out_shape, const Shape* first, const Shape* second) {
  const BroadcastPlan merged =
      second == nullptr ? slab::plan_broadcast(out_shape, {first}) : slab::plan_broadcast(out_shape, {first, second});
  SLAB_CHECK(merged.extents.size() <= static_cast<size_t>(kMaxDims), "broadcast to shape ", out_shape,
             ": the CUDA kernels handle at most ", kMaxDims, " non-mergeable dimensions");
  BroadcastIndex plan;
  plan.rank = static_cast<int>(merged.extents.size());
  for (int d = 0; d < plan.rank; ++d) {
    plan.extents[d] = merged.extents[d];
    for (size_t k = 0; k < merged.strides.size(); ++k) plan.strides[k][d] = merged.strides[k][d];
  }
  return plan;
}

}  // namespace detail

namespace {

using detail::BroadcastIndex;

template <typename T>
__global__ void unary_kernel(UnaryOp op, const T* x, T* out, int64_t n, T alpha, T beta) {
  SLAB_GRID_STRIDE_LOOP(i, n) out[i] = unary_value(op, x[i], alpha, beta);
}

template <typename T>
__global__ void binary_same_shape_kernel(BinaryOp op, const T* a, const T* b, T* out, int64_t n, T alpha, T beta) {
  SLAB_GRID_STRIDE_LOOP(i, n) out[i] = binary_value(op, a[i], b[i], alpha, beta);
}

template <typename T>
__global__ void binary_broadcast_kernel(BinaryOp op, const T* a, const T* b, T* out, int64_t n, BroadcastIndex plan,
                                        T alpha, T beta) {
  SLAB_GRID_STRIDE_LOOP(i, n) out[i] = binary_value(op, a[plan.offset(0, i)], b[plan.offset(1, i)], alpha, beta);
}

template <typename T>
__global__ void axpy_kernel(T* dst, const T* src, int64_t n, T alpha) {
  SLAB_GRID_STRIDE_LOOP(i, n) dst[i] += alpha * src[i];
}

template <typename T>
__global__ void fill_kernel(T* out, int64_t n, T value) {
  SLAB_GRID_STRIDE_LOOP(i, n) out[i] = value;
}

__global__ void add_to_int64_kernel(int64_t* counter, int64_t amount) { *counter += amount; }

template <typename T>
__global__ void expand_kernel(const T* x, T* out, int64_t n, BroadcastIndex plan) {
  SLAB_GRID_STRIDE_LOOP(i, n) out[i] = x[plan.offset(0, i)];
}

}  // namespace

void unary(UnaryOp op, const Tensor& x, const Tensor& out, double alpha, double beta) {
  const int64_t n = x.numel();
  if (n == 0) return;
  const int device = x.device().index;
  dispatch_float(x.dtype(), "unary", [&](auto zero) {
    using scalar_t = decltype(zero);
    unary_kernel<scalar_t><<<detail::grid_for(n, device), detail::kThreads, 0, detail::stream(device)>>>(
        op, x.data<scalar_t>(), out.data<scalar_t>(), n, static_cast<scalar_t>(alpha), static_cast<scalar_t>(beta));
    SLAB_CUDA_CHECK_LAUNCH("unary_kernel");
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  dispatch_float(out.dtype(), "binary", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    const auto s_alpha = static_cast<scalar_t>(alpha), s_beta = static_cast<scalar_t>(beta);
    const unsigned grid = detail::grid_for(n, device);
    cudaStream_t s = detail::stream(device);
    if (a.shape() == b.shape()) {
      binary_same_shape_kernel<scalar_t><<<grid, detail::kThreads, 0, s>>>(op, pa, pb, po, n, s_alpha, s_beta);
      SLAB_CUDA_CHECK_LAUNCH("binary_same_shape_kernel");
    } else {
      const BroadcastIndex plan = detail::plan_broadcast(out.shape(), &a.shape(), &b.shape());
      binary_broadcast_kernel<scalar_t><<<grid, detail::kThreads, 0, s>>>(op, pa, pb, po, n, plan, s_alpha, s_beta);
      SLAB_CUDA_CHECK_LAUNCH("binary_broadcast_kernel");
    }
  });
}

void axpy(const Tensor& dst, const Tensor& src, double alpha) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  const int device = dst.device().index;
  dispatch_float(dst.dtype(), "axpy", [&](auto zero) {
    using scalar_t = decltype(zero);
    axpy_kernel<scalar_t><<<detail::grid_for(n, device), detail::kThreads, 0, detail::stream(device)>>>(
        dst.data<scalar_t>(), src.data<scalar_t>(), n, static_cast<scalar_t>(alpha));
    SLAB_CUDA_CHECK_LAUNCH("axpy_kernel");
  });
}

void expand(const Tensor& x, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = out.device().index;
  dispatch_float(out.dtype(), "expand", [&](auto zero) {
    using scalar_t = decltype(zero);
    const BroadcastIndex plan = detail::plan_broadcast(out.shape(), &x.shape(), nullptr);
    expand_kernel<scalar_t><<<detail::grid_for(n, device), detail::kThreads, 0, detail::stream(device)>>>(
        x.data<scalar_t>(), out.data<scalar_t>(), n, plan);
    SLAB_CUDA_CHECK_LAUNCH("expand_kernel");
  });
}

void fill(void* data, DType dtype, int64_t count, double value, int device) {
  if (count == 0) return;
  const unsigned grid = detail::grid_for(count, device);
  cudaStream_t s = detail::stream(device);
  switch (dtype) {
    case DType::f32:
      fill_kernel<float><<<grid, detail::kThreads, 0, s>>>(static_cast<float*>(data), count, static_cast<float>(value));
      break;
    case DType::f64:
      fill_kernel<double><<<grid, detail::kThreads, 0, s>>>(static_cast<double*>(data), count, value);
      break;
    case DType::i64:
      fill_kernel<int64_t><<<grid, detail::kThreads, 0, s>>>(static_cast<int64_t*>(data), count,
                                                            static_cast<int64_t>(value));
      break;
  }
  SLAB_CUDA_CHECK_LAUNCH("fill_kernel");
}

void add_to_int64(int64_t* counter, int64_t amount, int device) {
  add_to_int64_kernel<<<1, 1, 0, detail::stream(device)>>>(counter, amount);
  SLAB_CUDA_CHECK_LAUNCH("add_to_int64_kernel");
}

}  // namespace slab::cuda
