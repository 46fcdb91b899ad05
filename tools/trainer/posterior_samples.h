// The posterior samples of a sampler's run and their Bayesian model average
// (docs/algorithm.md#posterior-samples, #model-averaging): at the end of the last
// --samples-per-cycle epochs of each cycle of the cyclical schedule the model is saved to
// samples/sample-epoch-EEEE.safetensors (bayes/samples.h); after the last epoch the
// softmax outputs of all saved samples are averaged over the test set.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "layers/module.h"
#include "optim/optimizer.h"
#include "tools/trainer/config.h"
#include "tools/trainer/evaluate.h"
#include "tools/trainer/run_folder.h"

namespace slab::tools {

class PosteriorSampleCollector {
 public:
  PosteriorSampleCollector(const TrainConfig& config, int64_t batches_per_epoch, const RunFolder& run);

  // Saves the model as a sample when `epoch` (0-based) ends a sample epoch, keeping the
  // epoch's test predictions so the average need not evaluate it again. Returns the
  // sample's file name, or "" when the epoch saves none.
  std::string save_if_due(int64_t epoch, int64_t step, Module& model, const Optimizer& optimizer,
                          const Predictions& predictions);
  // The metric table over every sample in the run folder and their average; nullopt
  // (with a line saying why) when the run saved none.
  std::optional<PosteriorMetrics> average(const std::function<std::shared_ptr<Module>()>& make_model,
                                          data::Loader& test_loader, Device device, std::FILE* log) const;

 private:
  const TrainConfig& config_;
  int64_t batches_per_epoch_;
  const RunFolder& run_;
  std::map<std::string, CachedSample> cached_;
};

}  // namespace slab::tools
