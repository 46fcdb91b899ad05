// Elementwise arithmetic (broadcasting) and elementwise functions, with their backwards.
#include <cmath>

#include "core/ops_common.h"
#include "core/trace.h"

namespace slab {

using detail::check_compatible;
using detail::check_float;
using detail::saved;

namespace {

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const char* name, double alpha = 0,
                      double beta = 0) {
  check_float(a, name);
  check_float(b, name);
  check_compatible(a, b, name);
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), a.dtype(), a.device());
  SLAB_KERNEL(out.device(), binary, op, a, b, out, alpha, beta);
  if (trace::active()) trace::record(name, {a, b}, out, {}, {alpha, beta});
  return out;
}

Tensor unary_forward(UnaryOp op, const Tensor& x, const char* name, double alpha = 0, double beta = 0) {
  check_float(x, name);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  SLAB_KERNEL(out.device(), unary, op, x, out, alpha, beta);
  if (trace::active()) trace::record(name, {x}, out, {}, {alpha, beta});
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, a, b, "add");
  record_op(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) -> std::vector<Tensor> {
    return {sum_to(g, sa), sum_to(g, sb)};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, a, b, "sub");
  record_op(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) -> std::vector<Tensor> {
    return {sum_to(g, sa), sum_to(neg(g), sb)};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, a, b, "mul");
  if (any_requires_grad({a, b})) {
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    record_op(out, "mul", {a, b},
              [a = need_b ? saved(a) : Tensor(), b = need_a ? saved(b) : Tensor(), sa = a.shape(),
               sb = b.shape()](const Tensor& g) -> std::vector<Tensor> {
                return {b.defined() ? sum_to(mul(g, b), sa) : Tensor(), a.defined() ? sum_to(mul(g, a), sb) : Tensor()};
              });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, a, b, "div");
  if (any_requires_grad({a, b})) {
    record_op(out, "div", {a, b}, [a = saved(a), b = saved(b), out = saved(out)](const Tensor& g) -> std::vector<Tensor> {
      // d(a/b)/da = 1/b;  d(a/b)/db = -a/b^2 = -out/b
      Tensor grad_a = div(g, b);
      return {sum_to(grad_a, a.shape()), sum_to(neg(mul(grad_a, out)), b.shape())};
    });
  }
  return out;
}

Tensor add(const Tensor& a, double b) {
  Tensor out = unary_forward(UnaryOp::AddScalar, a, "add", b);
  record_op(out, "add_scalar", {a}, [](const Tensor& g) -> std::vector<Tensor> { return {g}; });
  return out;
}

Tensor mul(const Tensor& a, double b) {
  Tensor out = unary_forward(UnaryOp::MulScalar, a, "mul", b);
  record_op(out, "mul_scalar", {a}, [b](const Tensor& g) -> std::vector<Tensor> { return {mul(g, b)}; });
  return out;
}

Tensor rsub(double a, const Tensor& b) {
  Tensor out = unary_forward(UnaryOp::RSubScalar, b, "rsub", a);
  record_op(out, "rsub", {b}, [](const Tensor& g) -> std::vector<Tensor> { return {neg(g)}; });
  return out;
}

Tensor neg(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Neg, x, "neg");
  record_op(out, "neg", {x}, [](const Tensor& g) -> std::vector<Tensor> { return {neg(g)}; });
  return out;
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Exp, x, "exp");
  record_op(out, "exp", {x}, [y = saved(out)](const Tensor& g) -> std::vector<Tensor> { return {mul(g, y)}; });
  return out;
}

Tensor log(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Log, x, "log");
  record_op(out, "log", {x}, [x = saved(x)](const Tensor& g) -> std::vector<Tensor> { return {div(g, x)}; });
  return out;
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sqrt, x, "sqrt");
  // d sqrt(x) = 1 / (2 sqrt(x))
  record_op(out, "sqrt", {x}, [y = saved(out)](const Tensor& g) -> std::vector<Tensor> { return {div(mul(g, 0.5), y)}; });
  return out;
}

Tensor pow(const Tensor& x, double exponent) {
  Tensor out = unary_forward(UnaryOp::Pow, x, "pow", exponent);
  record_op(out, "pow", {x}, [x = saved(x), exponent](const Tensor& g) -> std::vector<Tensor> {
    Tensor grad = Tensor::empty(x.shape(), x.dtype(), x.device());
    SLAB_KERNEL(x.device(), binary, BinaryOp::PowGrad, g, x, grad, exponent, 0.0);
    return {grad};
  });
  return out;
}

namespace {
// Backward of an elementwise function as one fused binary kernel of (g, saved).
Tensor fused_grad(BinaryOp op, const Tensor& g, const Tensor& saved_value, double alpha = 0, double beta = 0) {
  Tensor grad = Tensor::empty(g.shape(), g.dtype(), g.device());
  SLAB_KERNEL(g.device(), binary, op, g, saved_value, grad, alpha, beta);
  return grad;
}
}  // namespace

Tensor abs(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Abs, x, "abs");
  record_op(out, "abs", {x}, [x = saved(x)](const Tensor& g) -> std::vector<Tensor> {
    return {fused_grad(BinaryOp::AbsGrad, g, x)};
  });
  return out;
}

Tensor clamp(const Tensor& x, double min_value, double max_value) {
  SLAB_CHECK(min_value <= max_value, "clamp: min ", min_value, " is greater than max ", max_value);
  Tensor out = unary_forward(UnaryOp::Clamp, x, "clamp", min_value, max_value);
  record_op(out, "clamp", {x}, [x = saved(x), min_value, max_value](const Tensor& g) -> std::vector<Tensor> {
    return {fused_grad(BinaryOp::ClampGrad, g, x, min_value, max_value)};
  });
  return out;
}

Tensor relu(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Relu, x, "relu");
  // The output is positive exactly where the input is, so it is what the backward keeps.
  record_op(out, "relu", {x}, [y = saved(out)](const Tensor& g) -> std::vector<Tensor> {
    return {fused_grad(BinaryOp::ReluGrad, g, y)};
  });
  return out;
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Sigmoid, x, "sigmoid");
  record_op(out, "sigmoid", {x}, [y = saved(out)](const Tensor& g) -> std::vector<Tensor> {
    return {fused_grad(BinaryOp::SigmoidGrad, g, y)};
  });
  return out;
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::Tanh, x, "tanh");
  record_op(out, "tanh", {x}, [y = saved(out)](const Tensor& g) -> std::vector<Tensor> {
    return {fused_grad(BinaryOp::TanhGrad, g, y)};
  });
  return out;
}

void add_(const Tensor& dst, const Tensor& src, double alpha) {
  check_float(dst, "add_");
  check_compatible(dst, src, "add_");
  SLAB_CHECK(dst.shape() == src.shape(), "add_: shapes ", dst.shape(), " and ", src.shape(), " differ");
  SLAB_KERNEL(dst.device(), axpy, dst, src, alpha);
}

void mul_(const Tensor& dst, double value) {
  check_float(dst, "mul_");
  SLAB_KERNEL(dst.device(), unary, UnaryOp::MulScalar, dst, dst, value, 0.0);
}

}  // namespace slab
