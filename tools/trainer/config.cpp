#include "tools/trainer/config.h"

#include <CLI/CLI.hpp>
#include <cmath>
#include <sstream>

#include "core/parse_number.h"
#include "core/allocator.h"
#include "core/device.h"
#include "models/factory.h"
#include "tools/trainer/errors.h"

namespace slab::tools {

namespace {

constexpr int kMaxThreads = 256;
// The largest ImageNet crop: a batch of 64 RGB float crops of 4096 x 4096 is 12 GiB, beyond
// which nothing trains on one machine; the memory limit refuses what this allows but the
// machine cannot hold.
constexpr int64_t kMaxImageSize = 4096;
const std::vector<std::string> kSchedules = {"constant", "step", "cosine", "cyclical"};
const std::vector<std::string> kProgressModes = {"auto", "bar", "lines", "none"};

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::string join(const std::vector<std::string>& list) {
  std::string text;
  for (const std::string& item : list) text += (text.empty() ? "" : ", ") + item;
  return text;
}

void add_flags(CLI::App& app, TrainConfig& c) {
  app.add_option("--data-dir", c.data_dir, "dataset folder")->capture_default_str();
  app.add_option("--model", c.model, "architecture: a registered model (listed below)")->capture_default_str();
  app.add_option("--epochs", c.epochs, "epochs to train")->capture_default_str();
  app.add_option("--batch-size", c.batch_size, "training examples per step")->capture_default_str();
  app.add_option("--eval-batch-size", c.eval_batch_size, "test examples per forward pass (0: max(batch size, 256))");
  app.add_option("--schedule", c.schedule,
                 "learning-rate schedule: constant, step, cosine or cyclical (default: cyclical for the samplers, "
                 "constant for vb-adaptive, cosine otherwise)");
  app.add_option("--warmup-epochs", c.warmup_epochs, "linear warm-up of the learning rate over this many epochs");
  app.add_option("--lr-step-epochs", c.lr_step_epochs, "step schedule: epochs between decays (0: epochs / 3)");
  app.add_option("--lr-gamma", c.lr_gamma, "step schedule: decay factor");
  add_optimizer_flags(app, c.optimizer);
  // A seed is a whole number >= 0: CLI11 would wrap "-1" to 2^64 - 1 silently.
  app.add_option("--seed", c.seed, "seed of initialisation, shuffling, augmentation and sampler noise (>= 0)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", c.threads, "CPU threads, 0 to 256 (0: OpenMP's default)");
  app.add_flag("--allow-thread-change", c.allow_thread_change,
               "with --resume: accept a thread count other than the checkpoint's (the results then differ in the last bits)");
  app.add_option("--max-memory", c.max_memory,
                 "most memory the run's tensors may hold, e.g. 6G or 512M (default: MemAvailable at start); a "
                 "model or batch that needs more is refused naming its size");
  app.add_option("--workers", c.workers, "data-loader threads (0: batches are built on the training thread)")
      ->capture_default_str();
  app.add_option("--output", c.output, "run folder (default: runs/<dataset>-<model>-<optimizer>-<date-time>)");
  app.add_option("--resume", c.resume, "continue from a checkpoint file or a run folder (its checkpoints/latest)");
  app.add_option("--device", c.device, "cpu or cuda (cuda needs a build with the CUDA backend and a GPU)")
      ->capture_default_str();
  app.add_option("--precision", c.precision,
                 "fp32, or bf16: convolutions and matrix products on bf16 inputs with float32 sums")
      ->capture_default_str();
  app.add_option("--train-limit", c.train_limit,
                 "train on the first n training examples only (0: all); an image folder takes every class in "
                 "turn (docs/data.md)");
  app.add_option("--test-limit", c.test_limit,
                 "evaluate on the first n test examples only (0: all); an image folder takes every class in turn");
  app.add_option("--holdout", c.holdout,
                 "keep the last n training examples out of training (slab-eval fits temperature scaling on them)");
  app.add_option("--max-steps", c.max_steps,
                 "stop after this many steps of this invocation, writing checkpoints/latest (resume later)");
  app.add_option("--checkpoint-every", c.checkpoint_every, "also write checkpoints/latest every n steps (0: per epoch)");
  app.add_option("--progress", c.progress, "auto (a bar on a terminal, lines otherwise), bar, lines or none")
      ->capture_default_str();
  if (c.dataset == "fashion-mnist" || c.dataset == "mnist")
    app.add_option("--dataset", c.dataset, "fashion-mnist or mnist (same files, different normalisation)")
        ->check(CLI::IsMember({"fashion-mnist", "mnist"}))
        ->capture_default_str();
  if (c.dataset == "imagenet")
    app.add_option("--image-size", c.image_size, "training crop size (evaluation: resize to 8/7 of it, centre crop)")
        ->capture_default_str();
}

}  // namespace

std::string default_schedule(const std::string& optimizer) {
  if (is_sampler(optimizer)) return "cyclical";
  if (optimizer == "vb-adaptive") return "constant";
  return "cosine";
}

ParsedCommandLine parse_train_command_line(const ProgramDefaults& defaults, const std::vector<std::string>& arguments) {
  ParsedCommandLine parsed;
  TrainConfig& c = parsed.config;
  c.program = defaults.program;
  c.dataset = defaults.dataset;
  c.data_dir = defaults.data_dir;
  c.model = defaults.model;
  c.epochs = defaults.epochs;
  c.batch_size = defaults.batch_size;
  c.workers = defaults.workers;
  c.image_size = defaults.image_size;
  c.optimizer.name = defaults.optimizer;

  CLI::App app(defaults.program + ": train a model on " + defaults.dataset +
                   " and write a run folder (config.json, metrics.csv, metrics.jsonl, checkpoints/, samples/, "
                   "summary.json)",
               defaults.program);
  app.allow_extras(false);
  add_flags(app, c);
  app.footer("Models (--model; models/factory.h, register_model adds one):\n" + model_help());
  std::vector<std::string> storage = arguments;
  if (storage.empty()) storage.push_back(defaults.program);
  std::vector<char*> argv;
  for (std::string& a : storage) argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& error) {
    std::ostringstream out, err;
    const int code = app.exit(error, out, err);
    parsed.exit_now = true;
    parsed.exit_code = code == 0 ? 0 : kExitUsage;
    parsed.message = out.str() + err.str();
    if (code != 0 && parsed.message.rfind("error", 0) != 0) parsed.message = "error: " + parsed.message;
    return parsed;
  }
  int64_t epochs = c.epochs;
  resolve_optimizer_defaults(app, c.optimizer, defaults.sgd_learning_rate, defaults.sampler_preset, &epochs);
  c.epochs = epochs;
  // Shrinking during training runs on the CPU: on a GPU sghmc-spl keeps its dense shape
  // unless --shrink on asks otherwise (which validation then refuses).
  if (c.optimizer.shrink_text.empty() && c.device != "cpu") c.optimizer.shrink = false;
  if (c.schedule.empty()) c.schedule = default_schedule(c.optimizer.name);
  validate_train_config(c);
  return parsed;
}

