// A run folder: what one training run leaves behind.
//
//   config.json          the resolved configuration (every flag's value), the backend, N
//   metrics.csv          one row per epoch (columns: the union of the records' keys)
//   metrics.jsonl        the same records, one JSON object per line
//   checkpoints/         latest.safetensors (each epoch end, on --max-steps, on Ctrl-C),
//                        final.safetensors (after the last epoch); optim/checkpoint.h format
//   samples/             posterior samples of the samplers (bayes/samples.h)
//   sparsity.txt         sghmc-spl: the latest per-layer sparsity table
//   summary.json         final metrics: test, BMA and per-sample tables, sparsity, time
//
// Every file is written to a temporary name and renamed into place, so a run killed at any
// moment leaves each file either old or new, never half written.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace slab::tools {

// Writes `text` to `path` through a temporary file and a rename.
void write_file_atomically(const std::string& path, const std::string& text);

class RunFolder {
 public:
  // Creates the folder and its subfolders. With `resuming`, the metrics already there are
  // read back (records of later epochs are dropped by keep_epochs()).
  RunFolder(std::string path, bool resuming);

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const;  // path/name
  std::string checkpoint(const std::string& name) const;  // path/checkpoints/name.safetensors
  std::string samples_folder() const;
  // The sample files in samples/, sorted by name (= by epoch).
  std::vector<std::string> sample_files() const;

  void write_json(const std::string& name, const nlohmann::ordered_json& value) const;
  void write_text(const std::string& name, const std::string& text) const;

  // Keeps the records whose "epoch" is <= epochs (resume), rewriting both metric files.
  void keep_epochs(int64_t epochs);
  // Adds one epoch's record and rewrites metrics.csv and metrics.jsonl.
  void add_epoch(const nlohmann::ordered_json& record);
  const std::vector<nlohmann::ordered_json>& records() const { return records_; }

 private:
  void write_metrics() const;
  std::string path_;
  std::vector<nlohmann::ordered_json> records_;
};

// True when `folder` already holds a run (its config.json exists).
bool holds_run(const std::string& folder);
// True when it also holds a checkpoint (latest or final): a run that failed before its first
// checkpoint left nothing to continue, and its folder may be started again.
bool holds_checkpoint(const std::string& folder);

}  // namespace slab::tools
