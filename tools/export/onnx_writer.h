// write_onnx: a NetworkGraph (tools/export/network_graph.h) as an ONNX model, opset 17,
// written by slab itself (tools/export/protobuf_writer.h; no protobuf library): the weights
// are float32 initializers under their state-dict names, the input "input" is
// [N, C, H, W] with a free batch N, the output [N, classes] (logits, or for a model average
// the mean probabilities). Evaluation mode: BatchNormalization keeps its running statistics
// as they are (nothing is folded into the convolutions).
#pragma once
#include <string>

#include "tools/export/network_graph.h"

namespace slab::tools {

inline constexpr int64_t kOnnxOpset = 17;
inline constexpr int64_t kOnnxIrVersion = 8;  // the IR of opset 17

// The serialised ModelProto.
std::string onnx_model(const NetworkGraph& graph);
// Writes onnx_model(graph) to `path` (a temporary name, then renamed).
void write_onnx(const NetworkGraph& graph, const std::string& path);

}  // namespace slab::tools
