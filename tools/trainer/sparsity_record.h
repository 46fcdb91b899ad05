// The line sparsity.jsonl gets for one epoch of sghmc-spl (docs/run-folder.md#sparsity-jsonl):
// the epoch's sparsity report (bayes/sparsity.h) as JSON, per layer and in total, so a
// report can draw sparsity per layer over epochs, the channels alive per layer and the MACs
// kept without loading a checkpoint.
#pragma once
#include <cstdint>

#include <nlohmann/json.hpp>

#include "bayes/sparsity.h"

namespace slab::tools {

// `epoch` is 1-based, as in metrics.jsonl.
nlohmann::ordered_json sparsity_record(const SparsityReport& report, int64_t epoch);

}  // namespace slab::tools
