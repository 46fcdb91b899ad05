// Probabilities and losses: softmax, log-softmax, cross-entropy, MSE, binary
// cross-entropy with logits; and dropout.
#include "core/ops_common.h"
#include "core/trace.h"
#include "core/random.h"

namespace slab {

using detail::check_compatible;
using detail::check_float;
using detail::saved;
using detail::split_at;

namespace {

Tensor softmax_impl(const Tensor& x, int64_t dim_in, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_float(x, name);
  const int64_t dim = wrap_dim(dim_in, x.dim(), name);
  const auto split = split_at(x.shape(), dim);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  SLAB_KERNEL(x.device(), softmax, x, split.outer, split.extent, split.inner, log, out);
  record_op(out, name, {x}, [y = saved(out), split, log](const Tensor& g) {
    Tensor grad = Tensor::empty(y.shape(), y.dtype(), y.device());
    SLAB_KERNEL(y.device(), softmax_backward, g, y, split.outer, split.extent, split.inner, log, grad);
    return std::vector<Tensor>{grad};
  });
  if (trace::active()) trace::record(name, {x}, out, {dim});  // attribute: the dimension
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  check_float(logits, "cross_entropy");
  SLAB_CHECK(logits.dim() == 2, "cross_entropy: logits must be [batch, classes], got ", logits.shape());
  SLAB_CHECK(targets.defined(), "cross_entropy: undefined targets");
  SLAB_CHECK(targets.dtype() == DType::i64, "cross_entropy: targets must be int64 class indices, got ", targets.dtype(),
             " of shape ", targets.shape());
  SLAB_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0), "cross_entropy: targets of shape ",
             targets.shape(), " for logits of shape ", logits.shape());
  SLAB_CHECK(targets.device() == logits.device(), "cross_entropy: device mismatch, ", logits.device(), " vs ",
             targets.device());
  SLAB_CHECK(logits.size(0) > 0, "cross_entropy: empty batch");
  const int64_t classes = logits.size(1);
  // Host targets are checked here; device targets by the kernel, which records the lowest
  // bad row in the device's error record, thrown at the next read-back (core/cuda/runtime.h),
  // so the check adds no wait to a GPU step. Both name the row the same way.
  if (targets.device().is_cpu()) {
    const int64_t* t = targets.data<int64_t>();
    for (int64_t i = 0; i < targets.numel(); ++i)
      SLAB_CHECK(t[i] >= 0 && t[i] < classes, "cross_entropy: target ", t[i], " at row ", i, " is outside [0, ",
                 classes, ")");
  }
  Tensor log_probs = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  SLAB_KERNEL(logits.device(), softmax, logits, logits.size(0), classes, 1, true, log_probs);
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  SLAB_KERNEL(logits.device(), nll_loss, log_probs, targets, loss);
  record_op(loss, "cross_entropy", {logits}, [log_probs, targets](const Tensor& g) {
    Tensor grad = Tensor::empty(log_probs.shape(), log_probs.dtype(), log_probs.device());
    SLAB_KERNEL(grad.device(), nll_loss_backward, log_probs, targets, g, grad);
    return std::vector<Tensor>{grad};
  });
  return loss;
}

Tensor mse_loss(const Tensor& prediction, const Tensor& target) {
  check_compatible(prediction, target, "mse_loss");
  SLAB_CHECK(prediction.shape() == target.shape(), "mse_loss: prediction of shape ", prediction.shape(),
             " and target of shape ", target.shape(), " differ");
  return mean(pow(sub(prediction, target), 2.0));
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets) {
  check_float(logits, "binary_cross_entropy_with_logits");
  check_compatible(logits, targets, "binary_cross_entropy_with_logits");
  SLAB_CHECK(logits.shape() == targets.shape(), "binary_cross_entropy_with_logits: logits of shape ",
             logits.shape(), " and targets of shape ", targets.shape(), " differ");
  // The stable form max(x,0) - x y + log(1 + exp(-|x|)) is one fused kernel; its
  // derivative in x is sigmoid(x) - y (smooth, also at x = 0).
  Tensor elementwise = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  SLAB_KERNEL(logits.device(), binary, BinaryOp::BceWithLogits, logits, targets, elementwise, 0.0, 0.0);
  record_op(elementwise, "binary_cross_entropy_with_logits", {logits, targets},
            [x = saved(logits), y = saved(targets)](const Tensor& g) {
              return std::vector<Tensor>{mul(g, sub(sigmoid(x), y)), neg(mul(g, x))};
            });
  return mean(elementwise);
}

Tensor dropout(const Tensor& x, double p, bool training, Generator& generator) {
  check_float(x, "dropout");
  SLAB_CHECK(p >= 0.0 && p < 1.0, "dropout: probability ", p, " is outside [0, 1)");
  if (!training || p == 0.0) return x;
  // Inverted dropout: keep with probability 1 - p and scale by 1 / (1 - p).
  Tensor mask = Tensor::empty(x.shape(), x.dtype(), x.device());
  generator.fill_bernoulli(mask, 1.0 - p);
  mul_(mask, 1.0 / (1.0 - p));
  Tensor out;
  {
    NoGradGuard raw;
    out = mul(x, mask);
  }
  record_op(out, "dropout", {x}, [mask](const Tensor& g) { return std::vector<Tensor>{mul(g, mask)}; });
  return out;
}

}  // namespace slab
