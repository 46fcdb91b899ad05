// The elementwise ops of the kernel seam (core/kernels.h) and the formula of each, written
// once for the CPU kernels (core/cpu/elementwise.cpp) and the CUDA kernels
// (core/cuda/elementwise.cu). A kernel loop calls unary_value / binary_value with the op:
// the CUDA kernel with the op of the launch (a uniform switch), the CPU with the op as a
// compile-time constant, so the switch folds away and each op's loop vectorises as if
// written out.
#pragma once
#include <cstdint>

#include "core/scalar_math.h"

namespace slab {

enum class UnaryOp : uint8_t {
  Neg, Exp, Log, Sqrt, Pow /*alpha = exponent*/, Abs, Clamp /*[alpha, beta]*/, Relu, Sigmoid, Tanh,
  AddScalar /*x + alpha*/, MulScalar /*x * alpha*/, RSubScalar /*alpha - x*/, Square, Sign,
  Reciprocal, Step /*x > 0 ? 1 : 0*/
};
inline constexpr int kUnaryOpCount = static_cast<int>(UnaryOp::Step) + 1;  // Step is the last

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
inline constexpr int kBinaryOpCount = static_cast<int>(BinaryOp::BceWithLogits) + 1;  // the last

template <typename T>
SLAB_HOST_DEVICE T unary_value(UnaryOp op, T v, T alpha, T beta) {
  switch (op) {
    case UnaryOp::Neg: return -v;
    case UnaryOp::Exp: return math::exp(v);
    case UnaryOp::Log: return math::log(v);
    case UnaryOp::Sqrt: return math::sqrt(v);
    case UnaryOp::Pow: return math::pow(v, alpha);
    case UnaryOp::Abs: return math::abs(v);
    case UnaryOp::Clamp: return math::min(math::max(v, alpha), beta);
    case UnaryOp::Relu: return v > T(0) ? v : T(0);
    case UnaryOp::Sigmoid: return T(1) / (T(1) + math::exp(-v));
    case UnaryOp::Tanh: return math::tanh(v);
    case UnaryOp::AddScalar: return v + alpha;
    case UnaryOp::MulScalar: return v * alpha;
    case UnaryOp::RSubScalar: return alpha - v;
    case UnaryOp::Square: return v * v;
    case UnaryOp::Sign: return T((v > T(0)) - (v < T(0)));
    case UnaryOp::Reciprocal: return T(1) / v;
    case UnaryOp::Step: return v > T(0) ? T(1) : T(0);
  }
  return v;
}

// x is the first operand (a), y the second (b), as in the list above.
template <typename T>
SLAB_HOST_DEVICE T binary_value(BinaryOp op, T x, T y, T alpha, T beta) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::ReluGrad: return y > T(0) ? x : T(0);
    case BinaryOp::SigmoidGrad: return x * y * (T(1) - y);
    case BinaryOp::TanhGrad: return x * (T(1) - y * y);
    case BinaryOp::AbsGrad: return y > T(0) ? x : (y < T(0) ? -x : T(0));
    case BinaryOp::ClampGrad: return (y > alpha && y < beta) ? x : T(0);
    case BinaryOp::PowGrad: return x * alpha * math::pow(y, alpha - T(1));
    case BinaryOp::BceWithLogits: return math::max(x, T(0)) - x * y + math::log1p(math::exp(-math::abs(x)));
  }
  return x;
}

}  // namespace slab
