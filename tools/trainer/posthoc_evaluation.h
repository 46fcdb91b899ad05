// What slab-eval adds to a run folder after training (docs/run-folder.md): out-of-distribution
// scores (--ood-data-dir) and temperature scaling fitted on the run's held-out training
// examples (--holdout of the trainer), for each model (posterior sample, or the run's final
// weights) and for the model average of the samples.
//
//   ood.json          AUROC, AUPR-in, AUPR-out, FPR95 of each score, for each model and the
//                     average (and the temperature-scaled average or final weights)
//   ood_scores.csv    per test and OOD example, the scores of the average (or of the final
//                     weights): the report's histograms
//   temperature.json  T, the held-out set, NLL before and after, the test metrics scaled
//   calibration.json  gains the temperature-scaled model's reliability bins
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "data/loader.h"
#include "layers/module.h"

namespace slab::tools {

struct NamedModel {
  std::string name;  // "sample-epoch-0004.safetensors", "final weights"
  std::function<std::shared_ptr<Module>()> load;  // the model with its weights, on the device
};

struct PosthocSets {
  data::Loader* test = nullptr;
  data::Loader* holdout = nullptr;  // null: no temperature scaling
  data::Loader* ood = nullptr;      // null: no OOD scores
  std::string test_name, holdout_name, ood_name, ood_transform;
};

// Evaluates `models` (their average when `average`) on the sets and writes the files above
// into `run_dir`. Returns the key=value pairs for the program's last line ("" when neither
// a held-out nor an OOD set was given).
std::string posthoc_evaluation(const std::vector<NamedModel>& models, bool average, const PosthocSets& sets,
                               Device device, const std::string& run_dir);

}  // namespace slab::tools
