#include "tools/trainer/eval_program.h"

#include <omp.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/parse_number.h"
#include "bayes/metrics.h"
#include "bayes/samples.h"
#include "core/backend.h"
#include "core/safetensors.h"
#include "data/loader.h"
#include "models/factory.h"
#include "optim/checkpoint.h"
#include "optim/optimizer.h"
#include "tools/export/evaluate_network.h"
#include "tools/trainer/training_data.h"
#include "tools/trainer/errors.h"
#include "tools/trainer/evaluate.h"
#include "tools/trainer/calibration_record.h"
#include "tools/trainer/ood_data.h"
#include "tools/trainer/posthoc_evaluation.h"
#include "tools/trainer/run_folder.h"

namespace {

namespace fs = std::filesystem;
using namespace slab;
using namespace slab::tools;

struct EvalOptions {
  std::string run_dir;
  std::string checkpoint;
  std::string network;  // a graph JSON written by slab-export
  std::string data_dir;
  std::string model;
  int64_t test_limit = -1;  // -1: the run's
  int64_t batch_size = 256;
  int workers = 0;
  int threads = 0;
  std::string device = "cpu";
  int64_t samples_from_epoch = 1;  // 1-based, as printed: earlier samples leave the average
  bool allow_non_finite = false;   // --checkpoint: evaluate one that holds NaN or infinity
  std::string ood_data_dir;        // out-of-distribution test images (docs/run-folder.md)
  std::string ood_dataset;         // their dataset kind ("": mnist, or fashion-mnist for an mnist run)
  int64_t ood_limit = 0;           // > 0: the first n OOD test images
};

// What is needed to rebuild the test set and the model: from a saved configuration.
struct RunDescription {
  std::string dataset, data_dir, model;
  int64_t num_classes = 0, in_channels = 0, image_size = 0, test_limit = 0;
  int64_t train_limit = 0, holdout = 0;  // the held-out training examples (temperature scaling)
};

RunDescription describe_from_json(const nlohmann::json& config, const std::string& source) {
  RunDescription d;
  try {
    d.dataset = config.at("dataset").get<std::string>();
    d.data_dir = config.at("data_dir").get<std::string>();
    d.model = config.at("model").get<std::string>();
    d.test_limit = config.value("test_limit", int64_t{0});
    d.train_limit = config.value("train_limit", int64_t{0});
    d.holdout = config.value("holdout", int64_t{0});
    d.image_size = config.value("image_size", int64_t{0});
    d.num_classes = config.value("num_classes", int64_t{0});
    d.in_channels = config.value("in_channels", int64_t{0});
  } catch (const nlohmann::json::exception& e) {
    SLAB_FAIL(source, ": not a slab run configuration (", e.what(), ")");
  }
  return d;
}

void apply_overrides(const EvalOptions& options, RunDescription& d) {
  if (!options.data_dir.empty()) d.data_dir = options.data_dir;
  if (!options.model.empty()) d.model = options.model;
  if (options.test_limit >= 0) d.test_limit = options.test_limit;
}

std::unique_ptr<data::Loader> test_loader(const TrainingData& data, const EvalOptions& options) {
  data::LoaderOptions loader_options;
  loader_options.batch_size = options.batch_size;
  loader_options.shuffle = false;
  loader_options.workers = options.workers;
  return std::make_unique<data::Loader>(data.test, data.test_pipeline, loader_options);
}

std::shared_ptr<Module> build(const RunDescription& d, const TrainingData& data) {
  try {
    return make_model(d.model, d.num_classes > 0 ? d.num_classes : data.num_classes,
                      d.in_channels > 0 ? d.in_channels : data.in_channels, 0);
  } catch (const Error& e) {
    throw UsageError(std::string("--model: ") + e.what());
  }
}

void print_key_values(const char* prefix, const ClassificationMetrics& m, const std::string& tail) {
  std::printf("%s_acc=%.4f %s_nll=%.4f %s_ece=%.4f %s_brier=%.4f %s_entropy=%.4f%s\n", prefix, m.accuracy, prefix,
              m.nll, prefix, m.ece, prefix, m.brier, prefix, m.entropy, tail.c_str());
}

// The held-out and OOD sets of the post-hoc evaluation (tools/trainer/posthoc_evaluation.h),
// with the loaders that read them through the test pipeline.
struct PosthocData {
  TrainingData holdout_data;
  std::shared_ptr<const data::Dataset> ood;
  std::unique_ptr<data::Loader> holdout_loader, ood_loader;
  PosthocSets sets;
};

std::unique_ptr<PosthocData> posthoc_data(const EvalOptions& options, const RunDescription& d, const TrainingData& data,
                                          data::Loader& test) {
  auto p = std::make_unique<PosthocData>();
  p->sets.test = &test;
  p->sets.test_name = data.test->name();
  data::LoaderOptions loader_options;
  loader_options.batch_size = options.batch_size;
  loader_options.workers = options.workers;
  if (d.holdout > 0) {
    p->holdout_data = load_training_data(d.dataset, d.data_dir, d.image_size, d.train_limit, 1);
    hold_out(p->holdout_data, d.holdout);
    p->holdout_loader = std::make_unique<data::Loader>(p->holdout_data.holdout, data.test_pipeline, loader_options);
    p->sets.holdout = p->holdout_loader.get();
    p->sets.holdout_name = p->holdout_data.holdout->name();
  }
  if (!options.ood_data_dir.empty()) {
    const std::string kind = !options.ood_dataset.empty() ? options.ood_dataset
                             : d.dataset == "mnist"        ? "fashion-mnist"
                                                           : "mnist";
    const data::ImageShape like = data.test->image_shape();
    p->ood = load_ood_set(kind, options.ood_data_dir, like, options.ood_limit);
    p->ood_loader = std::make_unique<data::Loader>(p->ood, data.test_pipeline, loader_options);
    p->sets.ood = p->ood_loader.get();
    p->sets.ood_name = p->ood->name();
    p->sets.ood_transform = detail::concat("converted to ", like.channels, "x", like.height, "x", like.width,
                                           " when it differs, then the in-distribution test pipeline: ",
                                           data.test_pipeline.describe());
  }
  return p;
}

bool wants_posthoc(const EvalOptions& options, const RunDescription& d) {
  return !options.run_dir.empty() && (d.holdout > 0 || !options.ood_data_dir.empty());
}

int evaluate_checkpoint(const EvalOptions& options, Device device) {
  SLAB_CHECK(fs::is_regular_file(options.checkpoint), "--checkpoint '", options.checkpoint,
             "': no such file (expected a checkpoint written by a slab-train program)");
  const CheckpointInfo info = read_checkpoint_info(options.checkpoint);
  auto config_entry = info.user.find("config");
  SLAB_CHECK(config_entry != info.user.end(), options.checkpoint,
             ": the checkpoint holds no training configuration (not written by a slab-train program)");
  RunDescription d = describe_from_json(nlohmann::json::parse(config_entry->second), options.checkpoint);
  if (auto it = info.user.find("num_classes"); it != info.user.end())
    d.num_classes = parse_int64(it->second, options.checkpoint + ": metadata 'user.num_classes'");
  if (auto it = info.user.find("in_channels"); it != info.user.end())
    d.in_channels = parse_int64(it->second, options.checkpoint + ": metadata 'user.in_channels'");
  apply_overrides(options, d);
  std::printf("checkpoint: %s (%s, epoch %lld, step %lld, optimizer %s)\n", options.checkpoint.c_str(),
              info.architecture.c_str(), static_cast<long long>(info.epoch), static_cast<long long>(info.step),
              info.optimizer.empty() ? "none" : info.optimizer.c_str());
  // Build the model before reading data: a bad --model is a usage error.
  std::shared_ptr<Module> model;
  if (dataset_num_classes(d.dataset) > 0) {
    if (d.num_classes == 0) d.num_classes = dataset_num_classes(d.dataset);
    if (d.in_channels == 0) d.in_channels = dataset_in_channels(d.dataset);
  }
  if (d.num_classes > 0 && d.in_channels > 0) model = build(d, TrainingData{});
  const TrainingData data = load_test_data(d.dataset, d.data_dir, d.image_size, d.test_limit);
  if (!model) model = build(d, data);
  load_checkpoint(options.checkpoint, *model, d.model, nullptr, options.allow_non_finite);
  // A variational optimizer (IVON, vb-adaptive) keeps a draw in the weights and the
  // posterior mean in its state slot "<parameter>.mean" (optim/optimizer.h,
  // kPosteriorMeanSlot): a checkpoint that holds those slots predicts at the mean.
  const SafetensorsContents contents = load_safetensors(options.checkpoint);
  std::map<std::string, Tensor> means;
  const std::string prefix = "optimizer.", suffix = std::string(".") + kPosteriorMeanSlot;
  for (const auto& [name, tensor] : contents.tensors)
    if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size() + suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      means.emplace(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()), tensor);
  if (!means.empty()) {
    model->load_state_dict(means, false);
    std::printf("weights: the %s variational mean\n", info.optimizer.c_str());
  }
  if (!device.is_cpu()) model->to(device);
  std::printf("test: %s, %lld examples\n", data.test->name().c_str(), static_cast<long long>(data.test->size()));
  auto loader = test_loader(data, options);
  const Predictions predictions = predict(*model, *loader, device);
  const ClassificationMetrics metrics = classification_metrics(predictions.probabilities, predictions.labels);
  std::printf("%s\n", metrics.describe().c_str());
  std::string tail;
  if (wants_posthoc(options, d)) {
    const std::unique_ptr<PosthocData> posthoc = posthoc_data(options, d, data, *loader);
    tail = posthoc_evaluation({{"final weights", [&] { return model; }}}, false, posthoc->sets, device, options.run_dir);
  }
  print_key_values("test", metrics, tail.empty() ? "" : " " + tail);
  return 0;
}

