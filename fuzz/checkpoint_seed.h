// The run that the checkpoint targets start from: 2 epochs of SGD with momentum on 32
// synthetic 1x28x28 images (batch 16, so 2 batches an epoch) with mlp-784-4, written to a
// scratch run folder once per process. Its checkpoints/latest.safetensors is the seed that
// fuzz_checkpoint mutates; fuzz_config_json replaces its saved configuration.
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "tests/pattern_images.h"
#include "tools/trainer/run_setup.h"
#include "tools/trainer/trainer.h"

namespace slab::fuzz {

struct CheckpointRun {
  tools::TrainConfig config;
  std::string latest;  // the path of its checkpoints/latest.safetensors
  int64_t batches = 2;
  std::shared_ptr<Module> model;
  tools::OptimizerSetup optimizer;
  std::FILE* quiet = std::fopen("/dev/null", "w");
};

inline const CheckpointRun& checkpoint_run() {
  static const std::unique_ptr<CheckpointRun> run = [] {
    auto r = std::make_unique<CheckpointRun>();
    const tools::TrainingData data = testing::pattern_images(
        {"synthetic", 32, 32, 3, 160, 20}, [](int64_t label, int64_t y, int64_t) { return (y < 14) == (label < 2); });
    const std::string folder = scratch_path("run");
    std::filesystem::remove_all(folder);
    tools::ProgramDefaults defaults = testing::pattern_run_defaults("fuzz");
    const std::vector<std::string> flags = {"fuzz", "--model", "mlp-784-4", "--optimizer", "sgd", "--momentum", "0.9",
                                            "--epochs", "2", "--threads", "1", "--output", folder};
    tools::ParsedCommandLine parsed = tools::parse_train_command_line(defaults, flags);
    parsed.config.progress = "none";
    tools::run_training(parsed.config, &data, r->quiet);
    r->config = parsed.config;
    r->config.output.clear();
    r->config.resume = folder;
    r->latest = folder + "/checkpoints/latest.safetensors";
    r->model = tools::build_model(r->config, data.num_classes, data.in_channels);
    r->optimizer = tools::make_optimizer(r->config.optimizer, *r->model, 32, r->config.seed, r->config.epochs);
    return r;
  }();
  return *run;
}

// Reads and validates `path` as --resume does, into the run's model and optimizer.
inline void resume_from(const std::string& path) {
  const CheckpointRun& run = checkpoint_run();
  (void)tools::resume_training(path, run.config, run.batches, *run.model, *run.optimizer.optimizer, run.quiet);
}

}  // namespace slab::fuzz
