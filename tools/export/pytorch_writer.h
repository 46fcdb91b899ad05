// write_pytorch: a NetworkGraph (tools/export/network_graph.h) as a small PyTorch module
// file. The file defines `Network(torch.nn.Module)`, whose weights are buffers loaded from
// the safetensors file saved beside it (tools/export/graph_files.h), and whose forward is
// the graph's nodes as torch.nn.functional calls, one line each:
//
//   import network                       # the generated file
//   model = network.load()               # reads network.safetensors next to the file
//   logits = model(images)               # [N, C, H, W] float32
#pragma once
#include <string>

#include "tools/export/network_graph.h"

namespace slab::tools {

// The module's source; `weights_file` is the safetensors file name, relative to the .py file.
std::string pytorch_module(const NetworkGraph& graph, const std::string& weights_file);
void write_pytorch(const NetworkGraph& graph, const std::string& path, const std::string& weights_file);

}  // namespace slab::tools
