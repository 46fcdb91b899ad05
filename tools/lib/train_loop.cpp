#include "tools/lib/train_loop.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>

#include "bayes/samples.h"
#include "bayes/sparsity.h"
#include "core/autograd.h"
#include "core/backend.h"
#include "core/ops.h"
#include "data/loader.h"
#include "models/factory.h"
#include "optim/checkpoint.h"
#include "optim/csghmc.h"
#include "optim/schedule.h"
#include "tools/lib/train_errors.h"
#include "tools/lib/train_evaluate.h"
#include "tools/lib/train_progress.h"
#include "tools/lib/train_run_folder.h"
#include "tools/lib/train_step_stats.h"

#ifdef SLAB_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

namespace slab::tools {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---- Ctrl-C: finish the step, write checkpoints/latest, exit 130 -------------------------
std::atomic<bool> interrupt_requested{false};

extern "C" void on_interrupt(int) {
  if (interrupt_requested.load()) {  // a second Ctrl-C: stop at once
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  interrupt_requested.store(true);
}

class InterruptHandler {
 public:
  InterruptHandler() {
    interrupt_requested.store(false);
    previous_ = std::signal(SIGINT, on_interrupt);
  }
  ~InterruptHandler() { std::signal(SIGINT, previous_); }
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

 private:
  void (*previous_)(int) = SIG_DFL;
};

// ---- exact numbers in checkpoint metadata ----------------------------------------------
std::string exact(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%a", value);  // hexadecimal: round-trips every bit
  return text;
}

const std::string& metadata_value(const Metadata& metadata, const std::string& key, const std::string& path) {
  auto it = metadata.find(key);
  SLAB_CHECK(it != metadata.end(), path, ": not a checkpoint of a slab training program (no '", key,
             "' in its metadata)");
  return it->second;
}

double metadata_double(const Metadata& metadata, const std::string& key, const std::string& path) {
  const std::string& text = metadata_value(metadata, key, path);
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  SLAB_CHECK(end != text.c_str() && *end == '\0', path, ": metadata '", key, "' = '", text, "' is not a number");
  return value;
}

int64_t metadata_int(const Metadata& metadata, const std::string& key, const std::string& path) {
  const std::string& text = metadata_value(metadata, key, path);
  try {
    size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  SLAB_FAIL(path, ": metadata '", key, "' = '", text, "' is not an integer");
}

// ---- the running sums of the epoch in progress ------------------------------------------
struct EpochSums {
  double loss_sum = 0;  // sum over examples of the batch-mean loss times the batch size
  int64_t correct = 0;
  int64_t seen = 0;
  double seconds = 0;   // training time of the epoch before this invocation
  double loss() const { return seen ? loss_sum / static_cast<double>(seen) : 0.0; }
  double accuracy() const { return seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0; }
};

struct Position {
  int64_t epoch = 0;  // the epoch in progress (or next)
  int64_t batch = 0;  // the next batch of that epoch
  int64_t step = 0;   // global steps done
};

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

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", &local);
  return text;
}

// The run folder: --output, else the resumed run's folder, else a fresh runs/<...>.
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

// How many steps the loop runs between reads of the per-step losses and predictions
// (tools/lib/train_step_stats.h). CPU: 1, so the loss is checked before each backward
// pass. GPU: 50, since each read waits for all queued work (the loop also reads where the
// progress lines print, at the end of the epoch, and before any checkpoint or stop).
// SLAB_LOSS_READ_EVERY=K overrides it on any device (K = 1 on a GPU catches a diverging
// step before its backward pass; K > 1 on the CPU exercises the deferred reads).
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

std::shared_ptr<Module> build_model(const TrainConfig& c, int64_t num_classes, int64_t in_channels) {
  try {
    return make_model(c.model, num_classes, in_channels, c.seed);
  } catch (const Error& e) {
    throw UsageError(std::string("--model: ") + e.what());
  }
}

// One forward pass on an example of the data's shape, so a model that does not fit the
// images (small-cnn on 32x32) fails before training with a message naming --model.
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

// The fields a resumed run must share with the run that wrote the checkpoint: they fix the
// data order and what a loader position means.
void check_resume_config(const nlohmann::json& saved, const TrainConfig& c, const std::string& path) {
  auto same = [&](const char* key, const nlohmann::json& now, const char* flag) {
    if (!saved.contains(key)) return;
    SLAB_CHECK(saved[key] == now, "--resume '", path, "': the checkpoint was trained with ", flag, " ",
               saved[key].dump(), ", this run has ", now.dump(), " (a resumed run must keep it)");
  };
  same("dataset", c.dataset, "dataset");
  same("batch_size", c.batch_size, "--batch-size");
  same("seed", c.seed, "--seed");
  same("train_limit", c.train_limit, "--train-limit");
}

}  // namespace

std::string resume_checkpoint_path(const std::string& resume) {
  if (fs::is_directory(resume)) return (fs::path(resume) / "checkpoints" / "latest.safetensors").string();
  return resume;
}

TrainResult run_training(const TrainConfig& config, const TrainingData* given_data, std::FILE* log) {
  validate_train_config(config);
  const Clock::time_point started = Clock::now();
  if (config.threads > 0) omp_set_num_threads(config.threads);
  const Device device = checked_device(config.device);
  InterruptHandler interrupt_handler;

  std::fprintf(log, "%s\nbackend:   %s\n%s", config.program.c_str(), backend_description().c_str(),
               describe_config(config).c_str());
  std::fflush(log);

  // The model first when the dataset fixes its classes: a bad --model is reported before
  // any data is read.
  std::shared_ptr<Module> model;
  if (!given_data && dataset_num_classes(config.dataset) > 0)
    model = build_model(config, dataset_num_classes(config.dataset), dataset_in_channels(config.dataset));
  TrainingData loaded;
  if (!given_data)
    loaded = load_training_data(config.dataset, config.data_dir, config.image_size, config.train_limit,
                                config.test_limit);
  const TrainingData& data = given_data ? *given_data : loaded;
  if (!model) model = build_model(config, data.num_classes, data.in_channels);
  if (!device.is_cpu()) model->to(device);
  check_model_fits(*model, config.model, data.example_shape, device);
  std::fprintf(log, "train:     %s, %lld examples, %s\ntest:      %s, %lld examples\nparameters: %lld\n",
               data.train->name().c_str(), static_cast<long long>(data.train->size()),
               data.train_pipeline.describe().c_str(), data.test->name().c_str(),
               static_cast<long long>(data.test->size()), static_cast<long long>(model->parameter_count()));

  const double data_size = static_cast<double>(data.train->size());
  OptimizerSetup setup = make_optimizer(config.optimizer, *model, data_size, config.seed);
  Optimizer& optimizer = *setup.optimizer;
  std::fprintf(log, "optimizer: %s\n", describe_optimizer(config.optimizer, data_size).c_str());

  data::LoaderOptions train_options;
  train_options.batch_size = config.batch_size;
  train_options.shuffle = true;
  train_options.workers = config.workers;
  train_options.seed = config.seed;
  data::Loader train_loader(data.train, data.train_pipeline, train_options);
  data::LoaderOptions test_options;
  test_options.batch_size = config.evaluation_batch_size();
  test_options.shuffle = false;
  test_options.workers = config.workers;
  test_options.seed = config.seed;
  data::Loader test_loader(data.test, data.test_pipeline, test_options);
  const int64_t batches = train_loader.batches_per_epoch();
  const std::shared_ptr<const Schedule> schedule = make_schedule(config, batches);
  std::fprintf(log, "lr:        %s, %lld steps per epoch\n", schedule->describe().c_str(),
               static_cast<long long>(batches));

  // Resume.
  Position position;
  EpochSums sums;
  double seconds_before = 0;  // training time of earlier invocations
  std::string checkpoint_path;
  if (!config.resume.empty()) {
    checkpoint_path = resume_checkpoint_path(config.resume);
    SLAB_CHECK(fs::is_regular_file(checkpoint_path), "--resume '", config.resume, "': no checkpoint at '",
               checkpoint_path, "' (expected a checkpoint file or a run folder with checkpoints/latest.safetensors)");
    const CheckpointInfo info = load_checkpoint(checkpoint_path, *model, config.model, &optimizer);
    const Metadata& user = info.user;
    nlohmann::json saved;
    try {
      saved = nlohmann::json::parse(metadata_value(user, "config", checkpoint_path));
    } catch (const nlohmann::json::exception& e) {
      SLAB_FAIL(checkpoint_path, ": its saved configuration is not JSON (", e.what(), ")");
    }
    check_resume_config(saved, config, checkpoint_path);
    position.epoch = metadata_int(user, "loader.epoch", checkpoint_path);
    position.batch = metadata_int(user, "loader.batch", checkpoint_path);
    position.step = metadata_int(user, "global_step", checkpoint_path);
    sums.loss_sum = metadata_double(user, "epoch.loss_sum", checkpoint_path);
    sums.correct = metadata_int(user, "epoch.correct", checkpoint_path);
    sums.seen = metadata_int(user, "epoch.seen", checkpoint_path);
    sums.seconds = metadata_double(user, "epoch.seconds", checkpoint_path);
    seconds_before = metadata_double(user, "elapsed_seconds", checkpoint_path);
    SLAB_CHECK(position.batch >= 0 && position.batch <= batches, checkpoint_path, ": loader position batch ",
               position.batch, " is outside the ", batches, " batches of an epoch");
    SLAB_CHECK(position.epoch < config.epochs, "--resume '", config.resume, "': the checkpoint has finished ",
               position.epoch, " epochs, and --epochs is ", config.epochs, " (pass a larger --epochs to go on)");
    std::fprintf(log, "resumed:   %s at epoch %lld, batch %lld (step %lld)\n", checkpoint_path.c_str(),
                 static_cast<long long>(position.epoch + 1), static_cast<long long>(position.batch),
                 static_cast<long long>(position.step));
  }

  const std::string output = choose_output(config, checkpoint_path);
  const bool same_run = !config.resume.empty() && holds_run(output) &&
                        (fs::is_directory(config.resume) ? fs::equivalent(config.resume, output)
                                                         : fs::path(checkpoint_path).parent_path().parent_path() ==
                                                               fs::path(output));
  SLAB_USAGE_CHECK(!holds_run(output) || same_run, "--output '", output,
                   "' already holds a run (config.json); choose another folder, or continue it with --resume ", output);
  RunFolder run(output, same_run);
  if (same_run) run.keep_epochs(position.epoch);
  {
    nlohmann::ordered_json saved_config = nlohmann::ordered_json::parse(config_to_json(config).dump());
    saved_config["train_size"] = data.train->size();
    saved_config["test_size"] = data.test->size();
    saved_config["num_classes"] = data.num_classes;
    saved_config["in_channels"] = data.in_channels;
    saved_config["steps_per_epoch"] = batches;
    saved_config["temperature_value"] = setup.temperature;
    saved_config["backend"] = backend_description();
    if (!checkpoint_path.empty()) saved_config["resumed_from"] = checkpoint_path;
    run.write_json("config.json", saved_config);
  }
  std::fprintf(log, "run folder: %s\n", output.c_str());
  std::fflush(log);

  const std::string config_text = config_to_json(config).dump();
  auto save_state = [&](const std::string& path, const Position& at, const EpochSums& at_sums, double elapsed) {
    Metadata user;
    user["loader.epoch"] = std::to_string(at.epoch);
    user["loader.batch"] = std::to_string(at.batch);
    user["global_step"] = std::to_string(at.step);
    user["epoch.loss_sum"] = exact(at_sums.loss_sum);
    user["epoch.correct"] = std::to_string(at_sums.correct);
    user["epoch.seen"] = std::to_string(at_sums.seen);
    user["epoch.seconds"] = exact(at_sums.seconds);
    user["elapsed_seconds"] = exact(elapsed);
    user["config"] = config_text;
    user["dataset"] = config.dataset;
    user["num_classes"] = std::to_string(data.num_classes);
    user["in_channels"] = std::to_string(data.in_channels);
    user["image_size"] = std::to_string(config.image_size);
    save_checkpoint(path, *model, config.model, &optimizer, at.epoch, at.step, user);
  };

  auto* csghmc = dynamic_cast<Csghmc*>(&optimizer);
  const int64_t epochs_per_cycle = std::max<int64_t>(1, config.epochs / config.optimizer.cycles);
  const int64_t noise_epochs =
      config.optimizer.noise_epochs > 0
          ? config.optimizer.noise_epochs
          : std::min(epochs_per_cycle,
                     std::max<int64_t>(config.optimizer.samples_per_cycle, (epochs_per_cycle + 9) / 10));
  const bool sampler = is_sampler(config.optimizer.name);
  const bool predicts_at_mean = config.optimizer.name == "ivon" || config.optimizer.name == "vb-adaptive";

  Progress progress(parse_progress_mode(config.progress), config.epochs, batches, log);
  PendingStepStats pending;
  const int64_t read_every = loss_read_interval(device);
  TrainResult result;
  result.model = model;
  result.run_folder = output;
  std::map<std::string, CachedSample> cached_samples;
  const int64_t total_steps = config.epochs * batches;
  int64_t steps_this_invocation = 0;
  Clock::time_point invocation_start = Clock::now();
  std::optional<ClassificationMetrics> last_test;
  if (!run.records().empty()) {
    const auto& r = run.records().back();
    ClassificationMetrics m;
    m.accuracy = r.value("test_acc", 0.0);
    m.nll = r.value("test_loss", 0.0);
    last_test = m;
  }

  auto elapsed_now = [&] { return seconds_before + std::chrono::duration<double>(Clock::now() - started).count(); };
  // Stops for --max-steps or Ctrl-C, at the position `at`, with checkpoints/latest written.
  auto stop_here = [&](const Position& at, const EpochSums& at_sums) {
    progress.clear();
    save_state(run.checkpoint("latest"), at, at_sums, elapsed_now());
    result.interrupted = interrupt_requested.load();
    result.steps = at.step;
    result.epochs_done = at.epoch;
    result.seconds = elapsed_now();
    if (last_test) result.test = *last_test;
    char line[512];
    std::snprintf(line, sizeof line, "stopped=%s step=%lld epoch=%lld checkpoint=%s",
                  result.interrupted ? "interrupt" : "max-steps", static_cast<long long>(at.step),
                  static_cast<long long>(at.epoch), run.checkpoint("latest").c_str());
    result.summary_line = line;
    std::fprintf(log, "%s after step %lld: checkpoint written to %s (continue with --resume %s)\n%s\n",
                 result.interrupted ? "interrupted" : "stopped", static_cast<long long>(at.step),
                 run.checkpoint("latest").c_str(), output.c_str(), line);
    std::fflush(log);
    return result;
  };
  auto should_stop = [&] {
    return interrupt_requested.load() || (config.max_steps > 0 && steps_this_invocation >= config.max_steps);
  };

  for (int64_t epoch = position.epoch; epoch < config.epochs; ++epoch) {
    const int64_t first_batch = epoch == position.epoch ? position.batch : 0;
    if (first_batch == 0) sums = EpochSums{};
    Position at{epoch, first_batch, position.step};
    if (should_stop()) return stop_here(at, sums);

    // 1. Once per epoch, before its first step.
    std::optional<PriorPassReport> prior_report;
    if (setup.prior && first_batch == 0) {
      PriorPassReport report;
      if (setup.prior->begin_epoch(epoch, optimizer, &report)) prior_report = report;
    }
    if (csghmc) csghmc->set_noise(Csghmc::sampling_phase(epoch, epochs_per_cycle, noise_epochs));

    // 2. The steps. Each step's loss and argmax are recorded in `pending` and read back
    // every `read_every` steps (tools/lib/train_step_stats.h); the finite-loss check, the
    // epoch's sums and the progress display happen at those reads. Every checkpoint and
    // stop is preceded by a read, so no state is written past an unchecked loss.
    model->train();
    train_loader.start_epoch(epoch, first_batch);
    const Clock::time_point epoch_start = Clock::now();
    int64_t images_this_invocation = 0;
    double lr = schedule->lr(position.step);
    data::Batch batch;
    auto read_pending = [&] {
      const int64_t last_step = position.step;  // steps done when the read happens
      for (const PendingStepStats::Step& s : pending.read()) {
        if (!std::isfinite(s.loss)) {
          progress.clear();
          const std::string latest = run.checkpoint("latest");
          const std::string found =
              read_every > 1 ? detail::concat(" (losses are read back every ", read_every,
                                              " steps: found at the read after step ", last_step, ")")
                             : std::string();
          SLAB_FAIL("the training loss is ", s.loss, " at epoch ", s.where.epoch + 1, ", batch ", s.where.batch + 1,
                    " of ", batches, " (step ", s.where.step + 1, ", lr ", s.where.lr, ")", found,
                    ": training diverged; lower --lr. ",
                    fs::exists(latest) ? "The last good state is in " + latest + " (not overwritten)."
                                       : std::string("No checkpoint was written."));
        }
        sums.loss_sum += s.loss * static_cast<double>(s.examples);
        sums.correct += s.correct;
        sums.seen += s.examples;
      }
    };
    while (train_loader.next(batch)) {
      lr = schedule->lr(position.step);
      optimizer.set_learning_rate(lr);
      const Tensor images = device.is_cpu() ? batch.images : batch.images.to(device);
      const Tensor labels = device.is_cpu() ? batch.labels : batch.labels.to(device);
      optimizer.zero_grad();
      const Tensor logits = (*model)(images);
      const Tensor loss = cross_entropy(logits, labels);
      {
        NoGradGuard no_grad;
        pending.add(loss, argmax(logits.detach(), 1), batch.labels, {epoch, batch.index, position.step, lr});
      }
      // On the CPU (read_every 1) the loss is checked before backward, as it always was;
      // on a GPU the read waits for the step, so it comes after the optimizer's kernels
      // are queued.
      bool read_now = read_every == 1;
      if (read_now) read_pending();
      loss.backward();
      optimizer.step();
      images_this_invocation += batch.labels.numel();
      ++position.step;
      ++steps_this_invocation;

      const bool last_batch = batch.index + 1 == batches;
      const bool stop = !last_batch && should_stop();
      const bool checkpoint_due =
          !last_batch && config.checkpoint_every > 0 && position.step % config.checkpoint_every == 0;
      const bool progress_line = progress.prints_line_at(batch.index + 1);
      if (pending.size() > 0 && (pending.size() >= read_every || progress_line || last_batch || stop || checkpoint_due)) {
        read_pending();
        read_now = true;
      }
      if (!read_now) continue;  // the display shows read sums only
      const double epoch_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
      const double invocation_seconds = std::chrono::duration<double>(Clock::now() - invocation_start).count();
      const double seconds_per_step = invocation_seconds / static_cast<double>(steps_this_invocation);
      progress.update(epoch, batch.index + 1, sums.loss(), sums.accuracy(),
                      static_cast<double>(images_this_invocation) / std::max(epoch_seconds, 1e-9),
                      seconds_per_step * static_cast<double>(total_steps - position.step));
      if (!last_batch) {
        EpochSums now = sums;
        now.seconds += epoch_seconds;
        const Position here{epoch, batch.index + 1, position.step};
        if (stop) return stop_here(here, now);
        if (checkpoint_due) save_state(run.checkpoint("latest"), here, now, elapsed_now());
      }
    }
    read_pending();  // nothing is left after the last batch; kept so no epoch ends unread
    const double train_seconds = sums.seconds + std::chrono::duration<double>(Clock::now() - epoch_start).count();
    progress.clear();

    // 3. Test pass, sample, sparsity.
    const Clock::time_point eval_start = Clock::now();
    if (predicts_at_mean) use_mean_weights(optimizer);
    Predictions predictions = predict(*model, test_loader, device);
    if (predicts_at_mean) use_sample_weights(optimizer);
    const ClassificationMetrics test = classification_metrics(predictions.probabilities, predictions.labels);
    last_test = test;
    const double eval_seconds = std::chrono::duration<double>(Clock::now() - eval_start).count();

    nlohmann::ordered_json record;
    record["epoch"] = epoch + 1;
    record["step"] = position.step;
    record["lr"] = lr;
    record["train_loss"] = sums.loss();
    record["train_acc"] = sums.accuracy();
    record["test_loss"] = test.nll;
    record["test_acc"] = test.accuracy;
    record["test_ece"] = test.ece;
    record["seconds"] = train_seconds + eval_seconds;
    record["images_per_s"] = static_cast<double>(sums.seen) / std::max(train_seconds, 1e-9);
    std::string extra;
    char text[256];
    if (sampler) {
      std::string sample_file;
      if (is_sample_epoch(epoch, batches, config.epochs, config.optimizer.cycles, config.optimizer.samples_per_cycle,
                          config.optimizer.sample_from_epoch - 1)) {
        std::snprintf(text, sizeof text, "sample-epoch-%04lld.safetensors", static_cast<long long>(epoch + 1));
        const std::string path = (fs::path(run.samples_folder()) / text).string();
        SampleInfo info;
        info.epoch = epoch;
        info.step = position.step;
        info.cycle = cycle_of_epoch(epoch, batches, config.epochs, config.optimizer.cycles);
        info.optimizer = optimizer.name();
        info.extra["slab.architecture"] = config.model;
        save_posterior_sample(path, *model, &optimizer, info);
        cached_samples[path] = {predictions, epoch};
        sample_file = text;
        extra += "  [sample " + std::to_string(cached_samples.size()) + "]";
      }
      record["sample"] = sample_file;
      if (csghmc) record["noise"] = csghmc->noise();
    }
    if (setup.prior) {
      const SparsityReport report = sparsity_report(*model, &optimizer, data.example_shape);
      record["sparsity"] = report.sparsity();
      record["flops_kept"] = report.flops_kept();
      record["prior_pass"] = prior_report.has_value();
      if (prior_report) {
        record["spike_groups"] = prior_report->spike_groups;
        record["groups"] = prior_report->groups;
        record["pruned_units"] = prior_report->pruned_units;
        record["prunable_units"] = prior_report->prunable_units;
      }
      run.write_text("sparsity.txt", report.table());
      result.sparsity = report.sparsity();
      extra += "\n  " + report.summary();
      if (prior_report)
        std::snprintf(text, sizeof text, " (E-step: %lld of %lld groups in the spike; %lld of %lld units pruned)",
                      static_cast<long long>(prior_report->spike_groups), static_cast<long long>(prior_report->groups),
                      static_cast<long long>(prior_report->pruned_units),
                      static_cast<long long>(prior_report->prunable_units));
      else if (setup.prior->in_cool_down(epoch))
        std::snprintf(text, sizeof text, " (cool-down from epoch %lld: no E-step, every weight in the slab, masks frozen)",
                      static_cast<long long>(setup.prior->first_cool_down_epoch() + 1));
      else
        std::snprintf(text, sizeof text, " (no E-step yet: epoch %lld <= warm-up %lld)",
                      static_cast<long long>(epoch), static_cast<long long>(config.optimizer.prior.warm_up));
      extra += text;
    }
    run.add_epoch(record);
    std::fprintf(log,
                 "epoch %lld/%lld  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  lr %.4g  %.1f s (%.0f "
                 "img/s)%s\n",
                 static_cast<long long>(epoch + 1), static_cast<long long>(config.epochs), sums.loss(),
                 100 * sums.accuracy(), test.nll, 100 * test.accuracy, lr, train_seconds + eval_seconds,
                 record["images_per_s"].get<double>(), extra.c_str());
    std::fflush(log);

    // 4. Checkpoint at the start of the next epoch.
    position.epoch = epoch + 1;
    position.batch = 0;
    sums = EpochSums{};
    save_state(run.checkpoint("latest"), position, sums, elapsed_now());
    result.epochs_done = epoch + 1;
  }

  // The end: final checkpoint, model average, summary.
  save_state(run.checkpoint("final"), position, sums, elapsed_now());
  result.completed = true;
  result.steps = position.step;
  result.epochs_done = config.epochs;
  if (last_test) result.test = *last_test;
  nlohmann::ordered_json summary;
  summary["program"] = config.program;
  summary["run_folder"] = output;
  summary["model"] = config.model;
  summary["optimizer"] = config.optimizer.name;
  summary["epochs"] = config.epochs;
  summary["steps"] = position.step;
  summary["test"] = metrics_json(result.test);
  std::optional<PosteriorMetrics> posterior;
  if (sampler) {
    const std::vector<std::string> files = run.sample_files();
    if (!files.empty()) {
      std::fprintf(log, "model average over %zu posterior samples:\n", files.size());
      auto make = [&] { return build_model(config, data.num_classes, data.in_channels); };
      posterior = evaluate_samples(files, make, test_loader, device, cached_samples, nullptr);
      std::fprintf(log, "%s", posterior_table(*posterior).c_str());
      result.bma = posterior->average;
      summary["posterior"] = posterior_json(*posterior);
    } else {
      std::fprintf(log, "no posterior samples were saved (--samples-per-cycle %lld, %lld cycles, from epoch %lld)\n",
                   static_cast<long long>(config.optimizer.samples_per_cycle),
                   static_cast<long long>(config.optimizer.cycles),
                   static_cast<long long>(config.optimizer.sample_from_epoch));
    }
  }
  if (setup.prior) {
    const SparsityReport report = sparsity_report(*model, &optimizer, data.example_shape);
    std::fprintf(log, "sparsity of the final weights:\n%s", report.table().c_str());
    summary["sparsity"] = {{"sparsity", report.sparsity()},
                           {"zeros", report.zeros},
                           {"parameters", report.parameters},
                           {"flops_kept", report.flops_kept()}};
    result.sparsity = report.sparsity();
  }
  result.seconds = elapsed_now();
  summary["seconds"] = result.seconds;
  summary["backend"] = backend_description();
  run.write_json("summary.json", summary);

  char line[512];
  int length = std::snprintf(line, sizeof line, "test_acc=%.4f test_nll=%.4f epochs=%lld seconds=%.1f",
                             result.test.accuracy, result.test.nll, static_cast<long long>(config.epochs),
                             result.seconds);
  if (result.bma)
    length += std::snprintf(line + length, sizeof line - static_cast<size_t>(length), " bma_acc=%.4f bma_nll=%.4f",
                            result.bma->accuracy, result.bma->nll);
  if (result.sparsity)
    std::snprintf(line + length, sizeof line - static_cast<size_t>(length), " sparsity=%.4f", *result.sparsity);
  result.summary_line = line;
  std::fprintf(log, "run folder: %s\n%s\n", output.c_str(), line);
  std::fflush(log);
  return result;
}

int train_program_main(const ProgramDefaults& defaults, int argc, char** argv) {
  std::vector<std::string> arguments(argv, argv + argc);
  try {
    ParsedCommandLine parsed = parse_train_command_line(defaults, arguments);
    if (parsed.exit_now) {
      std::fprintf(parsed.exit_code == 0 ? stdout : stderr, "%s", parsed.message.c_str());
      return parsed.exit_code;
    }
    const TrainResult result = run_training(parsed.config);
    return result.interrupted ? kExitInterrupted : 0;
  } catch (const std::exception& error) {
    return report_error(error);
  }
}

}  // namespace slab::tools
