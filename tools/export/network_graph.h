// NetworkGraph: a network as slab-export writes it, a small graph of inference ops over
// named values and named weights, independent of the Module classes that produced it.
//
// Values are named strings: the graph's input, every node's output, and the weights
// (parameters and buffers under their state-dict names, so a weight file of the graph is the
// checkpoint's tensors under the checkpoint's keys). A node reads values and weights in the
// op's argument order; "" stands for an absent optional input (a conv without bias).
// Dimension 0 of every value is the batch and may take any size; the shapes kept are those
// of the traced example (batch 1).
//
// The ops and their attributes (all in NCHW; what every backend of tools/export/ implements):
//   conv2d(x, weight, bias?)                 stride [h, w], padding [h, w], dilation [h, w], groups
//   batch_norm(x, scale, bias, mean, var)    eps; evaluation mode (running statistics)
//   linear(x, weight, bias?)                 x [n, in], weight [out, in]: x W^T + b
//   relu(x), sigmoid(x), tanh(x)
//   add(a, b)                                same shapes
//   max_pool2d(x), avg_pool2d(x)             kernel, stride, padding [h, w]; floor sizes; the
//                                            average counts the zero padding (PyTorch's default)
//   global_avg_pool(x)                       [n, c, h, w] -> [n, c, 1, 1]
//   flatten(x)                               [n, ...] -> [n, rest]
//   pad_channels(x)                          before, after: that many zero channels either side
//   slice_channels(x)                        start, length: channels [start, start + length)
//   concat(x...)                             axis
//   softmax(x)                               axis
//   mean_of(x...)                            the elementwise mean of its inputs
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "core/shape.h"

namespace slab::tools {

struct GraphNode {
  std::string op;
  std::vector<std::string> inputs;
  std::string output;
  nlohmann::json attributes = nlohmann::json::object();
  Shape output_shape;  // of the traced example
};

// What the graph's output means: the network's logits, or (a model average) probabilities.
enum class GraphOutput { Logits, Probabilities };

struct NetworkGraph {
  std::string input = "input";
  Shape input_shape;  // the traced example's, [1, C, H, W]
  std::vector<GraphNode> nodes;  // in an order where every value is written before it is read
  std::string output;
  GraphOutput output_kind = GraphOutput::Logits;
  NamedTensors weights;              // in state-dict order
  std::set<std::string> parameters;  // the weights that are parameters (the others are buffers)

  const Tensor& weight(const std::string& name) const;  // throws naming the graph's weights
  bool is_weight(const std::string& name) const;
};

// The ops above, in that order (the exporters' error messages list them).
const std::vector<std::string>& graph_ops();

// Size of a graph: parameters (elements of the parameter weights) and the multiply-adds of
// one example: a conv's output positions x its weight elements, a linear layer's weight
// elements (batch norm, pools and additions are not counted: they are a few per value).
struct GraphCost {
  int64_t parameters = 0;
  int64_t multiply_adds = 0;
};
GraphCost graph_cost(const NetworkGraph& graph);

// The model average of `members` as one graph: each member's weights and values under the
// prefix "m<k>." (k = 0, 1, ...), each member's output through a softmax over classes, and
// the output the mean of those probabilities (output_kind Probabilities). Members of
// different shapes are fine; they must share the input shape.
NetworkGraph average_graph(const std::vector<NetworkGraph>& members);

}  // namespace slab::tools
