// Posterior samples on the cyclical schedule (docs/algorithm.md#posterior-samples) and their files.
//
// When: K = epochs x batches_per_epoch iterations in M cycles of L = ceil(K/M)
// iterations; an epoch belongs to the cycle of its last iteration; a sample is saved at the
// end of each of the last `samples_per_cycle` epochs of every cycle (12 samples for the
// CIFAR recipe: 200 epochs, 4 cycles, 3 per cycle, at 0-based epochs 47-49, 97-99, ...).
// Epochs before `first_sample_epoch` (0-based) save nothing: the cycles they end are burn-in,
// whose samples have not yet reached the posterior's high-probability region.
// (The reference's `epoch % 49` rule drifts up to 5 epochs early in later cycles.)
//
// Files: safetensors with the model's state dict under its own keys (parameters and
// buffers: BatchNorm statistics belong to the sample), the hard masks as
// "prior.<param>.keep_rows" / "prior.<param>.keep_columns" (float 0/1), and metadata
// "slab.format" = "slab-sample/1", "slab.epoch", "slab.step", "slab.cycle",
// "slab.optimizer" plus the caller's entries. Saving checks that every masked weight is
// exactly zero, so a sample file can never hold a pruned weight.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "optim/prior_state.h"

namespace slab {

inline constexpr const char* kSampleFormat = "slab-sample/1";

// The cycle (0-based) that epoch `epoch` belongs to.
int64_t cycle_of_epoch(int64_t epoch, int64_t batches_per_epoch, int64_t epochs, int64_t cycles);
// True when a sample is saved at the end of `epoch` (0-based).
bool is_sample_epoch(int64_t epoch, int64_t batches_per_epoch, int64_t epochs, int64_t cycles,
                     int64_t samples_per_cycle, int64_t first_sample_epoch = 0);

struct SampleInfo {
  int64_t epoch = 0, step = 0, cycle = 0;
  std::string optimizer;
  Metadata extra;
};

// `optimizer` may be null or one without a prior: the file then has no masks.
void save_posterior_sample(const std::string& path, Module& model, const Optimizer* optimizer, const SampleInfo& info);

struct LoadedSample {
  SampleInfo info;
  // parameter name -> (keep_rows, keep_columns), for the parameters that had masks
  std::map<std::string, std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> masks;
};
// The metadata of a sample file (`path` names it in errors); throws unless it is a sample.
SampleInfo sample_info(const Metadata& metadata, const std::string& path);
// Loads the weights into `model` (strict keys and shapes) and returns masks and metadata;
// throws if the file is not a sample, a masked weight is not zero, or a tensor holds a NaN or
// an infinity.
LoadedSample load_posterior_sample(const std::string& path, Module& model);

}  // namespace slab
