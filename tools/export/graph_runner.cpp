#include "tools/export/graph_runner.h"

#include <array>
#include <map>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace slab::tools {

namespace {

std::array<int64_t, 2> pair(const nlohmann::json& attributes, const char* key) {
  const std::vector<int64_t> v = attributes.at(key).get<std::vector<int64_t>>();
  SLAB_CHECK(v.size() == 2, "network graph: attribute '", key, "' must have two values, got ", v.size());
  return {v[0], v[1]};
}

Pool2dOptions pool_options(const nlohmann::json& attributes) {
  Pool2dOptions o;
  o.kernel = pair(attributes, "kernel");
  o.stride = pair(attributes, "stride");
  o.padding = pair(attributes, "padding");
  return o;
}

Tensor pad_channels(const Tensor& x, int64_t before, int64_t after) {
  Shape shape = x.shape();
  std::vector<Tensor> parts;
  const TensorOptions options{x.dtype(), x.device()};
  if (before > 0) parts.push_back(zeros({shape[0], before, shape[2], shape[3]}, options));
  parts.push_back(x);
  if (after > 0) parts.push_back(zeros({shape[0], after, shape[2], shape[3]}, options));
  return cat(parts, 1);
}

Tensor mean_of(const std::vector<Tensor>& inputs) {
  Tensor total = inputs.front();
  for (size_t k = 1; k < inputs.size(); ++k) total = add(total, inputs[k]);
  return mul(total, 1.0 / static_cast<double>(inputs.size()));
}

Tensor run_node(const GraphNode& node, const std::vector<Tensor>& in) {
  const nlohmann::json& a = node.attributes;
  const std::string& op = node.op;
  if (op == "conv2d") {
    Conv2dOptions o;
    o.stride = pair(a, "stride");
    o.padding = pair(a, "padding");
    o.dilation = pair(a, "dilation");
    o.groups = a.at("groups").get<int64_t>();
    return conv2d(in[0], in[1], in[2], o);
  }
  if (op == "batch_norm") return batch_norm(in[0], in[1], in[2], in[3], in[4], false, 0.0, a.at("eps").get<double>());
  if (op == "linear") return linear(in[0], in[1], in[2]);
  if (op == "relu") return relu(in[0]);
  if (op == "sigmoid") return sigmoid(in[0]);
  if (op == "tanh") return tanh(in[0]);
  if (op == "add") return add(in[0], in[1]);
  if (op == "max_pool2d") return max_pool2d(in[0], pool_options(a));
  if (op == "avg_pool2d") return avg_pool2d(in[0], pool_options(a));
  if (op == "global_avg_pool") return adaptive_avg_pool2d(in[0], {1, 1});
  if (op == "flatten") return flatten(in[0], 1);
  if (op == "pad_channels") return pad_channels(in[0], a.at("before").get<int64_t>(), a.at("after").get<int64_t>());
  if (op == "slice_channels") return narrow(in[0], 1, a.at("start").get<int64_t>(), a.at("length").get<int64_t>());
  if (op == "concat") return cat(in, a.at("axis").get<int64_t>());
  if (op == "softmax") return softmax(in[0], a.at("axis").get<int64_t>());
  if (op == "mean_of") return mean_of(in);
  SLAB_FAIL("network graph: unknown op '", op, "' (node writing '", node.output, "')");
}

}  // namespace

Tensor run_graph(const NetworkGraph& graph, const Tensor& input) {
  SLAB_CHECK(input.dim() == static_cast<int64_t>(graph.input_shape.size()), "network graph: input of shape ",
             input.shape(), " for a network of example shape ", graph.input_shape);
  for (size_t d = 1; d < graph.input_shape.size(); ++d)
    SLAB_CHECK(input.shape()[d] == graph.input_shape[d], "network graph: input of shape ", input.shape(),
               " for a network of example shape ", graph.input_shape);
  std::map<std::string, Tensor> values;
  for (const auto& [name, tensor] : graph.weights) values[name] = tensor;
  values[graph.input] = input;
  for (const GraphNode& node : graph.nodes) {
    std::vector<Tensor> in;
    for (const std::string& name : node.inputs) {
      if (name.empty()) {
        in.emplace_back();
        continue;
      }
      auto it = values.find(name);
      SLAB_CHECK(it != values.end(), "network graph: node '", node.output, "' (", node.op, ") reads '", name,
                 "', which no earlier node writes");
      in.push_back(it->second);
    }
    values[node.output] = run_node(node, in);
  }
  auto out = values.find(graph.output);
  SLAB_CHECK(out != values.end(), "network graph: no node writes the output '", graph.output, "'");
  return out->second;
}

Tensor GraphModule::forward(const Tensor& input) {
  NoGradGuard no_grad;
  const Tensor out = run_graph(graph_, input);
  return graph_.output_kind == GraphOutput::Probabilities ? log(out) : out;
}

}  // namespace slab::tools
