// Helpers shared by the op implementations (core/ops_*.cpp); not part of the public API.
#pragma once
#include "core/kernels.h"
#include "core/ops.h"

namespace slab::detail {

// Inputs of one op must agree in dtype and device; the message names both.
inline void check_compatible(const Tensor& a, const Tensor& b, const char* op_name) {
  SLAB_CHECK(a.dtype() == b.dtype(), op_name, ": dtype mismatch, ", a.dtype(), " ", a.shape(), " vs ", b.dtype(),
             " ", b.shape());
  SLAB_CHECK(a.device() == b.device(), op_name, ": device mismatch, ", a.device(), " vs ", b.device());
}

inline void check_float(const Tensor& x, const char* op_name) {
  SLAB_CHECK(x.defined(), op_name, ": undefined input tensor");
  SLAB_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op_name,
             ": expected a float32 or float64 tensor, got ", x.dtype(), " of shape ", x.shape());
}

// Views a contiguous tensor as [outer, extent, inner] around dimension `dim`.
struct DimSplit {
  int64_t outer = 1, extent = 1, inner = 1;
};
inline DimSplit split_at(const Shape& shape, int64_t dim) {
  DimSplit s;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) s.outer *= shape[d];
    else if (d == dim) s.extent = shape[d];
    else s.inner *= shape[d];
  }
  return s;
}

// A no-history copy sharing storage: what a backward closure captures.
inline Tensor saved(const Tensor& t) { return t.defined() ? t.detach() : Tensor(); }

}  // namespace slab::detail
