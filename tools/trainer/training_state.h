// Where a training run stands, and how it is written into and read back from a checkpoint,
// so that a run stopped at any step and resumed ends with the weights of an uninterrupted
// run, bit for bit on the CPU (tests/test_resume.cpp).
//
// A checkpoint (optim/checkpoint.h) holds the weights and the optimizer's whole state (the
// sampler's prior masks and noise counters among it); its user metadata holds the loader
// position, the running sums of the epoch in progress (exactly, as hexadecimal floats), the
// elapsed time and the run's configuration. The loader's order and augmentation are pure
// functions of (seed, epoch, index) (data/loader.h), so the position is all the data side
// needs.
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "bayes/spike_slab.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "tools/trainer/config.h"
#include "tools/trainer/training_data.h"

namespace slab::tools {

// The running sums of the epoch in progress.
struct EpochSums {
  double loss_sum = 0;  // sum over examples of the batch-mean loss times the batch size
  int64_t correct = 0;
  int64_t seen = 0;
  double seconds = 0;   // training time of the epoch before this invocation
  double loss() const { return seen ? loss_sum / static_cast<double>(seen) : 0.0; }
  double accuracy() const { return seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0; }
};

struct Position {
  int64_t epoch = 0;  // the epoch in progress (or next)
  int64_t batch = 0;  // the next batch of that epoch
  int64_t step = 0;   // global steps done
};

struct TrainingState {
  Position position;
  EpochSums sums;
  double elapsed_seconds = 0;  // wall time of the run so far, over all invocations
  // What sghmc-spl's prior pass did at the start of the epoch in progress, so that a run
  // resumed midway reports the epoch as the uninterrupted run does.
  std::optional<PriorPassReport> prior_pass;
};

// The checkpoint `--resume` names: a file, or a run folder's checkpoints/latest.safetensors.
std::string resume_checkpoint_path(const std::string& resume);

// Writes `model`, `optimizer` and `state` to `path` (atomically).
void save_training_checkpoint(const std::string& path, Module& model, const Optimizer& optimizer,
                              const TrainConfig& config, const TrainingData& data, const TrainingState& state);

// Restores `model` and `optimizer` from `path` and returns the state saved with them, after
// checking that the checkpoint belongs to a run with this configuration (dataset, batch
// size, seed and training subset fix the data order) and that it is not past --epochs.
// `batches` is the number of batches per epoch. Prints one "resumed:" line to `log`.
TrainingState resume_training(const std::string& path, const TrainConfig& config, int64_t batches, Module& model,
                              Optimizer& optimizer, std::FILE* log);

}  // namespace slab::tools
