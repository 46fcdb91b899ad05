#include "tools/trainer/posterior_samples.h"

#include <filesystem>

#include "bayes/samples.h"

namespace slab::tools {

PosteriorSampleCollector::PosteriorSampleCollector(const TrainConfig& config, int64_t batches_per_epoch,
                                                   const RunFolder& run)
    : config_(config), batches_per_epoch_(batches_per_epoch), run_(run) {}

std::string PosteriorSampleCollector::save_if_due(int64_t epoch, int64_t step, Module& model,
                                                  const Optimizer& optimizer, const Predictions& predictions) {
  const OptimizerSettings& o = config_.optimizer;
  if (!is_sample_epoch(epoch, batches_per_epoch_, config_.epochs, o.cycles, o.samples_per_cycle,
                       o.sample_from_epoch - 1))
    return "";
  char name[64];
  std::snprintf(name, sizeof name, "sample-epoch-%04lld.safetensors", static_cast<long long>(epoch + 1));
  const std::string path = (std::filesystem::path(run_.samples_folder()) / name).string();
  SampleInfo info;
  info.epoch = epoch;
  info.step = step;
  info.cycle = cycle_of_epoch(epoch, batches_per_epoch_, config_.epochs, o.cycles);
  info.optimizer = optimizer.name();
  info.extra["slab.architecture"] = config_.model;
  save_posterior_sample(path, model, &optimizer, info);
  cached_[path] = {predictions, epoch};
  return name;
}

std::optional<PosteriorMetrics> PosteriorSampleCollector::average(
    const std::function<std::shared_ptr<Module>()>& make_model, data::Loader& test_loader, Device device,
    std::FILE* log) const {
  const std::vector<std::string> files = run_.sample_files();
  if (files.empty()) {
    std::fprintf(log, "no posterior samples were saved (--samples-per-cycle %lld, %lld cycles, from epoch %lld)\n",
                 static_cast<long long>(config_.optimizer.samples_per_cycle),
                 static_cast<long long>(config_.optimizer.cycles),
                 static_cast<long long>(config_.optimizer.sample_from_epoch));
    return std::nullopt;
  }
  std::fprintf(log, "model average over %zu posterior samples:\n", files.size());
  PosteriorMetrics posterior = evaluate_samples(files, make_model, test_loader, device, cached_, nullptr);
  std::fprintf(log, "%s", posterior_table(posterior).c_str());
  return posterior;
}

}  // namespace slab::tools
