// matmul (2-D and batched) and linear, on the GEMM kernel.
#include <algorithm>

#include "core/ops_common.h"
#include "core/trace.h"

namespace slab {

using detail::check_compatible;
using detail::check_float;

namespace {

// C = op(A) op(B) for row-major a [.., m, k] and b [.., k, n] as stored (transposes are
// flags, never copies). batch_b = false reuses b for every batch entry.
void gemm_into(const Tensor& a, bool ta, const Tensor& b, bool tb, const Tensor& c, int64_t batch, bool batch_b,
               double beta = 0.0) {
  const int64_t ar = a.size(-2), ac = a.size(-1), br = b.size(-2), bc = b.size(-1);
  const int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
  SLAB_KERNEL(c.device(), gemm, c.dtype(), ta, tb, m, n, k, 1.0, a.raw_data(), ac, ar * ac, b.raw_data(), bc,
              batch_b ? br * bc : 0, beta, c.raw_data(), n, m * n, batch);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_float(a, "matmul");
  check_float(b, "matmul");
  check_compatible(a, b, "matmul");
  const bool a_batched = a.dim() == 3, b_batched = b.dim() == 3;
  SLAB_CHECK((a.dim() == 2 || a_batched) && (b.dim() == 2 || b_batched) && (a_batched || !b_batched),
             "matmul: supports [m,k]x[k,n], [b,m,k]x[b,k,n] and [b,m,k]x[k,n]; got ", a.shape(), " x ", b.shape());
  SLAB_CHECK(a.size(-1) == b.size(-2), "matmul: inner dimensions differ, ", a.shape(), " x ", b.shape());
  const int64_t batch = a_batched ? a.size(0) : 1;
  if (b_batched)
    SLAB_CHECK(b.size(0) == batch, "matmul: batch sizes differ, ", a.shape(), " x ", b.shape());
  const int64_t m = a.size(-2), n = b.size(-1);
  Tensor out = Tensor::empty(a_batched ? Shape{batch, m, n} : Shape{m, n}, a.dtype(), a.device());
  gemm_into(a, false, b, false, out, batch, b_batched);
  if (any_requires_grad({a, b})) {
    // dA needs only B and dB only A: each is kept, and computed, only when needed.
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    record_op(out, "matmul", {a, b}, [a = need_b ? detail::saved(a) : Tensor(), b = need_a ? detail::saved(b) : Tensor(),
                                      a_shape = a.shape(), b_shape = b.shape(), need_a, need_b, batch, b_batched,
                                      a_batched](const Tensor& g) {
      std::vector<Tensor> grads(2);
      if (need_a) {
        grads[0] = Tensor::empty(a_shape, g.dtype(), g.device());  // dA = dC B^T
        gemm_into(g, false, b, true, grads[0], batch, b_batched);
      }
      if (need_b) {  // dB = A^T dC, summed over the batch when B was shared.
        grads[1] = Tensor::empty(b_shape, g.dtype(), g.device());
        if (b_batched || !a_batched) {
          gemm_into(a, true, g, false, grads[1], batch, true);
        } else {
          const Tensor a2 = a.reshape({batch * a.size(1), a.size(2)});
          const Tensor g2 = g.reshape({batch * g.size(1), g.size(2)});
          gemm_into(a2, true, g2, false, grads[1], 1, true);
        }
      }
      return grads;
    });
  }
  if (trace::active()) trace::record("matmul", {a, b}, out);
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_float(x, "linear");
  check_float(weight, "linear");
  check_compatible(x, weight, "linear");
  SLAB_CHECK(weight.dim() == 2, "linear: weight must be [out, in], got ", weight.shape());
  SLAB_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input of shape ", x.shape(),
             " does not match weight ", weight.shape(), " (expected last extent ", weight.size(1), ")");
  if (bias.defined()) {
    check_compatible(x, bias, "linear");
    SLAB_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias of shape ", bias.shape(),
               " for weight ", weight.shape());
  }
  const int64_t in = weight.size(1), out_features = weight.size(0);
  const int64_t rows = x.numel() / std::max<int64_t>(in, 1);
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  const Tensor x2 = x.detach().reshape({rows, in});
  const Tensor out2 = out.detach().reshape({rows, out_features});
  if (bias.defined()) {  // out = bias (broadcast over rows), then out += x W^T
    SLAB_KERNEL(out.device(), expand, bias, out2);
    gemm_into(x2, false, weight, true, out2, 1, true, 1.0);
  } else {
    gemm_into(x2, false, weight, true, out2, 1, true);
  }
  if (any_requires_grad({x, weight, bias})) {
    // Each gradient is computed only when its input needs it (the first layer's input is
    // data: no dX GEMM there), and the closure keeps only what those gradients read:
    // dX needs W, dW needs X.
    const bool need_x = x.requires_grad(), need_weight = weight.requires_grad();
    const bool need_bias = bias.defined() && bias.requires_grad();
    record_op(out, "linear", {x, weight, bias},
              [x2 = need_weight ? x2 : Tensor(), w = need_x ? detail::saved(weight) : Tensor(), need_x, need_weight,
               need_bias, rows, in, out_features, x_shape = x.shape(),
               weight_shape = weight.shape()](const Tensor& g) {
                const Tensor g2 = g.reshape({rows, out_features});
                std::vector<Tensor> grads(3);
                if (need_x) {
                  Tensor grad_x = Tensor::empty({rows, in}, g.dtype(), g.device());
                  gemm_into(g2, false, w, false, grad_x, 1, true);  // dX = dY W
                  grads[0] = grad_x.reshape(x_shape);
                }
                if (need_weight) {
                  grads[1] = Tensor::empty(weight_shape, g.dtype(), g.device());
                  gemm_into(g2, true, x2, false, grads[1], 1, true);  // dW = dY^T X
                }
                if (need_bias) grads[2] = sum(g2, {0});
                return grads;
              });
  }
  if (trace::active()) trace::record("linear", {x, weight, bias}, out);
  return out;
}

}  // namespace slab
