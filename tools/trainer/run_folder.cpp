#include "tools/trainer/run_folder.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace slab::tools {

namespace fs = std::filesystem;

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    SLAB_CHECK(out.good(), "cannot write '", temporary, "'");
    out << text;
    out.flush();
    SLAB_CHECK(out.good(), "write error on '", temporary, "' (disk full?)");
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  SLAB_CHECK(!error, "cannot rename '", temporary, "' to '", path, "': ", error.message());
}

bool holds_run(const std::string& folder) { return fs::exists(fs::path(folder) / "config.json"); }

bool holds_checkpoint(const std::string& folder) {
  const fs::path checkpoints = fs::path(folder) / "checkpoints";
  return fs::exists(checkpoints / "latest.safetensors") || fs::exists(checkpoints / "final.safetensors");
}

RunFolder::RunFolder(std::string path, bool resuming) : path_(std::move(path)) {
  std::error_code error;
  fs::create_directories(fs::path(path_) / "checkpoints", error);
  SLAB_CHECK(!error, "--output '", path_, "': cannot create the run folder: ", error.message());
  fs::create_directories(fs::path(path_) / "samples", error);
  SLAB_CHECK(!error, "--output '", path_, "': cannot create its samples folder: ", error.message());
  if (!resuming) return;
  std::ifstream in(file("metrics.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      records_.push_back(nlohmann::ordered_json::parse(line));
    } catch (const std::exception& e) {
      SLAB_FAIL("'", file("metrics.jsonl"), "': a line is not JSON (", e.what(), ")");
    }
  }
}

std::string RunFolder::file(const std::string& name) const { return (fs::path(path_) / name).string(); }

std::string RunFolder::checkpoint(const std::string& name) const {
  return (fs::path(path_) / "checkpoints" / (name + ".safetensors")).string();
}

std::string RunFolder::samples_folder() const { return (fs::path(path_) / "samples").string(); }

std::vector<std::string> RunFolder::sample_files() const {
  std::vector<std::string> files;
  if (!fs::is_directory(samples_folder())) return files;
  for (const auto& entry : fs::directory_iterator(samples_folder()))
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

void RunFolder::write_json(const std::string& name, const nlohmann::ordered_json& value) const {
  write_file_atomically(file(name), value.dump(2) + "\n");
}

void RunFolder::write_text(const std::string& name, const std::string& text) const {
  write_file_atomically(file(name), text);
}

void RunFolder::keep_epochs(int64_t epochs) {
  records_.erase(std::remove_if(records_.begin(), records_.end(),
                                [&](const nlohmann::ordered_json& r) {
                                  return !r.contains("epoch") || r["epoch"].get<int64_t>() > epochs;
                                }),
                 records_.end());
  write_metrics();
}

void RunFolder::add_epoch(const nlohmann::ordered_json& record) {
  records_.push_back(record);
  write_metrics();
}

namespace {

std::string csv_cell(const nlohmann::ordered_json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    if (text.find_first_of(",\"\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  }
  return value.dump();
}

}  // namespace

void RunFolder::write_metrics() const {
  std::vector<std::string> columns;
  for (const auto& record : records_)
    for (const auto& item : record.items())
      if (std::find(columns.begin(), columns.end(), item.key()) == columns.end()) columns.push_back(item.key());
  std::ostringstream csv, jsonl;
  for (size_t c = 0; c < columns.size(); ++c) csv << (c ? "," : "") << columns[c];
  csv << '\n';
  for (const auto& record : records_) {
    for (size_t c = 0; c < columns.size(); ++c)
      csv << (c ? "," : "") << (record.contains(columns[c]) ? csv_cell(record[columns[c]]) : "");
    csv << '\n';
    jsonl << record.dump() << '\n';
  }
  write_file_atomically(file("metrics.csv"), csv.str());
  write_file_atomically(file("metrics.jsonl"), jsonl.str());
}

}  // namespace slab::tools
