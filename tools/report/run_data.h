// What slab-report reads from one run folder (docs/run-folder.md): nothing else, so a report
// can be made on a machine that has only the folder.
//   config.json, metrics.jsonl       required
//   sparsity.jsonl                   sghmc-spl: per-layer sparsity each epoch
//   calibration.json                 reliability bins, metrics as samples are added
//   summary.json                     final metrics
//   ood.json, ood_scores.csv         slab-eval --ood-data-dir
//   temperature.json                 slab-eval on a run trained with --holdout
#pragma once
#include <array>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace slab::report {

struct OodScores {
  // [0] max softmax probability, [1] predictive entropy, [2] mutual information (0 without samples)
  std::array<std::vector<double>, 3> in, out;
};

struct RunData {
  std::string path;   // as given
  std::string label;  // the folder's name: the legends' name of the run
  nlohmann::json config;
  std::vector<nlohmann::json> epochs;    // metrics.jsonl, in order
  std::vector<nlohmann::json> sparsity;  // sparsity.jsonl (empty without)
  std::optional<nlohmann::json> calibration, summary, ood, temperature;
  std::optional<OodScores> ood_scores;

  std::string optimizer() const;
  std::string backend() const;
  bool has_samples() const;  // some epoch saved a posterior sample
};

// Throws slab::Error naming the file when config.json or metrics.jsonl is missing or a file
// is not what its format says.
RunData read_run(const std::string& folder);

}  // namespace slab::report