void validate_train_config(const TrainConfig& c) {
  SLAB_USAGE_CHECK(!c.data_dir.empty(), "--data-dir: expected a folder, got an empty string");
  SLAB_USAGE_CHECK(!c.model.empty(), "--model: expected a model name, got an empty string");
  SLAB_USAGE_CHECK(c.epochs > 0, "--epochs: expected a positive integer, got ", c.epochs);
  SLAB_USAGE_CHECK(c.batch_size > 0, "--batch-size: expected a positive integer, got ", c.batch_size);
  SLAB_USAGE_CHECK(c.eval_batch_size >= 0, "--eval-batch-size: expected an integer >= 0, got ", c.eval_batch_size);
  SLAB_USAGE_CHECK(c.train_limit >= 0, "--train-limit: expected an integer >= 0, got ", c.train_limit);
  SLAB_USAGE_CHECK(c.test_limit >= 0, "--test-limit: expected an integer >= 0, got ", c.test_limit);
  SLAB_USAGE_CHECK(c.holdout >= 0, "--holdout: expected an integer >= 0, got ", c.holdout);
  // OpenMP gives each thread its own stack: thousands of threads exhaust the address space
  // inside a parallel region instead of failing here.
  SLAB_USAGE_CHECK(c.threads >= 0 && c.threads <= kMaxThreads, "--threads: expected an integer in [0, ", kMaxThreads,
                   "] (0: OpenMP's default), got ", c.threads);
  SLAB_USAGE_CHECK(c.precision == "fp32" || c.precision == "bf16", "--precision: expected fp32 or bf16, got '",
                   c.precision, "'");
  SLAB_USAGE_CHECK(c.workers >= 0 && c.workers <= 64, "--workers: expected an integer in [0, 64], got ", c.workers);
  SLAB_USAGE_CHECK(c.max_steps >= 0, "--max-steps: expected an integer >= 0, got ", c.max_steps);
  SLAB_USAGE_CHECK(c.checkpoint_every >= 0, "--checkpoint-every: expected an integer >= 0, got ", c.checkpoint_every);
  SLAB_USAGE_CHECK(contains(kSchedules, c.schedule), "--schedule: expected one of ", join(kSchedules), ", got '",
                   c.schedule, "'");
  SLAB_USAGE_CHECK(contains(kProgressModes, c.progress), "--progress: expected one of ", join(kProgressModes),
                   ", got '", c.progress, "'");
  SLAB_USAGE_CHECK(c.warmup_epochs >= 0 && c.warmup_epochs <= c.epochs,
                   "--warmup-epochs: expected an integer in [0, --epochs = ", c.epochs, "], got ", c.warmup_epochs);
  SLAB_USAGE_CHECK(c.lr_step_epochs >= 0, "--lr-step-epochs: expected an integer >= 0, got ", c.lr_step_epochs);
  SLAB_USAGE_CHECK(c.lr_gamma > 0 && c.lr_gamma <= 1, "--lr-gamma: expected a value in (0, 1], got ", c.lr_gamma);
  if (c.dataset == "imagenet")
    SLAB_USAGE_CHECK(c.image_size >= 8 && c.image_size <= kMaxImageSize, "--image-size: expected an integer in [8, ",
                     kMaxImageSize, "], got ", c.image_size);
  if (!c.max_memory.empty()) (void)parse_byte_size(c.max_memory);
  if (is_sampler(c.optimizer.name)) {
    SLAB_USAGE_CHECK(c.optimizer.cycles <= c.epochs, "--cycles: ", c.optimizer.cycles, " cycles do not fit in ",
                     c.epochs, " epochs (at most one cycle per epoch)");
    SLAB_USAGE_CHECK(c.optimizer.sample_from_epoch <= c.epochs, "--sample-from-epoch: ", c.optimizer.sample_from_epoch,
                     " is after the last epoch (", c.epochs, "), so no posterior sample would be saved");
  }
  try {
    (void)parse_device(c.device);
  } catch (const Error& e) {
    const std::string what = e.what();
    throw UsageError(what.rfind("--device", 0) == 0 ? what : "--device: " + what);
  }
  validate_optimizer_settings(c.optimizer);
  SLAB_USAGE_CHECK(!c.optimizer.shrink || c.device == "cpu",
                   "--shrink on: shrinking during training runs on the CPU; pass --shrink off with --device ", c.device);
}

