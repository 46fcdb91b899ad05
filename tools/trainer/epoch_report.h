// What one epoch reports: the record appended to metrics.csv / metrics.jsonl and the line
// printed after it. Keys of the record (docs/programs.md): epoch (1-based), step, lr,
// train_loss, train_acc, test_loss, test_acc, test_ece, seconds, images_per_s; the
// samplers add sample (the file saved, or "") and noise; sghmc-spl adds sparsity,
// flops_kept, prior_pass and, after a prior pass, spike_groups, groups, pruned_units and
// prunable_units.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bayes/metrics.h"
#include "bayes/sparsity.h"
#include "bayes/spike_slab.h"
#include "tools/trainer/training_state.h"

namespace slab::tools {

struct EpochOutcome {
  int64_t epoch = 0;  // 0-based
  int64_t step = 0;   // global steps done
  double lr = 0;      // of the epoch's last step
  EpochSums train;
  ClassificationMetrics test;
  double train_seconds = 0, eval_seconds = 0;
};

nlohmann::ordered_json epoch_record(const EpochOutcome& outcome);

// Adds sghmc-spl's fields to `record` and returns the text the epoch line ends with: the
// sparsity summary and what the prior did this epoch (its E-step and pruning counts, the
// cool-down, or the warm-up still running).
std::string add_prior_fields(nlohmann::ordered_json& record, const SparsityReport& sparsity,
                             const std::optional<PriorPassReport>& pass, const SpikeSlabPrior& prior, int64_t epoch);

// "epoch 3/30  train loss ... acc ...  test loss ... acc ...  lr ...  12.3 s (800 img/s)" + extra.
std::string epoch_line(const EpochOutcome& outcome, int64_t epochs, const std::string& extra);

}  // namespace slab::tools
