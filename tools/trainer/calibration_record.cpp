#include "tools/trainer/calibration_record.h"

namespace slab::tools {

nlohmann::ordered_json bins_json(const CalibrationBins& bins) {
  nlohmann::ordered_json j;
  j["bins"] = kCalibrationBins;
  j["edges"] = nlohmann::ordered_json::array();
  for (int k = 0; k <= kCalibrationBins; ++k) j["edges"].push_back(static_cast<double>(k) / kCalibrationBins);
  j["count"] = bins.count;
  j["confidence"] = bins.confidence;
  j["accuracy"] = bins.accuracy;
  return j;
}

nlohmann::ordered_json calibration_entry(const std::string& name, const std::string& kind,
                                         const ClassificationMetrics& metrics, const CalibrationBins& bins) {
  nlohmann::ordered_json j;
  j["name"] = name;
  j["kind"] = kind;
  j["metrics"] = metrics_json(metrics);
  j["reliability"] = bins_json(bins);
  return j;
}

nlohmann::ordered_json calibration_json(const PosteriorMetrics& posterior) {
  nlohmann::ordered_json j;
  j["test_size"] = posterior.average.count;
  j["models"] = nlohmann::ordered_json::array();
  for (const SampleMetrics& s : posterior.samples) {
    nlohmann::ordered_json entry = calibration_entry(s.file, "sample", s.metrics, s.bins);
    entry["epoch"] = s.epoch + 1;
    j["models"].push_back(entry);
  }
  j["models"].push_back(calibration_entry("model average of " + std::to_string(posterior.samples.size()) + " samples",
                                          "average", posterior.average, posterior.average_bins));
  j["running_average"] = nlohmann::ordered_json::array();
  for (size_t k = 0; k < posterior.running.size(); ++k) {
    nlohmann::ordered_json row = metrics_json(posterior.running[k]);
    row["samples"] = k + 1;
    j["running_average"].push_back(row);
  }
  return j;
}

nlohmann::ordered_json calibration_json(const ClassificationMetrics& metrics, const CalibrationBins& bins) {
  nlohmann::ordered_json j;
  j["test_size"] = metrics.count;
  j["models"] = nlohmann::ordered_json::array({calibration_entry("final weights", "final", metrics, bins)});
  j["running_average"] = nlohmann::ordered_json::array();
  return j;
}

}  // namespace slab::tools
