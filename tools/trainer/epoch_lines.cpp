#include "tools/trainer/epoch_lines.h"

#include <fstream>

#include "tools/trainer/run_folder.h"

namespace slab::tools {

void put_epoch_line(const std::string& path, const nlohmann::ordered_json& record) {
  const int64_t epoch = record.at("epoch").get<int64_t>();
  std::string text;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const nlohmann::json earlier = nlohmann::json::parse(line, nullptr, false);
    if (earlier.is_discarded() || !earlier.contains("epoch") || earlier["epoch"].get<int64_t>() >= epoch) continue;
    text += line + "\n";
  }
  write_file_atomically(path, text + record.dump() + "\n");
}

}  // namespace slab::tools
