// The trainer every slab-train-* program runs: the configuration and backend printed, a
// progress display, one line per epoch, a run folder (tools/trainer/run_folder.h), exact
// resume (tools/trainer/training_state.h), and for the samplers the posterior samples and
// their Bayesian model average (tools/trainer/posterior_samples.h).
//
// Trainer::run() is the loop, to be read in one sitting. Per epoch:
//   1. start_epoch: sghmc-spl's E-step + pruning pass (bayes/spike_slab.h) when the epoch
//      begins at its first batch (docs/algorithm.md#spike-and-slab-e-step), then the
//      optimizer's epoch hook (cSGHMC's noise phase);
//   2. the steps: lr = schedule(t) with t the global step; forward, cross entropy, backward,
//      optimizer step. Each step's loss and argmax are read back every K steps
//      (tools/trainer/step_stats.h): K = 1 on the CPU, so a non-finite loss stops the run
//      before its backward pass; K = 50 on a GPU, so the host never waits for the device in
//      between; a read precedes every checkpoint and stop, so no state is written past an
//      unchecked loss;
//   3. end_epoch: the test pass (at the posterior mean for IVON and vb-adaptive), a
//      posterior sample when due, the sparsity report (sghmc-spl), the epoch's record and
//      line, checkpoints/latest.
// After the last epoch, finish(): checkpoints/final, the model average over the run's
// samples, summary.json and one `key=value` line.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "bayes/metrics.h"
#include "bayes/sparsity.h"
#include "bayes/spike_slab.h"
#include "data/loader.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "tools/trainer/config.h"
#include "tools/trainer/interrupt.h"
#include "tools/trainer/posterior_samples.h"
#include "tools/trainer/progress.h"
#include "tools/trainer/run_folder.h"
#include "tools/trainer/step_stats.h"
#include "tools/trainer/training_data.h"
#include "tools/trainer/training_state.h"

namespace slab::tools {

struct TrainResult {
  bool completed = false;    // all epochs done
  bool interrupted = false;  // stopped by SIGINT or SIGTERM (a checkpoint was written)
  int signal = 0;            // which of the two
  int64_t epochs_done = 0;   // completed epochs
  int64_t steps = 0;         // global step count
  ClassificationMetrics test;  // the last completed epoch's test metrics
  std::optional<ClassificationMetrics> bma;  // samplers with at least one sample
  std::optional<double> sparsity;            // sghmc-spl
  double seconds = 0;        // wall time of the run, over all its invocations
  std::string run_folder;
  std::string summary_line;  // the final key=value line
  std::shared_ptr<Module> model;
};

class Trainer {
 public:
  // Builds the run: checks the configuration, loads the data (or takes `data`, which a test
  // builds in memory), the model, the optimizer, the loaders, the schedule; resumes when
  // --resume is given; opens the run folder. Output goes to `log`.
  Trainer(const TrainConfig& config, const TrainingData* data, std::FILE* log);
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains to the end, or to --max-steps or a signal. A tensor that does not fit the memory
  // limit (core/allocator.h) is reported naming the batch sizes.
  TrainResult run();

 private:
  using Clock = std::chrono::steady_clock;
  TrainResult run_epochs();

  void print_header() const;
  void load_data_and_model(const TrainingData* given);
  void build_optimizer();
  void resume_and_open_run_folder();

  void start_epoch(int64_t epoch);
  void shrink_model(int64_t epoch);
  void record_step(const Tensor& loss, const Tensor& logits, const data::Batch& batch);
  bool after_step(const data::Batch& batch);  // true: stop now (--max-steps, Ctrl-C)
  void read_step_stats();
  void update_progress();
  void end_epoch(int64_t epoch);
  Predictions evaluate_test_set();
  TrainResult stop();
  TrainResult finish();

  bool should_stop() const;
  Tensor on_device(const Tensor& host) const;
  double seconds_since(std::optional<Clock::time_point> start) const;
  TrainingState state_now() const;
  void save_checkpoint(const std::string& name) const;
  std::shared_ptr<Module> fresh_model() const;

  const TrainConfig& config_;
  std::FILE* log_;
  const Clock::time_point started_ = Clock::now();
  InterruptHandler interrupt_handler_;
  Device device_;

  TrainingData loaded_data_;
  const TrainingData* data_ = nullptr;
  std::shared_ptr<Module> model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<SpikeSlabPrior> prior_;  // sghmc-spl
  double temperature_ = 0;
  std::optional<data::Loader> train_loader_, test_loader_;
  int64_t batches_ = 0;  // per epoch
  std::shared_ptr<const Schedule> schedule_;

  std::optional<RunFolder> run_;
  std::optional<PosteriorSampleCollector> samples_;  // the samplers
  std::optional<Progress> progress_;
  PendingStepStats pending_;
  int64_t read_every_ = 1;

  Position position_;
  EpochSums sums_;
  double seconds_before_ = 0;  // wall time of the run's earlier invocations
  Clock::time_point loop_start_;                  // when this invocation's first step began
  std::optional<Clock::time_point> epoch_start_;  // the epoch in progress, in this invocation
  int64_t images_this_epoch_ = 0;
  int64_t steps_this_invocation_ = 0;
  std::optional<PriorPassReport> prior_pass_;     // of the epoch in progress
  std::optional<ClassificationMetrics> last_test_;
  std::optional<SparsityReport> last_sparsity_;   // sghmc-spl: of the weights after the last epoch
  std::optional<CalibrationBins> last_bins_;      // the last epoch's test predictions' reliability bins
  TrainResult result_;
};

// Runs `config` (Trainer(config, data, log).run()). `data` may be null (loaded from
// config.dataset and config.data_dir) or given by a caller (tests) that built its own.
TrainResult run_training(const TrainConfig& config, const TrainingData* data = nullptr, std::FILE* log = stdout);

// A program's main: parses argv with the program's defaults, runs, prints "error: ..." on
// failure. Returns the exit code: 0, 1 (a failure), 2 (bad usage), 128 + the signal when
// interrupted (130 for SIGINT, 143 for SIGTERM; the checkpoint was written).
int train_program_main(const ProgramDefaults& defaults, int argc, char** argv);

}  // namespace slab::tools
