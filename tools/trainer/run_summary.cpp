#include "tools/trainer/run_summary.h"

#include <cstdio>

#include "core/backend.h"

namespace slab::tools {

nlohmann::ordered_json run_summary(const TrainConfig& config, const TrainResult& result,
                                   const std::optional<PosteriorMetrics>& posterior,
                                   const std::optional<SparsityReport>& sparsity) {
  nlohmann::ordered_json summary;
  summary["program"] = config.program;
  summary["run_folder"] = result.run_folder;
  summary["model"] = config.model;
  summary["optimizer"] = config.optimizer.name;
  summary["epochs"] = config.epochs;
  summary["steps"] = result.steps;
  summary["test"] = metrics_json(result.test);
  if (posterior) summary["posterior"] = posterior_json(*posterior);
  if (sparsity)
    summary["sparsity"] = {{"sparsity", sparsity->sparsity()},
                           {"zeros", sparsity->zeros},
                           {"parameters", sparsity->parameters},
                           {"flops_kept", sparsity->flops_kept()}};
  summary["seconds"] = result.seconds;
  summary["backend"] = backend_description();
  return summary;
}

std::string completed_line(const TrainResult& result, int64_t epochs) {
  char line[512];
  int length = std::snprintf(line, sizeof line, "test_acc=%.4f test_nll=%.4f epochs=%lld seconds=%.1f",
                             result.test.accuracy, result.test.nll, static_cast<long long>(epochs), result.seconds);
  if (result.bma)
    length += std::snprintf(line + length, sizeof line - static_cast<size_t>(length), " bma_acc=%.4f bma_nll=%.4f",
                            result.bma->accuracy, result.bma->nll);
  if (result.sparsity)
    std::snprintf(line + length, sizeof line - static_cast<size_t>(length), " sparsity=%.4f", *result.sparsity);
  return line;
}

std::string stopped_line(const TrainResult& result, const std::string& checkpoint) {
  char line[512];
  std::snprintf(line, sizeof line, "stopped=%s step=%lld epoch=%lld checkpoint=%s",
                result.interrupted ? "interrupt" : "max-steps", static_cast<long long>(result.steps),
                static_cast<long long>(result.epochs_done), checkpoint.c_str());
  return line;
}

}  // namespace slab::tools
