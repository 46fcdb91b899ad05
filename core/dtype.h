// Element types. float32 is the working type; float64 exists on the CPU for gradient checks;
// int64 holds class labels and argmax indices (no arithmetic ops are defined on it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <ostream>

#include "core/error.h"

namespace slab {

enum class DType : uint8_t { f32, f64, i64 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i64: return "int64";
  }
  return "?";
}

inline std::ostream& operator<<(std::ostream& out, DType t) { return out << dtype_name(t); }

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }

}  // namespace slab

namespace slab {

// Calls f(scalar_t{}) with scalar_t the C++ type of a floating dtype; kernels write
//   dispatch_float(x.dtype(), "op", [&](auto zero) { using scalar_t = decltype(zero); ... });
// A function, not a macro, so OpenMP pragmas may appear in the body.
template <typename F>
decltype(auto) dispatch_float(DType dtype, const char* op_name, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: break;
  }
  SLAB_FAIL(op_name, ": expected a float32 or float64 tensor, got ", dtype);
}

}  // namespace slab