int evaluate_run(const EvalOptions& options, Device device) {
  SLAB_CHECK(fs::is_directory(options.run_dir), "RUN_DIR '", options.run_dir,
             "' is not a folder (expected a run folder written by a slab-train program)");
  const std::string config_path = (fs::path(options.run_dir) / "config.json").string();
  SLAB_CHECK(fs::is_regular_file(config_path), "RUN_DIR '", options.run_dir,
             "' holds no config.json (expected a run folder written by a slab-train program)");
  std::ifstream in(config_path);
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    SLAB_FAIL("'", config_path, "' is not JSON (", e.what(), ")");
  }
  RunDescription d = describe_from_json(config, config_path);
  apply_overrides(options, d);
  RunFolder run(options.run_dir, true);
  const std::vector<std::string> all_files = run.sample_files();
  std::vector<std::string> files;
  for (const std::string& file : all_files)  // reading a file's epoch costs a load: only when filtering
    if (options.samples_from_epoch <= 1 ||
        sample_info(load_safetensors(file).metadata, file).epoch + 1 >= options.samples_from_epoch)
      files.push_back(file);
  SLAB_USAGE_CHECK(all_files.empty() || !files.empty(), "--samples-from-epoch ", options.samples_from_epoch,
                   ": none of the run's ", all_files.size(), " samples was saved at that epoch or later");
  if (files.empty()) {
    EvalOptions single = options;
    single.checkpoint = run.checkpoint("final");
    if (!fs::exists(single.checkpoint)) single.checkpoint = run.checkpoint("latest");
    std::printf("%s holds no posterior samples: evaluating %s\n", options.run_dir.c_str(), single.checkpoint.c_str());
    return evaluate_checkpoint(single, device);
  }
  const TrainingData data = load_test_data(d.dataset, d.data_dir, d.image_size, d.test_limit);
  std::printf("run: %s, %zu posterior samples of %s\ntest: %s, %lld examples\n", options.run_dir.c_str(),
              files.size(), d.model.c_str(), data.test->name().c_str(), static_cast<long long>(data.test->size()));
  auto loader = test_loader(data, options);
  const PosteriorMetrics metrics =
      evaluate_samples(files, [&] { return build(d, data); }, *loader, device, {}, nullptr);
  std::printf("%s", posterior_table(metrics).c_str());
  run.write_json("calibration.json", calibration_json(metrics));
  std::string tail = " samples=" + std::to_string(files.size());
  if (wants_posthoc(options, d)) {
    const std::unique_ptr<PosthocData> posthoc = posthoc_data(options, d, data, *loader);
    std::vector<NamedModel> models;
    for (const std::string& file : files)
      models.push_back({fs::path(file).filename().string(), [&, file] {
                          std::shared_ptr<Module> model = build(d, data);
                          load_posterior_sample(file, *model);
                          if (!device.is_cpu()) model->to(device);
                          return model;
                        }});
    const std::string more = posthoc_evaluation(models, true, posthoc->sets, device, options.run_dir);
    if (!more.empty()) tail += " " + more;
  }
  print_key_values("bma", metrics.average, tail);
  return 0;
}

