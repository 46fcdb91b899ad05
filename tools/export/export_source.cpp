#include "tools/export/export_source.h"

#include <filesystem>
#include <fstream>

#include "core/parse_number.h"
#include "bayes/samples.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/shrink.h"
#include "models/factory.h"
#include "optim/checkpoint.h"
#include "optim/optimizer.h"
#include "tools/export/graph_from_trace.h"
#include "tools/trainer/run_folder.h"
#include "tools/trainer/training_data.h"

namespace slab::tools {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_config(const std::string& run_dir) {
  SLAB_CHECK(fs::is_directory(run_dir), "RUN_DIR '", run_dir,
             "' is not a folder (expected a run folder written by a slab-train program)");
  const std::string path = (fs::path(run_dir) / "config.json").string();
  SLAB_CHECK(fs::is_regular_file(path), "RUN_DIR '", run_dir,
             "' holds no config.json (expected a run folder written by a slab-train program)");
  std::ifstream in(path);
  try {
    nlohmann::json config = nlohmann::json::parse(in);
    config.at("dataset").get<std::string>();
    config.at("model").get<std::string>();
    return config;
  } catch (const nlohmann::json::exception& e) {
    SLAB_FAIL("'", path, "' is not a slab run configuration (", e.what(), ")");
  }
}

struct ModelShape {
  std::string model;
  int64_t num_classes = 0, in_channels = 0;
};

// The classes and channels: the checkpoint's own record first (imagenet reads its classes
// from the folder), the dataset kind's otherwise.
ModelShape model_shape(const nlohmann::json& config, const std::string& checkpoint) {
  ModelShape shape{config.at("model").get<std::string>(), 0, 0};
  const std::string dataset = config.at("dataset").get<std::string>();
  if (fs::exists(checkpoint)) {
    const CheckpointInfo info = read_checkpoint_info(checkpoint);
    if (auto it = info.user.find("num_classes"); it != info.user.end())
      shape.num_classes = parse_int64(it->second, checkpoint + ": metadata 'user.num_classes'");
    if (auto it = info.user.find("in_channels"); it != info.user.end())
      shape.in_channels = parse_int64(it->second, checkpoint + ": metadata 'user.in_channels'");
  }
  if (shape.num_classes == 0) shape.num_classes = dataset_num_classes(dataset);
  if (shape.in_channels == 0) shape.in_channels = dataset_in_channels(dataset);
  SLAB_CHECK(shape.num_classes > 0 && shape.in_channels > 0, "cannot tell the classes and channels of the ", dataset,
             " run: its checkpoint does not record them");
  return shape;
}

// A variational optimizer keeps its posterior mean in "optimizer.<parameter>.mean"
// (optim/optimizer.h, kPosteriorMeanSlot): a checkpoint that holds those predicts at the mean.
void load_posterior_mean(const std::string& checkpoint, Module& model) {
  const SafetensorsContents contents = load_safetensors(checkpoint);
  std::map<std::string, Tensor> means;
  const std::string prefix = "optimizer.", suffix = std::string(".") + kPosteriorMeanSlot;
  for (const auto& [name, tensor] : contents.tensors)
    if (name.rfind(prefix, 0) == 0 && name.size() > prefix.size() + suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      means.emplace(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()), tensor);
  if (!means.empty()) model.load_state_dict(means, false);
}

std::string sample_name(int64_t epoch) {
  char name[64];
  std::snprintf(name, sizeof name, "sample-epoch-%04lld", static_cast<long long>(epoch));
  return name;
}

// Removes the dead channels of `network` in place; returns the one-line summary.
std::string shrink_network(Module& network) { return shrink_dead_channels(network).summary(); }

}  // namespace

Shape example_shape_of(const std::string& dataset, int64_t in_channels, int64_t image_size) {
  if (dataset == "fashion-mnist" || dataset == "mnist") return {1, in_channels, 28, 28};
  if (dataset == "cifar10" || dataset == "cifar100") return {1, in_channels, 32, 32};
  if (dataset == "imagenet") return {1, in_channels, image_size > 0 ? image_size : 224, image_size > 0 ? image_size : 224};
  SLAB_FAIL("slab-export: no input shape known for dataset '", dataset, "'");
}

ExportSource load_network_for_export(const std::string& run_dir, const ExportChoice& choice) {
  ExportSource source;
  source.config = read_config(run_dir);
  const RunFolder run(run_dir, true);
  std::string checkpoint = run.checkpoint("final");
  if (!fs::exists(checkpoint)) checkpoint = run.checkpoint("latest");
  const ModelShape shape = model_shape(source.config, checkpoint);
  source.example_shape = example_shape_of(source.config.at("dataset").get<std::string>(), shape.in_channels,
                                          source.config.value("image_size", int64_t{0}));
  auto build = [&] { return make_model(shape.model, shape.num_classes, shape.in_channels, 0); };
  if (choice.kind == ExportChoice::Kind::Final) {
    SLAB_CHECK(fs::exists(checkpoint), "'", run_dir, "' holds no checkpoints/final.safetensors or latest.safetensors");
    auto model = build();
    load_checkpoint(checkpoint, *model, shape.model, nullptr);
    load_posterior_mean(checkpoint, *model);
    source.networks.push_back(model);
    source.files.push_back(checkpoint);
    source.name = fs::path(checkpoint).stem().string();
  } else {
    std::vector<std::string> files = run.sample_files();
    SLAB_CHECK(!files.empty(), "'", run_dir, "' holds no posterior samples (samples/ is empty or absent)");
    if (choice.kind == ExportChoice::Kind::Sample) {
      const std::string wanted = (fs::path(run.samples_folder()) / (sample_name(choice.sample_epoch) + ".safetensors")).string();
      std::string have;
      for (const std::string& file : files) {
        have += ' ';
        have += fs::path(file).stem().string();
      }
      SLAB_CHECK(fs::exists(wanted), "--sample ", choice.sample_epoch, ": the run saved no sample at epoch ",
                 choice.sample_epoch, " (its samples:", have, ")");
      files = {wanted};
    }
    for (const std::string& file : files) {
      auto model = build();
      load_posterior_sample(file, *model);
      source.networks.push_back(model);
      source.files.push_back(file);
    }
    source.name = choice.kind == ExportChoice::Kind::Average ? "average" : sample_name(choice.sample_epoch);
  }
  const GraphCost architecture = graph_cost(trace_network(*build(), source.example_shape));
  source.architecture_cost = {architecture.parameters * static_cast<int64_t>(source.networks.size()),
                              architecture.multiply_adds * static_cast<int64_t>(source.networks.size())};
  Shape check_shape = source.example_shape;
  check_shape[0] = 2;
  Generator generator(7);
  source.check_input = randn(check_shape, generator);
  for (size_t k = 0; k < source.networks.size(); ++k) {
    Module& network = *source.networks[k];
    const GraphCost cost = graph_cost(trace_network(network, source.example_shape));
    source.dense_cost.parameters += cost.parameters;
    source.dense_cost.multiply_adds += cost.multiply_adds;
    source.dense_bytes += static_cast<int64_t>(fs::file_size(source.files[k]));
    {
      NoGradGuard no_grad;
      source.dense_outputs.push_back(network(source.check_input));
    }
    if (choice.shrink) source.shrink_summaries.push_back(shrink_network(network));
    network.eval();
  }
  return source;
}

}  // namespace slab::tools
