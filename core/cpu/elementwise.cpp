// Elementwise kernels: unary maps, broadcasting binary maps, axpy and expand. The formula
// of each op is core/elementwise_math.h's, shared with the CUDA kernels.
#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/broadcast_plan.h"
#include "core/cpu/parallel.h"
#include "core/kernels.h"

namespace slab::cpu {

namespace {

// Calls f(std::integral_constant<Op, op>{}) for the runtime `op` (one of the first kCount
// enumerators): a kernel loop written once is compiled per op, with the op a constant in
// it, so unary_value / binary_value (core/elementwise_math.h) fold to that op's formula.
template <typename Op, int kCount, int k = 0, typename F>
void with_constant_op(Op op, F&& f) {
  if constexpr (k < kCount) {
    if (op == static_cast<Op>(k)) return f(std::integral_constant<Op, static_cast<Op>(k)>{});
    return with_constant_op<Op, kCount, k + 1>(op, std::forward<F>(f));
  }
}

template <typename T, typename F>
void map_unary(const T* x, T* out, int64_t n, F f) {
#pragma omp parallel for if (n > kParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

template <typename T>
void unary_typed(UnaryOp op, const T* x, T* out, int64_t n, T alpha, T beta) {
  with_constant_op<UnaryOp, kUnaryOpCount>(op, [&](auto constant) {
    map_unary(x, out, n, [alpha, beta](T v) { return unary_value(decltype(constant)::value, v, alpha, beta); });
  });
}

// Offsets of operand k for the row `row` (all dimensions but the last).
inline int64_t row_offset(const BroadcastPlan& plan, size_t k, int64_t row) {
  int64_t offset = 0;
  for (int64_t d = static_cast<int64_t>(plan.extents.size()) - 2; d >= 0; --d) {
    const int64_t extent = plan.extents[d];
    offset += (row % extent) * plan.strides[k][d];
    row /= extent;
  }
  return offset;
}

template <typename T, typename F>
void map_binary(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  const int64_t n = out.numel();
  if (a.shape() == b.shape()) {
#pragma omp parallel for if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return;
  }
  const BroadcastPlan plan = plan_broadcast(out.shape(), {&a.shape(), &b.shape()});
  const int64_t inner = plan.extents.back();
  const int64_t rows = n / std::max<int64_t>(inner, 1);
  const int64_t sa = plan.strides[0].back(), sb = plan.strides[1].back();
#pragma omp parallel for if (n > kParallelGrain) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    const T* ra = pa + row_offset(plan, 0, row);
    const T* rb = pb + row_offset(plan, 1, row);
    T* ro = po + row * inner;
    for (int64_t i = 0; i < inner; ++i) ro[i] = f(ra[i * sa], rb[i * sb]);
  }
}

template <typename T>
void binary_typed(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, T alpha, T beta) {
  with_constant_op<BinaryOp, kBinaryOpCount>(op, [&](auto constant) {
    map_binary<T>(a, b, out,
                  [alpha, beta](T x, T y) { return binary_value(decltype(constant)::value, x, y, alpha, beta); });
  });
}

}  // namespace

void unary(UnaryOp op, const Tensor& x, const Tensor& out, double alpha, double beta) {
  dispatch_float(x.dtype(), "unary", [&](auto zero) {
    using scalar_t = decltype(zero);
    unary_typed<scalar_t>(op, x.data<scalar_t>(), out.data<scalar_t>(), x.numel(), static_cast<scalar_t>(alpha),
                          static_cast<scalar_t>(beta));
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  dispatch_float(out.dtype(), "binary", [&](auto zero) {
    using scalar_t = decltype(zero);
    binary_typed<scalar_t>(op, a, b, out, static_cast<scalar_t>(alpha), static_cast<scalar_t>(beta));
  });
}

void axpy(const Tensor& dst, const Tensor& src, double alpha) {
  dispatch_float(dst.dtype(), "axpy", [&](auto zero) {
    using scalar_t = decltype(zero);
    scalar_t* d = dst.data<scalar_t>();
    const scalar_t* s = src.data<scalar_t>();
    const scalar_t a = static_cast<scalar_t>(alpha);
    const int64_t n = dst.numel();
#pragma omp parallel for if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) d[i] += a * s[i];
  });
}

void expand(const Tensor& x, const Tensor& out) {
  dispatch_float(out.dtype(), "expand", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    const BroadcastPlan plan = plan_broadcast(out.shape(), {&x.shape()});
    const int64_t inner = plan.extents.back();
    const int64_t rows = out.numel() / std::max<int64_t>(inner, 1);
    const int64_t sx = plan.strides[0].back();
#pragma omp parallel for if (out.numel() > kParallelGrain) schedule(static)
    for (int64_t row = 0; row < rows; ++row) {
      const scalar_t* rx = px + row_offset(plan, 0, row);
      scalar_t* ro = po + row * inner;
      for (int64_t i = 0; i < inner; ++i) ro[i] = rx[i * sx];
    }
  });
}

}  // namespace slab::cpu
