#include "tools/trainer/step_stats.h"

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace slab::tools {

void PendingStepStats::add(const Tensor& loss, const Tensor& predicted, const Tensor& labels, const Where& where) {
  SLAB_CHECK(loss.numel() == 1, "PendingStepStats: the loss has shape ", loss.shape(), ", expected one element");
  SLAB_CHECK(predicted.dtype() == DType::i64 && predicted.dim() == 1, "PendingStepStats: predictions of dtype ",
             predicted.dtype(), " and shape ", predicted.shape(), ", expected int64 [n]");
  SLAB_CHECK(labels.device().is_cpu() && labels.dtype() == DType::i64 && labels.shape() == predicted.shape(),
             "PendingStepStats: labels of dtype ", labels.dtype(), " and shape ", labels.shape(), " on ",
             labels.device(), ", expected int64 ", predicted.shape(), " on the CPU");
  SLAB_CHECK(pending_.empty() || pending_.front().loss.device() == loss.device(),
             "PendingStepStats: steps on ", pending_.front().loss.device(), " and ", loss.device());
  Pending p;
  // Detached: the step's autograd graph (and the activations it holds) must not live on
  // until the read.
  p.loss = loss.detach().reshape({1});
  p.predicted = predicted.detach();
  const int64_t* y = labels.data<int64_t>();
  p.labels.assign(y, y + labels.numel());  // the loader may reuse the batch's buffer
  p.where = where;
  pending_.push_back(std::move(p));
}

void PendingStepStats::add_state_check(const Tensor& non_finite) {
  SLAB_CHECK(!pending_.empty(), "PendingStepStats: a state check without a recorded step");
  SLAB_CHECK(non_finite.dtype() == DType::i64 && non_finite.numel() == 1 &&
                 non_finite.device() == pending_.back().loss.device(),
             "PendingStepStats: a state check of dtype ", non_finite.dtype(), " and shape ", non_finite.shape(),
             " on ", non_finite.device(), ", expected int64 [1] on the step's device");
  pending_.back().non_finite = non_finite;
}

std::vector<PendingStepStats::Step> PendingStepStats::read() {
  std::vector<Step> steps;
  if (pending_.empty()) return steps;
  NoGradGuard no_grad;
  std::vector<Tensor> losses, predictions, checks;
  for (const Pending& p : pending_) {
    losses.push_back(p.loss);
    predictions.push_back(p.predicted);
    if (p.non_finite.defined()) checks.push_back(p.non_finite);
  }
  // Gathered on the device first, so the host waits once for all the steps; on the CPU a
  // single step is read in place.
  const Tensor loss_values = losses.size() == 1 ? losses.front() : cat(losses, 0);
  const Tensor predicted_values = predictions.size() == 1 ? predictions.front() : cat(predictions, 0);
  const std::vector<double> loss_host = loss_values.to_vector();  // the wait
  const Tensor predicted_host = predicted_values.device().is_cpu() ? predicted_values
                                                                   : predicted_values.to(Device::cpu());
  const int64_t* predicted = predicted_host.data<int64_t>();
  const std::vector<double> checks_host =
      checks.empty() ? std::vector<double>() : (checks.size() == 1 ? checks.front() : cat(checks, 0)).to_vector();
  size_t check = 0;
  int64_t offset = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    Step s;
    s.where = pending_[i].where;
    s.loss = loss_host[i];
    s.examples = static_cast<int64_t>(pending_[i].labels.size());
    for (int64_t j = 0; j < s.examples; ++j) s.correct += predicted[offset + j] == pending_[i].labels[static_cast<size_t>(j)];
    offset += s.examples;
    if (pending_[i].non_finite.defined()) s.non_finite_state = static_cast<int64_t>(checks_host[check++]);
    steps.push_back(s);
  }
  pending_.clear();
  return steps;
}

}  // namespace slab::tools
