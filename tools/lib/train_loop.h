// The one training loop every slab-train-* program runs (DESIGN.md, "Modules, checkpoints,
// programs"): configuration and backend printed, a progress display, one line per epoch,
// a run folder (tools/lib/train_run_folder.h), exact resume from a checkpoint, and for the
// samplers the posterior samples and their Bayesian model average.
//
// Per epoch e (0-based), in this order:
//   1. sghmc-spl: the E-step + pruning pass (bayes/spike_slab.h) when e > warm-up, before
//      the epoch's first step (ALGORITHM.md 3); csghmc: noise on in the cycle's last epochs;
//   2. the steps: lr = schedule(t) with t the global iteration index; forward, cross
//      entropy, a finite-loss check, backward, optimizer step. On the CPU the loss is
//      checked before each backward pass; on a GPU each step's loss and argmax stay on the
//      device and are read back every 50 steps, at each tenth of the epoch, at its end and
//      before any checkpoint or stop (tools/lib/train_step_stats.h), so the host never
//      waits for the GPU in between; a non-finite loss still stops the run before any
//      checkpoint is written, naming the batch where it appeared;
//   3. the test pass (IVON and vb-adaptive at their mean), metrics; a posterior sample at
//      the end of the last samples-per-cycle epochs of each cycle (bayes/samples.h); the
//      sparsity report (sghmc-spl);
//   4. metrics.csv/jsonl and checkpoints/latest.
// After the last epoch: checkpoints/final, the BMA table over the run's samples,
// summary.json, and one `key=value` line.
//
// Exact resume: a checkpoint holds the weights, the optimizer's state (with the sampler's
// prior masks and noise counters), the loader position (epoch, batch) and the running
// sums of the epoch in progress; the loader's order and augmentation are pure functions of
// (seed, epoch, index) (data/loader.h). So a run stopped after k steps and resumed ends
// with the weights of an uninterrupted run, bit for bit on the CPU (tests/test_resume.cpp).
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "bayes/metrics.h"
#include "layers/module.h"
#include "tools/lib/train_config.h"
#include "tools/lib/train_data.h"

namespace slab::tools {

struct TrainResult {
  bool completed = false;    // all epochs done
  bool interrupted = false;  // stopped by SIGINT (a checkpoint was written)
  int64_t epochs_done = 0;   // completed epochs
  int64_t steps = 0;         // global step count
  ClassificationMetrics test;  // the last completed epoch's test metrics
  std::optional<ClassificationMetrics> bma;  // samplers with at least one sample
  std::optional<double> sparsity;            // sghmc-spl
  double seconds = 0;        // wall time of this invocation
  std::string run_folder;
  std::string summary_line;  // the final key=value line
  std::shared_ptr<Module> model;
};

// Runs `config`. `data` may be null (loaded from config.dataset and config.data_dir) or
// given by a caller (tests) that built its own datasets. Output goes to `log`.
TrainResult run_training(const TrainConfig& config, const TrainingData* data = nullptr, std::FILE* log = stdout);

// A program's main: parses argv with the program's defaults, runs, prints "error: ..." on
// failure. Returns the exit code: 0, 1 (a failure), 2 (bad usage), 130 (interrupted).
int train_program_main(const ProgramDefaults& defaults, int argc, char** argv);

// The path of the checkpoint `--resume` names: a file, or a run folder's
// checkpoints/latest.safetensors.
std::string resume_checkpoint_path(const std::string& resume);

}  // namespace slab::tools
