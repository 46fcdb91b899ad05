#include "tools/report/run_data.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/parse_number.h"

namespace slab::report {

namespace {

namespace fs = std::filesystem;

std::optional<nlohmann::json> read_json(const fs::path& path) {
  if (!fs::exists(path)) return std::nullopt;
  std::ifstream in(path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    SLAB_FAIL("'", path.string(), "' is not JSON (", e.what(), ")");
  }
}

std::vector<nlohmann::json> read_lines(const fs::path& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty()) continue;
    try {
      lines.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      SLAB_FAIL("'", path.string(), "' line ", number, " is not JSON (", e.what(), ")");
    }
  }
  return lines;
}

std::optional<OodScores> read_scores(const fs::path& path) {
  if (!fs::exists(path)) return std::nullopt;
  OodScores scores;
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  SLAB_CHECK(line.rfind("set,max_softmax,entropy,mutual_information", 0) == 0, "'", path.string(),
             "': expected the header set,max_softmax,entropy,mutual_information");
  const std::string what = std::string("'").append(path.string()).append("': a score");
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string set, value;
    std::getline(row, set, ',');
    auto& target = set == "in" ? scores.in : scores.out;
    for (auto& column : target) {
      std::getline(row, value, ',');
      column.push_back(parse_double(value, what));
    }
  }
  return scores;
}

}  // namespace

std::string RunData::optimizer() const {
  return config.contains("optimizer") && config["optimizer"].contains("name") ? config["optimizer"]["name"].get<std::string>()
                                                                               : "?";
}

std::string RunData::backend() const { return config.value("backend", std::string("(not recorded)")); }

bool RunData::has_samples() const {
  for (const nlohmann::json& e : epochs)
    if (e.contains("sample") && e["sample"].is_string() && !e["sample"].get<std::string>().empty()) return true;
  return false;
}

RunData read_run(const std::string& folder) {
  const fs::path root(folder);
  SLAB_CHECK(fs::is_directory(root), "'", folder, "' is not a folder (expected a run folder of a slab-train program)");
  RunData run;
  run.path = folder;
  run.label = fs::absolute(root).lexically_normal().filename().string();
  if (run.label.empty()) run.label = fs::absolute(root).lexically_normal().parent_path().filename().string();
  const std::optional<nlohmann::json> config = read_json(root / "config.json");
  SLAB_CHECK(config.has_value(), "'", folder, "' holds no config.json (expected a run folder of a slab-train program)");
  run.config = *config;
  SLAB_CHECK(fs::exists(root / "metrics.jsonl"), "'", folder, "' holds no metrics.jsonl (the run trained no epoch)");
  run.epochs = read_lines(root / "metrics.jsonl");
  if (fs::exists(root / "sparsity.jsonl")) run.sparsity = read_lines(root / "sparsity.jsonl");
  run.calibration = read_json(root / "calibration.json");
  run.summary = read_json(root / "summary.json");
  run.ood = read_json(root / "ood.json");
  run.temperature = read_json(root / "temperature.json");
  run.ood_scores = read_scores(root / "ood_scores.csv");
  return run;
}

}  // namespace slab::report
