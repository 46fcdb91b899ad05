// Softmax and log-softmax along one dimension ([outer, extent, inner]), stabilised by
// subtracting the maximum; the negative log-likelihood that cross-entropy builds on. The
// formulas are core/softmax_math.h's, shared with the CUDA kernels.
#include "core/cpu/parallel.h"
#include "core/kernels.h"
#include "core/softmax_math.h"

namespace slab::cpu {

void softmax(const Tensor& x, int64_t outer, int64_t extent, int64_t inner, bool log, const Tensor& out) {
  dispatch_float(x.dtype(), "softmax", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    for_each_line(outer, extent, inner, [&](int64_t o, int64_t i) {
      const int64_t base = o * extent * inner + i;
      softmax_math::softmax_line(px + base, po + base, extent, inner, log);
    });
  });
}

void softmax_backward(const Tensor& grad, const Tensor& y, int64_t outer, int64_t extent, int64_t inner, bool log,
                      const Tensor& out) {
  dispatch_float(y.dtype(), "softmax backward", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* pg = grad.data<scalar_t>();
    const scalar_t* py = y.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    for_each_line(outer, extent, inner, [&](int64_t o, int64_t i) {
      const int64_t base = o * extent * inner + i;
      softmax_math::softmax_backward_line(pg + base, py + base, po + base, extent, inner, log);
    });
  });
}

void nll_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& loss) {
  dispatch_float(log_probs.dtype(), "cross_entropy", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* lp = log_probs.data<scalar_t>();
    const int64_t* t = targets.data<int64_t>();
    const int64_t n = log_probs.size(0), classes = log_probs.size(1);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total -= lp[i * classes + t[i]];
    loss.data<scalar_t>()[0] = static_cast<scalar_t>(total / static_cast<double>(n));
  });
}

void nll_loss_backward(const Tensor& log_probs, const Tensor& targets, const Tensor& grad_loss, const Tensor& out) {
  dispatch_float(log_probs.dtype(), "cross_entropy backward", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* lp = log_probs.data<scalar_t>();
    const int64_t* t = targets.data<int64_t>();
    scalar_t* po = out.data<scalar_t>();
    const int64_t n = log_probs.size(0), classes = log_probs.size(1);
    const scalar_t scale = grad_loss.data<scalar_t>()[0] / static_cast<scalar_t>(n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < classes; ++c)
        po[i * classes + c] = softmax_math::nll_backward_value(lp[i * classes + c], scale, c == t[i]);
  });
}

}  // namespace slab::cpu
