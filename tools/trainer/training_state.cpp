#include "tools/trainer/training_state.h"

#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "core/parse_number.h"
#include "optim/checkpoint.h"

namespace slab::tools {

namespace {

namespace fs = std::filesystem;

// Hexadecimal floating point: round-trips every bit.
std::string exact(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%a", value);
  return text;
}

const std::string& metadata_value(const Metadata& metadata, const std::string& key, const std::string& path) {
  auto it = metadata.find(key);
  SLAB_CHECK(it != metadata.end(), path, ": not a checkpoint of a slab training program (no '", key,
             "' in its metadata)");
  return it->second;
}

double metadata_double(const Metadata& metadata, const std::string& key, const std::string& path) {
  return parse_double(metadata_value(metadata, key, path), path + ": metadata '" + key + "'");
}

int64_t metadata_int(const Metadata& metadata, const std::string& key, const std::string& path) {
  return parse_int64(metadata_value(metadata, key, path), path + ": metadata '" + key + "'");
}

// The fields a resumed run must share with the run that wrote the checkpoint: they fix the
// data order and what a loader position means.
void check_resume_config(const nlohmann::json& saved, const TrainConfig& c, const std::string& path) {
  SLAB_CHECK(saved.is_object(), path, ": its saved configuration is not a JSON object (", saved.type_name(), ")");
  auto same = [&](const char* key, const nlohmann::json& now, const char* flag) {
    if (!saved.contains(key)) return;
    SLAB_CHECK(saved[key] == now, "--resume '", path, "': the checkpoint was trained with ", flag, " ",
               saved[key].dump(), ", this run has ", now.dump(), " (a resumed run must keep it)");
  };
  same("dataset", c.dataset, "dataset");
  same("batch_size", c.batch_size, "--batch-size");
  same("seed", c.seed, "--seed");
  same("train_limit", c.train_limit, "--train-limit");
  same("precision", c.precision, "--precision");
  const nlohmann::json saved_holdout = saved.contains("holdout") ? saved["holdout"] : nlohmann::json(0);  // absent: none
  SLAB_CHECK(saved_holdout == c.holdout, "--resume '", path, "': the checkpoint was trained with --holdout ",
             saved_holdout.dump(), ", this run has ", c.holdout, " (a resumed run must keep it)");
}

// OpenMP splits reductions by thread, so the thread count fixes the summation order: a run
// resumed with another one ends a few bits away from the uninterrupted run.
void check_resume_threads(const Metadata& user, const TrainConfig& c, const std::string& path) {
  const auto it = user.find("threads");
  if (it == user.end() || c.allow_thread_change) return;
  const int now = omp_get_max_threads();
  SLAB_CHECK(it->second == std::to_string(now), "--resume '", c.resume, "': ", path, " was trained with ", it->second,
             " threads, this run has ", now, " (--threads ", c.threads, c.threads == 0 ? ": OpenMP's default" : "",
             "); the thread count fixes the summation order, so pass --threads ", it->second,
             " to resume exactly, or --allow-thread-change to accept results that differ in the last bits");
}

// Every field in its range and the position consistent with itself, so a corrupt or edited
// checkpoint fails naming the field instead of deep inside the loop (or in the summary).
void check_state_fields(const TrainingState& s, int64_t batches, const std::string& path) {
  SLAB_CHECK(s.position.epoch >= 0, path, ": metadata 'loader.epoch' = ", s.position.epoch, " is negative");
  SLAB_CHECK(s.position.step == s.position.epoch * batches + s.position.batch, path, ": metadata 'global_step' = ",
             s.position.step, " does not match 'loader.epoch' ", s.position.epoch, " and 'loader.batch' ",
             s.position.batch, " (", batches, " batches per epoch)");
  SLAB_CHECK(s.sums.seen >= 0 && s.sums.correct >= 0 && s.sums.correct <= s.sums.seen, path,
             ": metadata 'epoch.correct' = ", s.sums.correct, " and 'epoch.seen' = ", s.sums.seen,
             " are not counts (0 <= correct <= seen)");
  SLAB_CHECK(std::isfinite(s.sums.loss_sum) && s.sums.loss_sum >= 0, path, ": metadata 'epoch.loss_sum' = ",
             s.sums.loss_sum, " is not a finite sum of losses >= 0");
  SLAB_CHECK(std::isfinite(s.sums.seconds) && s.sums.seconds >= 0, path, ": metadata 'epoch.seconds' = ",
             s.sums.seconds, " is not a finite time >= 0");
  SLAB_CHECK(std::isfinite(s.elapsed_seconds) && s.elapsed_seconds >= 0, path, ": metadata 'elapsed_seconds' = ",
             s.elapsed_seconds, " is not a finite time >= 0");
}

}  // namespace

std::string resume_checkpoint_path(const std::string& resume) {
  if (fs::is_directory(resume)) return (fs::path(resume) / "checkpoints" / "latest.safetensors").string();
  return resume;
}

// The user. keys and the range each must be in: docs/checkpoint-format.md#trainer-keys.
void save_training_checkpoint(const std::string& path, Module& model, const Optimizer& optimizer,
                              const TrainConfig& config, const TrainingData& data, const TrainingState& state) {
  Metadata user;
  user["loader.epoch"] = std::to_string(state.position.epoch);
  user["loader.batch"] = std::to_string(state.position.batch);
  user["global_step"] = std::to_string(state.position.step);
  user["epoch.loss_sum"] = exact(state.sums.loss_sum);
  user["epoch.correct"] = std::to_string(state.sums.correct);
  user["epoch.seen"] = std::to_string(state.sums.seen);
  user["epoch.seconds"] = exact(state.sums.seconds);
  user["elapsed_seconds"] = exact(state.elapsed_seconds);
  user["threads"] = std::to_string(omp_get_max_threads());  // the sums' order depends on it
  if (state.prior_pass) {
    const PriorPassReport& r = *state.prior_pass;
    user["epoch.prior_pass"] = std::to_string(r.spike_groups) + " " + std::to_string(r.groups) + " " +
                               std::to_string(r.pruned_units) + " " + std::to_string(r.prunable_units);
    if (r.mac_shift != 0 || r.slab_mac_fraction != 1) {  // --mac-budget held the pass
      user["epoch.prior_pass.slab_mac_fraction"] = exact(r.slab_mac_fraction);
      user["epoch.prior_pass.mac_shift"] = exact(r.mac_shift);
    }
  }
  user["config"] = config_to_json(config).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  user["dataset"] = config.dataset;
  user["num_classes"] = std::to_string(data.num_classes);
  user["in_channels"] = std::to_string(data.in_channels);
  user["image_size"] = std::to_string(config.image_size);
  save_checkpoint(path, model, config.model, &optimizer, state.position.epoch, state.position.step, user);
}

TrainingState resume_training(const std::string& path, const TrainConfig& config, int64_t batches, Module& model,
                              Optimizer& optimizer, std::FILE* log) {
  SLAB_CHECK(fs::is_regular_file(path), "--resume '", config.resume, "': no checkpoint at '", path,
             "' (expected a checkpoint file or a run folder with checkpoints/latest.safetensors)");
  const CheckpointInfo info = load_checkpoint(path, model, config.model, &optimizer);
  const Metadata& user = info.user;
  nlohmann::json saved;
  try {
    saved = nlohmann::json::parse(metadata_value(user, "config", path));
  } catch (const nlohmann::json::exception& e) {
    SLAB_FAIL(path, ": its saved configuration is not JSON (", e.what(), ")");
  }
  check_resume_config(saved, config, path);
  check_resume_threads(user, config, path);
  TrainingState state;
  state.position.epoch = metadata_int(user, "loader.epoch", path);
  state.position.batch = metadata_int(user, "loader.batch", path);
  state.position.step = metadata_int(user, "global_step", path);
  state.sums.loss_sum = metadata_double(user, "epoch.loss_sum", path);
  state.sums.correct = metadata_int(user, "epoch.correct", path);
  state.sums.seen = metadata_int(user, "epoch.seen", path);
  state.sums.seconds = metadata_double(user, "epoch.seconds", path);
  state.elapsed_seconds = metadata_double(user, "elapsed_seconds", path);
  if (auto it = user.find("epoch.prior_pass"); it != user.end()) {
    PriorPassReport r;
    long long spike = 0, groups = 0, pruned = 0, prunable = 0;
    char extra = 0;
    SLAB_CHECK(std::sscanf(it->second.c_str(), "%lld %lld %lld %lld %c", &spike, &groups, &pruned, &prunable, &extra) == 4,
               path, ": metadata 'epoch.prior_pass' = '", it->second, "' is not four integers");
    r.spike_groups = spike;
    r.groups = groups;
    r.pruned_units = pruned;
    r.prunable_units = prunable;
    if (user.count("epoch.prior_pass.mac_shift") != 0) {
      r.slab_mac_fraction = metadata_double(user, "epoch.prior_pass.slab_mac_fraction", path);
      r.mac_shift = metadata_double(user, "epoch.prior_pass.mac_shift", path);
    }
    state.prior_pass = r;
  }
  SLAB_CHECK(state.position.batch >= 0 && state.position.batch <= batches, path, ": loader position batch ",
             state.position.batch, " is outside the ", batches, " batches of an epoch");
  check_state_fields(state, batches, path);
  SLAB_CHECK(state.position.epoch < config.epochs, "--resume '", config.resume, "': the checkpoint has finished ",
             state.position.epoch, " epochs, and --epochs is ", config.epochs, " (pass a larger --epochs to go on)");
  std::fprintf(log, "resumed:   %s at epoch %lld, batch %lld (step %lld)\n", path.c_str(),
               static_cast<long long>(state.position.epoch + 1), static_cast<long long>(state.position.batch),
               static_cast<long long>(state.position.step));
  return state;
}

}  // namespace slab::tools