uint64_t parse_byte_size(const std::string& text) {
  double value = 0;
  const size_t used = parse_double_prefix(text, value);
  std::string unit = text.substr(used);
  for (const char* suffix : {"iB", "B"})
    if (unit.size() > std::char_traits<char>::length(suffix) && unit.ends_with(suffix))
      unit.resize(unit.size() - std::char_traits<char>::length(suffix));
  double scale = 0;
  if (unit.empty()) scale = 1;
  else if (unit == "K" || unit == "k") scale = 1024.0;
  else if (unit == "M" || unit == "m") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") scale = 1024.0 * 1024 * 1024 * 1024;
  const double bytes = value * scale;
  SLAB_USAGE_CHECK(used > 0 && scale > 0 && std::isfinite(bytes) && bytes >= 1 && bytes < 0x1p63, "--max-memory: expected a size such as 6G, 512M or 1000000 (bytes), got '",
                   text, "'");
  return static_cast<uint64_t>(bytes);
}

std::string apply_memory_limit(const TrainConfig& config) {
  if (!config.max_memory.empty()) {
    const uint64_t bytes = parse_byte_size(config.max_memory);
    set_host_memory_limit(bytes, "--max-memory " + config.max_memory);
    return "limit " + describe_bytes(static_cast<double>(bytes)) + " (--max-memory)";
  }
  const size_t available = available_host_memory();
  set_host_memory_limit(available, "the memory available at start, MemAvailable; --max-memory sets another");
  return available > 0 ? "limit " + describe_bytes(static_cast<double>(available)) + " (MemAvailable at start)"
                       : std::string("no limit (MemAvailable unknown)");
}

