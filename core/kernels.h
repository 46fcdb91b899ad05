// The seam between ops and devices. Every kernel is declared once, in
// kernel_signatures.inc, and that list is included into namespace cpu (core/cpu/) and,
// when built, namespace cuda (core/cuda/): the two backends cannot drift apart in
// signature. Ops call SLAB_KERNEL(device, name, args...), the one dispatch point.
//
// Kernels receive tensors whose shapes and dtypes the op has already checked, and write
// into preallocated outputs (tensors are handles, so outputs are passed by const&).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace slab {

enum class UnaryOp : uint8_t {
  Neg, Exp, Log, Sqrt, Pow /*alpha = exponent*/, Abs, Clamp /*[alpha, beta]*/, Relu, Sigmoid, Tanh,
  AddScalar /*x + alpha*/, MulScalar /*x * alpha*/, RSubScalar /*alpha - x*/, Square, Sign,
  Reciprocal, Step /*x > 0 ? 1 : 0*/
};

enum class BinaryOp : uint8_t {
  Add, Sub, Mul, Div,
  ReluGrad,            // a = upstream gradient, b = x:       a * (x > 0)
  SigmoidGrad,         // b = y = sigmoid(x):                   a * y (1 - y)
  TanhGrad,            // b = y = tanh(x):                      a * (1 - y^2)
  AbsGrad,             // b = x:                                a * sign(x)
  ClampGrad,           // b = x, alpha/beta the bounds:         a * (alpha < x < beta)
  PowGrad,             // b = x, alpha the exponent:            a * alpha x^(alpha-1)
  BceWithLogits,       // a = logit, b = target: max(a,0) - a b + log(1 + exp(-|a|))
};

namespace cpu {
#include "core/kernel_signatures.inc"
}
#ifdef SLAB_WITH_CUDA
namespace cuda {
#include "core/kernel_signatures.inc"
}
#define SLAB_KERNEL(device, name, ...) \
  ((device).is_cuda() ? ::slab::cuda::name(__VA_ARGS__) : ::slab::cpu::name(__VA_ARGS__))
#else
#define SLAB_KERNEL(device, name, ...) ::slab::cpu::name(__VA_ARGS__)
#endif

}  // namespace slab
