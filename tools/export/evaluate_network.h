// slab-eval --network: evaluates a network slab-export wrote (NAME.json + NAME.safetensors,
// tools/export/graph_files.h) on the test set of the run it came from, run by slab's graph
// interpreter (tools/export/graph_runner.h) on the CPU.
#pragma once
#include <cstdint>
#include <string>

#include "bayes/metrics.h"

namespace slab::tools {

struct NetworkEvalOptions {
  std::string data_dir;     // empty: the run's
  int64_t test_limit = -1;  // -1: the run's
  int64_t batch_size = 256;
  int workers = 0;
};

// Prints what it evaluates and returns the test metrics.
ClassificationMetrics evaluate_exported_network(const std::string& json_path, const NetworkEvalOptions& options);

}  // namespace slab::tools
