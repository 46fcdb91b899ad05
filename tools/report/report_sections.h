// The sections of slab-report's page, each from the run folders alone (one file each):
//   metrics_table.cpp        the final metrics of every run side by side
//   training_curves.cpp      loss, accuracy, learning rate with the sample epochs
//   pruning_charts.cpp       sghmc-spl: weights removed per layer over epochs (heat map),
//                            channels alive per layer, MACs kept over epochs
//   calibration_charts.cpp   reliability diagrams; accuracy, NLL, ECE as samples are added
//   ood_charts.cpp           OOD detection metrics and score histograms
//   configuration.cpp        each run's configuration and backend line
// Each returns HTML ("" when no run has what the section draws).
#pragma once
#include <string>
#include <vector>

#include "tools/report/run_data.h"

namespace slab::report {

std::string metrics_table(const std::vector<RunData>& runs);
std::string training_curves(const std::vector<RunData>& runs);
std::string pruning_charts(const std::vector<RunData>& runs);
std::string calibration_charts(const std::vector<RunData>& runs);
std::string ood_charts(const std::vector<RunData>& runs);
std::string configuration(const std::vector<RunData>& runs);

// A chart in a <figure> with its caption (HTML-escaped).
std::string figure(const std::string& svg, const std::string& caption);
// The value of `key` in a JSON object as a number, or NaN when it is absent or not a number.
double number_of(const nlohmann::json& object, const std::string& key);
// One column of metrics.jsonl as numbers (NaN where absent).
std::vector<double> column(const RunData& run, const std::string& key);
// A value for a table cell: "-" for NaN, else printf-formatted with `format`.
std::string cell(double value, const char* format);

}  // namespace slab::report
