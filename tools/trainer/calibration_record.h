// calibration.json of a run folder (docs/run-folder.md#calibration-json): the reliability
// diagram of every model the run evaluates on its test set (each posterior sample, their
// model average, or a run without samples its final weights; slab-eval adds the
// temperature-scaled ones) and, for a model average, its metrics after 1, 2, ... samples.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "bayes/metrics.h"
#include "tools/trainer/evaluate.h"

namespace slab::tools {

// {"bins": 15, "edges": [0, 1/15, ...], "count": [...], "confidence": [...], "accuracy": [...]}
nlohmann::ordered_json bins_json(const CalibrationBins& bins);
// One entry of "models": name, kind ("sample", "average", "final", "temperature-scaled"),
// the metrics, the bins.
nlohmann::ordered_json calibration_entry(const std::string& name, const std::string& kind,
                                         const ClassificationMetrics& metrics, const CalibrationBins& bins);
// The whole file for a run with samples...
nlohmann::ordered_json calibration_json(const PosteriorMetrics& posterior);
// ... and for one without: its final weights.
nlohmann::ordered_json calibration_json(const ClassificationMetrics& metrics, const CalibrationBins& bins);

}  // namespace slab::tools
