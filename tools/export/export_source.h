// load_network_for_export: the network(s) of a run folder that slab-export writes, the one
// place that decides what is exported. The run's final checkpoint (IVON and vb-adaptive at
// their variational mean, as slab-eval evaluates them), one posterior sample, or all samples
// for a model average; each rebuilt from the run's config.json and loaded with strict keys
// and shapes, in evaluation mode, then (with `shrink`) made compact: its dead channels
// removed in place (layers/shrink.h), so the network computes what the masked checkpoint
// does with fewer channels. dense_cost, dense_bytes and dense_outputs describe the networks
// as the files hold them (pruned channels as zeros; a run that shrank during training holds
// them already smaller), the "before" of slab-export's report and the reference its check
// compares the export with; architecture_cost is that of the run's architecture as built,
// before any pruning or shrinking, the baseline of every share that is "kept".
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/shape.h"
#include "layers/module.h"
#include "tools/export/network_graph.h"

namespace slab::tools {

struct ExportChoice {
  enum class Kind { Final, Sample, Average } kind = Kind::Final;
  int64_t sample_epoch = 0;  // Kind::Sample: the sample saved at this epoch (1-based, as in its file name)
  bool shrink = true;        // remove dead channels before export
};

struct ExportSource {
  std::vector<std::shared_ptr<Module>> networks;  // one; the samples for Kind::Average
  std::vector<std::string> files;                 // the checkpoint or sample file of each
  std::string name;                               // "final", "sample-epoch-0003", "average"
  Shape example_shape;                            // [1, C, H, W] of the run's data
  nlohmann::json config;                          // the run's config.json
  GraphCost architecture_cost;                    // of the unpruned architecture, once per network
  GraphCost dense_cost;                           // of the networks as the files hold them (summed)
  int64_t dense_bytes = 0;                        // the sizes of those files
  Tensor check_input;                             // two random examples
  std::vector<Tensor> dense_outputs;              // each dense network's output for them
  std::vector<std::string> shrink_summaries;      // one per network, with `shrink`
};

ExportSource load_network_for_export(const std::string& run_dir, const ExportChoice& choice);

// One example's input shape for a dataset kind ("fashion-mnist", "cifar10", ...); imagenet
// uses `image_size`.
Shape example_shape_of(const std::string& dataset, int64_t in_channels, int64_t image_size);

}  // namespace slab::tools
