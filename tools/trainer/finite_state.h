// The training state is checked for NaN and infinity, because the loss guard
// (Trainer::read_step_stats) misses a divergence that ReLU and max-pooling hide from the
// loss, such as a BatchNorm running variance that overflowed:
// - after every step, the weights, their gradients and the buffers are counted on the
//   step's device (state_after_step, count_non_finite) and the count is read with the
//   step's loss, so the error names the first bad step;
// - before anything is written (a checkpoint, a posterior sample), the optimizer's state
//   too (check_state_finite): a state such as Adam's second moment can overflow while the
//   weights it scales stay finite.
#pragma once
#include <string>
#include <vector>

#include "layers/module.h"
#include "optim/optimizer.h"
#include "tools/trainer/training_state.h"

namespace slab::tools {

// The float tensors a step writes: the model's parameters and buffers, and the gradients.
std::vector<Tensor> state_after_step(const Module& model, const Optimizer& optimizer);

// "" when every float tensor of the model (parameters, buffers), of the gradients and of the
// optimizer's state is finite; else the first offending one, as "tensor
// 'model.bn1.running_var' holds inf at element 3 of 16".
std::string first_non_finite_state(const Module& model, const Optimizer& optimizer);

// Throws Error when the state is not finite, naming the tensor, the step it was found
// after, the last good checkpoint (kept) and how to go on: resume with a lower --lr.
void check_state_finite(const Module& model, const Optimizer& optimizer, const Position& position,
                        const std::string& latest_checkpoint, const std::string& run_folder);

// The error for a step after which `non_finite` elements were found not finite; `when` names
// the step ("at epoch 1, batch 12 of 40 (step 12, lr 0.1)"), and the message the first
// offending tensor of the state now, the last good checkpoint and how to go on.
[[noreturn]] void fail_non_finite_state(const Module& model, const Optimizer& optimizer, const std::string& when,
                                        int64_t non_finite, const std::string& latest_checkpoint,
                                        const std::string& run_folder);

}  // namespace slab::tools