nlohmann::json config_to_json(const TrainConfig& c) {
  const OptimizerSettings& o = c.optimizer;
  nlohmann::json j;
  j["program"] = c.program;
  j["dataset"] = c.dataset;
  j["data_dir"] = c.data_dir;
  j["train_limit"] = c.train_limit;
  j["test_limit"] = c.test_limit;
  if (c.holdout > 0) j["holdout"] = c.holdout;  // only when used: checkpoints of other runs keep their bytes
  if (c.dataset == "imagenet") j["image_size"] = c.image_size;
  j["model"] = c.model;
  j["epochs"] = c.epochs;
  j["batch_size"] = c.batch_size;
  j["eval_batch_size"] = c.evaluation_batch_size();
  j["seed"] = c.seed;
  j["threads"] = c.threads;
  j["workers"] = c.workers;
  j["device"] = c.device;
  j["precision"] = c.precision;
  j["schedule"] = {{"name", c.schedule},
                   {"warmup_epochs", c.warmup_epochs},
                   {"warmup_start_factor", c.warmup_start_factor},
                   {"lr_step_epochs", c.lr_step_epochs},
                   {"lr_gamma", c.lr_gamma}};
  nlohmann::json opt;
  opt["name"] = o.name;
  opt["lr"] = o.learning_rate;
  opt["momentum"] = o.momentum;
  opt["nesterov"] = o.nesterov;
  opt["weight_decay"] = o.weight_decay;
  opt["betas"] = o.betas;
  opt["eps"] = o.eps;
  opt["temperature"] = o.temperature;
  opt["eta"] = o.eta;
  opt["hessian_init"] = o.hessian_init;
  opt["clip_radius"] = o.clip_radius;
  opt["vb"] = {{"gamma", o.vb_gamma}, {"kappa", o.vb_kappa}, {"alpha", o.vb_alpha}};
  opt["cycles"] = o.cycles;
  opt["samples_per_cycle"] = o.samples_per_cycle;
  opt["sample_from_epoch"] = o.sample_from_epoch;
  opt["noise_epochs"] = o.noise_epochs;
  if (o.name == "sghmc-spl" || o.name == "sghmc") {
    opt["preset"] = o.preset;
    opt["prior"] = {{"lambda1", o.prior.lambda1},
                    {"lambda0", o.prior.lambda0},
                    {"soft_threshold", o.prior.soft_threshold},
                    {"hard_threshold", o.prior.hard_threshold_conv},
                    {"hard_threshold_linear", o.prior.hard_threshold_linear},
                    {"hard_test", hard_test_name(o.prior.hard_test)},
                    {"threshold_scale", threshold_scale_name(o.prior.threshold_scale)},
                    {"estep", estep_name(o.prior.estep)},
                    {"theta", o.prior.theta},
                    {"mac_budget", o.prior.mac_budget},
                    {"warm_up", o.prior.warm_up},
                    {"cool_down", o.prior.cool_down},
                    {"prune_bn", o.prior.prune_bn}};
  }
  if (o.name == "sghmc-spl") opt["shrink"] = o.shrink;
  j["optimizer"] = opt;
  return j;
}

std::string describe_config(const TrainConfig& c) {
  std::ostringstream out;
  out << "data:      " << c.dataset << " from " << c.data_dir;
  // An image folder is sorted by class: its limit takes every class in turn (docs/data.md).
  const char* which = c.dataset == "imagenet" ? ", " : ", first ";
  const char* how = c.dataset == "imagenet" ? " (round-robin over the classes)" : "";
  if (c.train_limit > 0) out << which << c.train_limit << " training examples" << how;
  if (c.test_limit > 0) out << which << c.test_limit << " test examples" << how;
  if (c.holdout > 0) out << ", last " << c.holdout << " training examples held out";
  out << "\nmodel:     " << c.model << "\nrun:       " << c.epochs << " epochs, batch " << c.batch_size << ", seed "
      << c.seed << ", device " << c.device << ", " << c.workers << " loader workers\nschedule:  " << c.schedule;
  if (c.warmup_epochs > 0) out << " with " << c.warmup_epochs << " warm-up epochs";
  out << '\n';
  return out.str();
}

}  // namespace slab::tools
