#include "tools/export/network_graph.h"

#include <algorithm>

#include "core/error.h"

namespace slab::tools {

const Tensor& NetworkGraph::weight(const std::string& name) const {
  for (const auto& [key, tensor] : weights)
    if (key == name) return tensor;
  SLAB_FAIL("network graph: no weight named '", name, "' (it has ", weights.size(), " weights)");
}

bool NetworkGraph::is_weight(const std::string& name) const {
  return std::any_of(weights.begin(), weights.end(), [&](const auto& entry) { return entry.first == name; });
}

const std::vector<std::string>& graph_ops() {
  static const std::vector<std::string> ops{"conv2d",     "batch_norm",      "linear",  "relu",         "sigmoid",
                                            "tanh",       "add",             "max_pool2d", "avg_pool2d",
                                            "global_avg_pool", "flatten",    "pad_channels", "slice_channels", "concat",
                                            "softmax",    "mean_of"};
  return ops;
}

GraphCost graph_cost(const NetworkGraph& graph) {
  GraphCost cost;
  for (const auto& [name, tensor] : graph.weights)
    if (graph.parameters.count(name)) cost.parameters += tensor.numel();
  for (const GraphNode& node : graph.nodes) {
    if (node.op == "conv2d") {
      const Shape& out = node.output_shape;  // [1, c_out, h, w]
      cost.multiply_adds += out[2] * out[3] * graph.weight(node.inputs[1]).numel();
    } else if (node.op == "linear") {
      cost.multiply_adds += graph.weight(node.inputs[1]).numel();
    }
  }
  return cost;
}

namespace {

std::string prefixed(const std::string& prefix, const std::string& name, const std::string& input) {
  return name.empty() || name == input ? name : prefix + name;
}

}  // namespace

NetworkGraph average_graph(const std::vector<NetworkGraph>& members) {
  SLAB_CHECK(!members.empty(), "model average: no networks to average");
  NetworkGraph average;
  average.input_shape = members.front().input_shape;
  average.output_kind = GraphOutput::Probabilities;
  GraphNode mean{"mean_of", {}, "probabilities", nlohmann::json::object(), {}};
  for (size_t k = 0; k < members.size(); ++k) {
    const NetworkGraph& member = members[k];
    SLAB_CHECK(member.input_shape == members.front().input_shape, "model average: network ", k, " takes input ",
               member.input_shape, ", network 0 takes ", members.front().input_shape);
    SLAB_CHECK(member.output_kind == GraphOutput::Logits, "model average: network ", k, " is itself an average");
    std::string prefix = "m";
    prefix += std::to_string(k) + ".";
    for (const auto& [name, tensor] : member.weights) average.weights.emplace_back(prefix + name, tensor);
    for (const std::string& name : member.parameters) average.parameters.insert(prefix + name);
    for (GraphNode node : member.nodes) {
      for (std::string& input : node.inputs) input = prefixed(prefix, input, member.input);
      node.output = prefix + node.output;
      average.nodes.push_back(std::move(node));
    }
    const Shape output_shape = member.nodes.back().output_shape;  // the output is written last
    average.nodes.push_back({"softmax", {prefix + member.output}, prefix + "probabilities", {{"axis", 1}},
                             output_shape});
    mean.inputs.push_back(prefix + "probabilities");
    mean.output_shape = output_shape;
  }
  average.nodes.push_back(mean);
  average.output = mean.output;
  return average;
}

}  // namespace slab::tools
