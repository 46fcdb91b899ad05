// A NetworkGraph on disk, slab-export's safetensors format: NAME.safetensors holds the
// weights under their state-dict keys (float32, any reader of safetensors loads them) and
// NAME.json the graph:
//
//   {"format": "slab-network/1", "weights": "NAME.safetensors",
//    "input": {"name": "input", "shape": [1, 3, 32, 32]},      (dimension 0: any batch)
//    "output": {"name": "x57", "kind": "logits" | "probabilities"},
//    "parameters": ["conv1.weight", ...],                         (the others are buffers)
//    "nodes": [{"op": "conv2d", "inputs": ["input", "conv1.weight", ""], "output": "x1",
//               "attributes": {"stride": [1, 1], ...}, "shape": [1, 16, 32, 32]}, ...],
//    "source": {...}}                                             (the caller's: run, dataset)
//
// with the ops and attributes of tools/export/network_graph.h. slab-eval --network NAME.json
// runs it (tools/export/graph_runner.h).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "tools/export/network_graph.h"

namespace slab::tools {

inline constexpr const char* kNetworkFormat = "slab-network/1";

// Writes `json_path` and the weights beside it (same name, .safetensors); both are written
// to temporary names and renamed. `source` is stored as the "source" entry.
void save_network(const NetworkGraph& graph, const std::string& json_path, const nlohmann::json& source);

// The graph JSON alone, as save_network writes it (weights: the file name to put in it).
nlohmann::json network_json(const NetworkGraph& graph, const std::string& weights, const nlohmann::json& source);

struct LoadedNetwork {
  NetworkGraph graph;
  nlohmann::json source;
};
// Reads what save_network wrote; errors name the file and what is wrong.
LoadedNetwork load_network(const std::string& json_path);

}  // namespace slab::tools
