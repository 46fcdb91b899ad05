// Runs a NetworkGraph (tools/export/network_graph.h) with slab's own ops: the interpreter
// behind slab-eval's exported networks and the reference the ONNX and PyTorch files are
// checked against. GraphModule wraps a graph as a Module, so the trainer's evaluation
// (predict, the metrics) runs it as it runs any model.
#pragma once
#include <string>

#include "layers/module.h"
#include "tools/export/network_graph.h"

namespace slab::tools {

// The graph's output for `input` ([n, ...] with the graph's per-example shape).
Tensor run_graph(const NetworkGraph& graph, const Tensor& input);

class GraphModule : public Module {
 public:
  explicit GraphModule(NetworkGraph graph) : graph_(std::move(graph)) {}
  // The graph's logits; for a model average (probabilities p), log p, so that a softmax of
  // the output, as every evaluation takes, gives back p.
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "ExportedNetwork"; }
  const NetworkGraph& graph() const { return graph_; }

 private:
  NetworkGraph graph_;
};

}  // namespace slab::tools
