// Evaluation shared by the training loop and slab-eval: the softmax predictions of a model
// over a test loader, and the metric table over posterior samples with their Bayesian
// model average (docs/algorithm.md#metrics: accuracy, NLL, ECE, Brier, entropy per sample and
// for the average of their softmax outputs).
#pragma once
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bayes/metrics.h"
#include "core/device.h"
#include "data/loader.h"
#include "layers/module.h"

namespace slab::tools {

struct Predictions {
  Tensor probabilities;  // [n, classes] float32 on the CPU
  Tensor labels;         // [n] int64
};

// One pass over `loader` (one epoch, in its order) in evaluation mode without gradients;
// the model's training mode is restored afterwards.
Predictions predict(Module& model, data::Loader& loader, Device device);

struct SampleMetrics {
  std::string file;
  int64_t epoch = 0;
  ClassificationMetrics metrics;
  CalibrationBins bins;  // the reliability diagram's 15 bins
};

struct PosteriorMetrics {
  std::vector<SampleMetrics> samples;
  ClassificationMetrics average;  // of the averaged softmax (BMA)
  CalibrationBins average_bins;
  // running[k]: the average of the first k + 1 samples (in file order), so running.back()
  // is `average`: how accuracy, NLL and ECE move as samples are added.
  std::vector<ClassificationMetrics> running;
};

// A sample's predictions computed while training (the epoch's test pass), so the final
// average does not evaluate it again.
struct CachedSample {
  Predictions predictions;
  int64_t epoch = 0;
};

// Loads each sample file into a model from `make_model` and evaluates it (or takes its
// predictions from `cached`, keyed by file), averaging the softmax outputs. Prints one line
// per sample to `log` when given. Throws when `files` is empty.
PosteriorMetrics evaluate_samples(const std::vector<std::string>& files,
                                  const std::function<std::shared_ptr<Module>()>& make_model, data::Loader& loader,
                                  Device device, const std::map<std::string, CachedSample>& cached, std::FILE* log);

// The table: one row per sample and one for the average.
std::string posterior_table(const PosteriorMetrics& metrics);

nlohmann::ordered_json metrics_json(const ClassificationMetrics& metrics);
nlohmann::ordered_json posterior_json(const PosteriorMetrics& metrics);

}  // namespace slab::tools
