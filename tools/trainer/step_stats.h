// The training loop's per-step statistics (the batch-mean loss and the number of correct
// predictions), kept on the device that computed them and read back to the host in groups.
//
// Why: reading a GPU value on the host (loss.item(), or copying the argmax) waits for every
// kernel queued before it. Done each step, between forward and backward, it leaves the GPU
// idle while the host queues the backward pass. So the loop records each step's loss
// tensor and argmax here (no copy, no wait) and calls read() every K steps: one wait for
// the K steps together. On the CPU nothing is queued, and the loop reads every step (K = 1).
//
// read() returns the steps in the order they ran, with the loss as a double converted from
// the tensor's own dtype, so the host can form the epoch's sums in exactly the order (and
// with exactly the rounding) of a loop that read every step.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace slab::tools {

class PendingStepStats {
 public:
  // Where a step ran, for the messages about it.
  struct Where {
    int64_t epoch = 0;  // 0-based
    int64_t batch = 0;  // 0-based index in the epoch
    int64_t step = 0;   // 0-based global step
    double lr = 0;
  };
  struct Step {
    Where where;
    double loss = 0;      // the batch-mean loss (may be NaN or infinite: the caller checks)
    int64_t correct = 0;  // predictions equal to the label
    int64_t examples = 0;
    int64_t non_finite_state = 0;  // NaN or infinite elements of the state after the step
  };

  // Records one step: `loss` a one-element tensor and `predicted` int64 [n], both on the
  // step's device (nothing is copied now); `labels` int64 [n] on the host.
  void add(const Tensor& loss, const Tensor& predicted, const Tensor& labels, const Where& where);
  // Attaches to the last recorded step the count of non-finite elements of the state it
  // left (count_non_finite, int64 [1] on the step's device), read with its loss.
  void add_state_check(const Tensor& non_finite);
  int64_t size() const { return static_cast<int64_t>(pending_.size()); }
  // Copies the recorded losses and predictions to the host (one wait for the device),
  // returns the steps in order and forgets them.
  std::vector<Step> read();

 private:
  struct Pending {
    Tensor loss;       // [1], detached
    Tensor predicted;  // [n] int64
    std::vector<int64_t> labels;
    Where where;
    Tensor non_finite;  // [1] int64, or undefined: not checked
  };
  std::vector<Pending> pending_;
};

}  // namespace slab::tools
