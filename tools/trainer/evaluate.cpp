#include "tools/trainer/evaluate.h"

#include <cstring>
#include <filesystem>

#include "bayes/model_average.h"
#include "bayes/samples.h"
#include "core/autograd.h"
#include "core/ops.h"

namespace slab::tools {

Predictions predict(Module& model, data::Loader& loader, Device device) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  const int64_t n = loader.dataset().size();
  std::vector<float> probabilities;
  std::vector<int64_t> labels;
  labels.reserve(static_cast<size_t>(n));
  int64_t classes = 0;
  data::Batch batch;
  loader.start_epoch(0);
  while (loader.next(batch)) {
    const Tensor images = device.is_cpu() ? batch.images : batch.images.to(device);
    Tensor p = softmax(model(images), 1);
    if (!p.device().is_cpu()) p = p.to(Device::cpu());
    if (classes == 0) {
      classes = p.size(1);
      probabilities.reserve(static_cast<size_t>(n * classes));
    }
    const float* values = p.data<float>();
    probabilities.insert(probabilities.end(), values, values + p.numel());
    const int64_t* y = batch.labels.data<int64_t>();
    labels.insert(labels.end(), y, y + batch.labels.numel());
  }
  model.train(was_training);
  const int64_t count = static_cast<int64_t>(labels.size());
  return {from_vector_f32(probabilities, {count, classes}), labels_from_vector(labels)};
}

PosteriorMetrics evaluate_samples(const std::vector<std::string>& files,
                                  const std::function<std::shared_ptr<Module>()>& make_model, data::Loader& loader,
                                  Device device, const std::map<std::string, CachedSample>& cached, std::FILE* log) {
  SLAB_CHECK(!files.empty(), "model averaging: no posterior samples to average");
  PosteriorMetrics result;
  ModelAverage average;
  Tensor labels;
  std::shared_ptr<Module> model;
  for (const std::string& file : files) {
    SampleMetrics sample;
    sample.file = std::filesystem::path(file).filename().string();
    Tensor probabilities;
    auto hit = cached.find(file);
    if (hit != cached.end()) {
      probabilities = hit->second.predictions.probabilities;
      labels = hit->second.predictions.labels;
      sample.epoch = hit->second.epoch;
    } else {
      // A fresh model for a sample that another sample's shrinks do not lead to: each
      // sample records its own architecture (docs/algorithm.md#shrinking-during-training).
      if (!model || !model->shrink_history().empty()) model = make_model();
      const LoadedSample loaded = load_posterior_sample(file, *model);
      if (!device.is_cpu()) model->to(device);
      sample.epoch = loaded.info.epoch;
      Predictions predictions = predict(*model, loader, device);
      probabilities = predictions.probabilities;
      labels = predictions.labels;
    }
    sample.metrics = classification_metrics(probabilities, labels);
    sample.bins = calibration_bins(probabilities, labels);
    average.add(probabilities);
    result.running.push_back(classification_metrics(average.mean(), labels));
    if (log) {
      std::fprintf(log, "  sample %-28s %s\n", sample.file.c_str(), sample.metrics.describe().c_str());
      std::fflush(log);
    }
    result.samples.push_back(sample);
  }
  result.average = result.running.back();
  result.average_bins = calibration_bins(average.mean(), labels);
  return result;
}

std::string posterior_table(const PosteriorMetrics& m) {
  std::string text;
  char line[256];
  std::snprintf(line, sizeof line, "%-30s %6s %9s %8s %8s %8s %8s\n", "sample", "epoch", "accuracy", "nll", "ece",
                "brier", "entropy");
  text += line;
  auto row = [&](const std::string& name, const std::string& epoch, const ClassificationMetrics& c) {
    std::snprintf(line, sizeof line, "%-30s %6s %8.2f%% %8.4f %8.4f %8.4f %8.4f\n", name.c_str(), epoch.c_str(),
                  100 * c.accuracy, c.nll, c.ece, c.brier, c.entropy);
    text += line;
  };
  for (const SampleMetrics& s : m.samples) row(s.file, std::to_string(s.epoch + 1), s.metrics);
  row("BMA of " + std::to_string(m.samples.size()) + " samples", "", m.average);
  return text;
}

nlohmann::ordered_json metrics_json(const ClassificationMetrics& c) {
  nlohmann::ordered_json j;
  j["count"] = c.count;
  j["accuracy"] = c.accuracy;
  j["nll"] = c.nll;
  j["ece"] = c.ece;
  j["brier"] = c.brier;
  j["entropy"] = c.entropy;
  return j;
}

nlohmann::ordered_json posterior_json(const PosteriorMetrics& m) {
  nlohmann::ordered_json j;
  j["samples"] = nlohmann::ordered_json::array();
  for (const SampleMetrics& s : m.samples) {
    nlohmann::ordered_json entry = metrics_json(s.metrics);
    entry["file"] = s.file;
    entry["epoch"] = s.epoch + 1;
    j["samples"].push_back(entry);
  }
  j["bma"] = metrics_json(m.average);
  return j;
}

}  // namespace slab::tools
