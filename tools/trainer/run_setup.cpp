#include "tools/trainer/run_setup.h"

#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "core/autograd.h"
#include "core/backend.h"
#include "core/ops.h"
#include "models/factory.h"
#include "tools/trainer/errors.h"

#ifdef SLAB_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

namespace slab::tools {

namespace {

namespace fs = std::filesystem;

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", &local);
  return text;
}

std::string choose_output(const TrainConfig& c, const std::string& checkpoint_path) {
  if (!c.output.empty()) return c.output;
  if (!c.resume.empty()) {
    if (fs::is_directory(c.resume)) return c.resume;
    const fs::path parent = fs::path(checkpoint_path).parent_path();
    if (parent.filename() == "checkpoints" && holds_run(parent.parent_path().string()))
      return parent.parent_path().string();
  }
  const std::string base = "runs/" + c.dataset + "-" + c.model + "-" + c.optimizer.name + "-" + timestamp();
  std::string candidate = base;
  for (int suffix = 2; fs::exists(candidate); ++suffix) candidate = base + "-" + std::to_string(suffix);
  return candidate;
}

}  // namespace

Device checked_device(const std::string& text) {
  const Device device = parse_device(text);
  if (device.is_cuda()) {
#ifdef SLAB_WITH_CUDA
    SLAB_CHECK(cuda_available(), "--device ", text, ": no GPU is visible (", cuda::no_device_reason(), ")");
#else
    throw UsageError("--device " + text +
                     ": this build has no CUDA backend (configure with -DSLAB_CUDA=ON on a machine with nvcc and "
                     "cuDNN), use --device cpu");
#endif
  }
  return device;
}

std::shared_ptr<Module> build_model(const TrainConfig& c, int64_t num_classes, int64_t in_channels) {
  try {
    return make_model(c.model, num_classes, in_channels, c.seed);
  } catch (const Error& e) {
    throw UsageError(std::string("--model: ") + e.what());
  }
}

void check_model_fits(Module& model, const std::string& name, const Shape& example, Device device) {
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  try {
    (void)model(zeros(example, {DType::f32, device, false}));
  } catch (const Error& e) {
    model.train(was_training);
    throw UsageError(detail::concat("--model ", name, " does not accept inputs of shape ", example, ": ", e.what()));
  }
  model.train(was_training);
}

std::shared_ptr<const Schedule> make_schedule(const TrainConfig& c, int64_t batches) {
  const double base = c.optimizer.learning_rate;
  const int64_t total = c.epochs * batches;
  std::shared_ptr<const Schedule> schedule;
  if (c.schedule == "constant") {
    schedule = std::make_shared<ConstantSchedule>(base);
  } else if (c.schedule == "step") {
    const int64_t epochs_per_step = c.lr_step_epochs > 0 ? c.lr_step_epochs : std::max<int64_t>(1, c.epochs / 3);
    schedule = std::make_shared<StepSchedule>(base, epochs_per_step * batches, c.lr_gamma);
  } else if (c.schedule == "cosine") {
    schedule = std::make_shared<CosineSchedule>(base, total);
  } else {
    schedule = std::make_shared<CyclicalCosineSchedule>(base, total, c.optimizer.cycles);
  }
  if (c.warmup_epochs > 0)
    schedule = std::make_shared<LinearWarmupSchedule>(schedule, c.warmup_epochs * batches, c.warmup_start_factor);
  return schedule;
}

data::LoaderOptions training_loader_options(const TrainConfig& config) {
  data::LoaderOptions options;
  options.batch_size = config.batch_size;
  options.shuffle = true;
  options.workers = config.workers;
  options.seed = config.seed;
  return options;
}

data::LoaderOptions test_loader_options(const TrainConfig& config) {
  data::LoaderOptions options;
  options.batch_size = config.evaluation_batch_size();
  options.shuffle = false;
  options.workers = config.workers;
  options.seed = config.seed;
  return options;
}

int64_t loss_read_interval(Device device) {
  if (const char* text = std::getenv("SLAB_LOSS_READ_EVERY"); text != nullptr && *text != '\0') {
    char* end = nullptr;
    const long long value = std::strtoll(text, &end, 10);
    SLAB_CHECK(end != text && *end == '\0' && value >= 1, "SLAB_LOSS_READ_EVERY='", text,
               "': expected a whole number of steps >= 1");
    return value;
  }
  return device.is_cpu() ? 1 : 50;
}

RunFolder open_run_folder(const TrainConfig& config, const std::string& checkpoint_path, int64_t resumed_epochs) {
  const std::string output = choose_output(config, checkpoint_path);
  const bool same_run = !config.resume.empty() && holds_run(output) &&
                        (fs::is_directory(config.resume) ? fs::equivalent(config.resume, output)
                                                         : fs::path(checkpoint_path).parent_path().parent_path() ==
                                                               fs::path(output));
  // A run that failed before its first checkpoint left nothing to continue: it starts again.
  const bool failed_before_checkpoint = holds_run(output) && !holds_checkpoint(output);
  SLAB_USAGE_CHECK(!holds_run(output) || same_run || failed_before_checkpoint, "--output '", output,
                   "' already holds a run (config.json); choose another folder, or continue it with --resume ", output);
  if (failed_before_checkpoint) {
    std::error_code ignored;
    fs::remove_all(fs::path(output) / "samples", ignored);
  }
  RunFolder run(output, same_run);
  if (same_run) run.keep_epochs(resumed_epochs);
  return run;
}

void write_run_config(const RunFolder& run, const TrainConfig& config, const TrainingData& data, int64_t batches,
                      double temperature, const std::string& checkpoint_path) {
  nlohmann::ordered_json saved = nlohmann::ordered_json::parse(
      config_to_json(config).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  saved["train_size"] = data.train->size();
  saved["test_size"] = data.test->size();
  if (data.holdout) saved["holdout_size"] = data.holdout->size();
  saved["num_classes"] = data.num_classes;
  saved["in_channels"] = data.in_channels;
  saved["steps_per_epoch"] = batches;
  saved["temperature_value"] = temperature;
  saved["backend"] = backend_description();
  if (!checkpoint_path.empty()) saved["resumed_from"] = checkpoint_path;
  run.write_json("config.json", saved);
}

}  // namespace slab::tools