int evaluate_network(const EvalOptions& options) {
  SLAB_USAGE_CHECK(options.device == "cpu", "--network runs on the CPU only (got --device ", options.device, ")");
  const ClassificationMetrics metrics = evaluate_exported_network(
      options.network, {options.data_dir, options.test_limit, options.batch_size, options.workers});
  std::printf("%s\n", metrics.describe().c_str());
  print_key_values("test", metrics, "");
  return 0;
}

}  // namespace

namespace slab::tools {

int eval_program_main(int argc, char** argv) {
  EvalOptions options;
  const std::string program = argc > 0 ? fs::path(argv[0]).filename().string() : "slab-eval";
  CLI::App app(program + ": evaluate a checkpoint, or the posterior samples of a run folder with their model average",
               program);
  app.add_option("RUN_DIR", options.run_dir, "a run folder: the table over its posterior samples and their average");
  app.add_option("--checkpoint", options.checkpoint, "a checkpoint file to evaluate");
  app.add_option("--network", options.network, "a network written by slab-export --format safetensors (NAME.json)");
  app.add_option("--data-dir", options.data_dir, "dataset folder (default: the one the run trained with)");
  app.add_option("--model", options.model, "architecture (default: the checkpoint's; another one is an error)");
  app.add_option("--test-limit", options.test_limit, "evaluate on the first n test examples (default: the run's)");
  app.add_option("--batch-size", options.batch_size, "examples per forward pass")->capture_default_str();
  app.add_option("--workers", options.workers, "data-loader threads");
  app.add_option("--threads", options.threads, "CPU threads (0: OpenMP's default)");
  app.add_option("--device", options.device, "cpu or cuda")->capture_default_str();
  app.add_option("--samples-from-epoch", options.samples_from_epoch,
                 "average only the samples saved at this epoch (1-based) or later")
      ->capture_default_str();
  app.add_flag("--allow-non-finite", options.allow_non_finite,
               "--checkpoint: evaluate a checkpoint even if a tensor holds NaN or infinity (to inspect a diverged run)");
  app.add_option("--ood-data-dir", options.ood_data_dir,
                 "RUN_DIR: score the test set against this dataset's test images (out of distribution)");
  app.add_option("--ood-dataset", options.ood_dataset,
                 "the OOD dataset kind: mnist, fashion-mnist, cifar10, cifar100 (default: mnist; fashion-mnist for "
                 "an mnist run)")
      ->check(CLI::IsMember({"mnist", "fashion-mnist", "cifar10", "cifar100"}));
  app.add_option("--ood-limit", options.ood_limit, "the first n OOD test images (0: all)");
  app.footer("Models (--model):\n" + model_help());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : kExitUsage;
  }
  try {
    SLAB_USAGE_CHECK(int(!options.run_dir.empty()) + int(!options.checkpoint.empty()) + int(!options.network.empty()) == 1,
                     "give either RUN_DIR, --checkpoint FILE or --network FILE (exactly one)");
    SLAB_USAGE_CHECK(options.batch_size > 0, "--batch-size: expected a positive integer, got ", options.batch_size);
    SLAB_USAGE_CHECK(options.workers >= 0, "--workers: expected an integer >= 0, got ", options.workers);
    SLAB_USAGE_CHECK(options.samples_from_epoch >= 1, "--samples-from-epoch: expected an epoch >= 1, got ",
                     options.samples_from_epoch);
    SLAB_USAGE_CHECK(options.threads >= 0, "--threads: expected an integer >= 0, got ", options.threads);
    if (options.threads > 0) omp_set_num_threads(options.threads);
    Device device;
    try {
      device = parse_device(options.device);
    } catch (const Error& e) {
      throw UsageError(std::string("--device: ") + e.what());
    }
    if (device.is_cuda())
      SLAB_USAGE_CHECK(cuda_available(), "--device ", options.device,
                       ": this build has no CUDA backend or no GPU is visible; use --device cpu");
    std::printf("backend: %s\n", backend_description().c_str());
    if (!options.network.empty()) return evaluate_network(options);
    return options.checkpoint.empty() ? evaluate_run(options, device) : evaluate_checkpoint(options, device);
  } catch (const std::exception& error) {
    return report_error(error);
  }
}

}  // namespace slab::tools
