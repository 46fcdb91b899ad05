// The training programs' configuration: the flags every slab-train-* program takes, the
// defaults each program fixes for its dataset, and their resolution into one TrainConfig
// that the shared loop (tools/trainer/trainer.h) runs and the run folder records as
// config.json.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/trainer/optimizer_factory.h"

namespace slab::tools {

// What a program fixes: its dataset kind and the defaults of its flags.
struct ProgramDefaults {
  std::string program;   // "slab-train-mnist", for the help text and the default run folder
  std::string dataset;   // "fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet"
  std::string data_dir;
  std::string model;
  int64_t epochs = 2;
  int64_t batch_size = 128;
  double sgd_learning_rate = 0.1;  // --lr of sgd (the other optimizers have their own)
  std::string sampler_preset = "slab-cifar";  // sghmc-spl's preset when --preset is not given
  std::string optimizer = "sgd";
  int workers = 0;
  int64_t image_size = 0;  // imagenet: the training crop (224)
};

struct TrainConfig {
  // data
  std::string program;
  std::string dataset;
  std::string data_dir;
  int64_t train_limit = 0;  // > 0: train on the first n examples only
  int64_t test_limit = 0;   // > 0: evaluate on the first n test examples only
  int64_t holdout = 0;      // > 0: the last n training examples (after --train-limit) are
                            // never trained on; slab-eval fits temperature scaling on them
  int64_t image_size = 0;   // imagenet crop size
  int workers = 0;
  // model and run
  std::string model;
  int64_t epochs = 2;
  int64_t batch_size = 128;
  int64_t eval_batch_size = 0;  // 0: max(batch size, 256)
  uint64_t seed = 0;
  int threads = 0;              // 0: OpenMP's default
  std::string device = "cpu";
  std::string precision = "fp32";  // of convolutions and matrix products: fp32 or bf16 (core/precision.h)
  std::string output;           // the run folder; "" picks runs/<dataset>-<model>-<optimizer>-<time>
  std::string resume;           // a checkpoint file or a run folder
  bool allow_thread_change = false;  // --resume with another thread count than the checkpoint's
  std::string max_memory;  // --max-memory: "" = MemAvailable at start; see parse_byte_size
  int64_t max_steps = 0;        // > 0: stop after this many steps of this invocation (checkpoint, exit)
  int64_t checkpoint_every = 0; // > 0: also write latest every this many steps
  std::string progress = "auto";  // auto (bar on a terminal), bar, lines, none
  // schedule
  std::string schedule;         // constant, step, cosine, cyclical ("" : the optimizer's default)
  int64_t warmup_epochs = 0;
  double warmup_start_factor = 0.1;
  int64_t lr_step_epochs = 0;   // step: decay every this many epochs (0: epochs / 3)
  double lr_gamma = 0.1;        // step: the decay factor
  // optimizer (and the sampler's prior)
  OptimizerSettings optimizer;

  // The effective eval batch size.
  int64_t evaluation_batch_size() const { return eval_batch_size > 0 ? eval_batch_size : std::max<int64_t>(batch_size, 256); }
};

// Parses a program's command line (argv[0] is the program). Usage errors are UsageError
// (exit 2); --help is reported through `help` (printed text) with the exit code 0.
struct ParsedCommandLine {
  TrainConfig config;
  bool exit_now = false;  // --help or a parse error: print `message` and exit with `exit_code`
  int exit_code = 0;
  std::string message;
};
ParsedCommandLine parse_train_command_line(const ProgramDefaults& defaults, const std::vector<std::string>& arguments);

// Throws UsageError naming the flag when a value is out of range.
void validate_train_config(const TrainConfig& config);

// The default schedule of an optimizer: cyclical for the samplers, constant for
// vb-adaptive, cosine otherwise.
std::string default_schedule(const std::string& optimizer);

// "6G", "512M", "1.5T", "1000000": bytes (binary units K, M, G, T, with or without a trailing
// "iB"/"B"); throws UsageError naming --max-memory for anything else or for 0.
uint64_t parse_byte_size(const std::string& text);

// The memory limit of the run's tensors (core/allocator.h): --max-memory when given, else
// MemAvailable at start, else none. Returns a line for the log ("memory:   limit ...").
std::string apply_memory_limit(const TrainConfig& config);

nlohmann::json config_to_json(const TrainConfig& config);
// The configuration as the programs print it (several lines).
std::string describe_config(const TrainConfig& config);

}  // namespace slab::tools
