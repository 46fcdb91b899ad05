// The training state is checked for NaN and infinity before anything is written from it
// (a checkpoint, a posterior sample): the loss guard (Trainer::read_step_stats) misses a
// divergence that ReLU and max-pooling hide from the loss, such as a BatchNorm running
// variance that overflowed, so the weights, buffers and optimizer state are scanned too.
// One pass over the state per checkpoint or sample, nothing per step.
#pragma once
#include <string>

#include "layers/module.h"
#include "optim/optimizer.h"
#include "tools/trainer/training_state.h"

namespace slab::tools {

// "" when every float tensor of the model (parameters, buffers) and of the optimizer's state
// is finite; else the first offending one, as "tensor 'model.bn1.running_var' holds inf at
// element 3 of 16".
std::string first_non_finite_state(const Module& model, const Optimizer& optimizer);

// Throws Error when the state is not finite, naming the tensor, the step it was found
// after, the last good checkpoint (kept) and how to go on: resume with a lower --lr.
void check_state_finite(const Module& model, const Optimizer& optimizer, const Position& position,
                        const std::string& latest_checkpoint, const std::string& run_folder);

}  // namespace slab::tools
