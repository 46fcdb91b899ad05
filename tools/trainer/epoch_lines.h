// A JSON-lines file of a run folder with one line per epoch (sparsity.jsonl): each epoch's
// line replaces the file's lines of that epoch and later ones, so a resumed run that redoes
// an epoch leaves one line per epoch, in order. The file is rewritten through a temporary
// name (tools/trainer/run_folder.h), so it is never half written.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace slab::tools {

// `record` holds "epoch" (1-based); lines of `path` whose epoch is >= it are dropped.
void put_epoch_line(const std::string& path, const nlohmann::ordered_json& record);

}  // namespace slab::tools
