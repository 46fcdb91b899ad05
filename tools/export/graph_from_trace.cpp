#include "tools/export/graph_from_trace.h"

#include <cmath>
#include <map>
#include <utility>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/trace.h"

namespace slab::tools {

namespace {

using trace::TracedOp;

// A deterministic example input with values of both signs and no symmetry (so no op can
// pass the trace by accident on zeros).
Tensor example_input(const Shape& shape) {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  std::vector<double> values(static_cast<size_t>(count));
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.37 * static_cast<double>(i) + 0.1);
  return from_vector(values, shape);
}

bool all_zero(const Tensor& t) {
  for (double v : t.to_vector())
    if (v != 0.0) return false;
  return true;
}

std::vector<int64_t> pair_at(const std::vector<int64_t>& ints, size_t at) { return {ints[at], ints[at + 1]}; }

class GraphBuilder {
 public:
  GraphBuilder(Module& model, const Tensor& input, const trace::Tracer& tracer) : input_(input) {
    for (const NamedParameter& p : model.named_parameters()) add_weight(p.name, p.tensor, true);
    for (const auto& [name, tensor] : model.named_buffers()) add_weight(name, tensor, false);
    for (size_t i = 0; i < tracer.ops.size(); ++i) producer_[tracer.ops[i].output.impl()] = i;  // the last writer
    ops_ = &tracer.ops;
    graph_.input_shape = input.shape();
  }

  NetworkGraph build(const Tensor& output) {
    graph_.output = value_of(output, "the network's output");
    keep_used_weights();
    return std::move(graph_);
  }

 private:
  void add_weight(const std::string& name, const Tensor& tensor, bool parameter) {
    weight_names_[tensor.impl()] = name;
    all_weights_.emplace_back(name, tensor);
    if (parameter) graph_.parameters.insert(name);
  }

  // The graph's name for tensor `t`, translating the op that made it (and, first, the ops
  // it reads) when it has not been seen. `reader` describes who reads it, for errors.
  std::string value_of(const Tensor& t, const std::string& reader) {
    if (!t.defined()) return "";
    if (t.same(input_)) return graph_.input;
    if (auto w = weight_names_.find(t.impl()); w != weight_names_.end()) return used(w->second);
    if (auto v = values_.find(t.impl()); v != values_.end()) return v->second;
    auto p = producer_.find(t.impl());
    SLAB_CHECK(p != producer_.end(), "slab-export: ", reader, " (shape ", t.shape(),
               ") is neither the network's input, a parameter or buffer, nor the output of an op the exporter "
               "traces (a tensor made by another op or outside the ops)");
    const std::string name = translate((*ops_)[p->second]);
    values_[t.impl()] = name;
    return name;
  }

  std::string used(const std::string& weight) {
    used_weights_.insert(weight);
    return weight;
  }

  std::string input_of(const TracedOp& op, size_t k) {
    return value_of(op.inputs[k], "input " + std::to_string(k) + " of " + op.op);
  }

  std::string emit(const std::string& op, std::vector<std::string> inputs, nlohmann::json attributes,
                   const Shape& shape) {
    std::string name = "x";
    name += std::to_string(++counter_);
    graph_.nodes.push_back({op, std::move(inputs), name, std::move(attributes), shape});
    return name;
  }

  // A constant weight made for the graph (batch norm without affine parameters).
  std::string constant(const std::string& name, const Tensor& value) {
    graph_.weights.emplace_back(name, value);
    return name;
  }

  std::string translate(const TracedOp& op);
  std::string translate_batch_norm(const TracedOp& op);
  std::string translate_cat(const TracedOp& op);
  std::string translate_narrow(const TracedOp& op);
  std::string translate_shape_op(const TracedOp& op);
  std::string translate_pool(const TracedOp& op);

  [[noreturn]] void unknown(const TracedOp& op, const std::string& why) {
    std::string known;
    for (const std::string& name : graph_ops()) known += (known.empty() ? "" : ", ") + name;
    SLAB_FAIL("slab-export: the network uses ", op.op, " on ", op.inputs.empty() ? Shape{} : op.inputs[0].shape(),
              why.empty() ? "" : " (" + why + ")", ", which the exporter does not know (it writes ", known, ")");
  }

  void keep_used_weights() {
    NamedTensors kept;
    for (auto& entry : all_weights_)
      if (used_weights_.count(entry.first)) kept.push_back(entry);
    for (auto& entry : graph_.weights) kept.push_back(entry);  // the constants made for the graph
    graph_.weights = std::move(kept);
    std::set<std::string> parameters;
    for (const std::string& name : graph_.parameters)
      if (used_weights_.count(name)) parameters.insert(name);
    graph_.parameters = std::move(parameters);
  }

  Tensor input_;
  const std::vector<TracedOp>* ops_ = nullptr;
  std::map<const TensorImpl*, std::string> weight_names_, values_;
  std::map<const TensorImpl*, size_t> producer_;
  NamedTensors all_weights_;
  std::set<std::string> used_weights_;
  NetworkGraph graph_;
  int counter_ = 0;
};

std::string GraphBuilder::translate(const TracedOp& op) {
  const Shape& shape = op.output.shape();
  const std::vector<int64_t>& a = op.ints;
  if (op.op == "conv2d")
    return emit("conv2d", {input_of(op, 0), input_of(op, 1), input_of(op, 2)},
                {{"stride", pair_at(a, 0)}, {"padding", pair_at(a, 2)}, {"dilation", pair_at(a, 4)}, {"groups", a[6]}},
                shape);
  if (op.op == "batch_norm") return translate_batch_norm(op);
  if (op.op == "linear") {
    if (op.inputs[0].dim() != 2) unknown(op, "linear on an input of rank other than 2");
    return emit("linear", {input_of(op, 0), input_of(op, 1), input_of(op, 2)}, {}, shape);
  }
  if (op.op == "relu" || op.op == "sigmoid" || op.op == "tanh") return emit(op.op, {input_of(op, 0)}, {}, shape);
  if (op.op == "add") {
    if (op.inputs.size() != 2) unknown(op, "adding a constant number");
    if (op.inputs[0].shape() != op.inputs[1].shape()) unknown(op, "broadcasting");
    return emit("add", {input_of(op, 0), input_of(op, 1)}, {}, shape);
  }
  if (op.op == "max_pool2d" || op.op == "avg_pool2d" || op.op == "adaptive_avg_pool2d" || op.op == "mean")
    return translate_pool(op);
  if (op.op == "flatten" || op.op == "reshape") return translate_shape_op(op);
  if (op.op == "cat") return translate_cat(op);
  if (op.op == "narrow") return translate_narrow(op);
  if (op.op == "softmax") return emit("softmax", {input_of(op, 0)}, {{"axis", a[0]}}, shape);
  unknown(op, "");
}

std::string GraphBuilder::translate_batch_norm(const TracedOp& op) {
  if (op.ints[0] != 0) unknown(op, "batch_norm in training mode: the network was not in evaluation mode");
  std::vector<std::string> inputs{input_of(op, 0)};
  const int64_t channels = op.inputs[0].size(1);
  for (size_t k = 1; k < 5; ++k) {
    if (op.inputs[k].defined()) {
      inputs.push_back(input_of(op, k));
    } else if (k <= 2) {  // no affine parameters: scale 1, shift 0
      const std::string name = "constant" + std::to_string(counter_ + 1) + (k == 1 ? ".scale" : ".bias");
      inputs.push_back(constant(name, full({channels}, k == 1 ? 1.0 : 0.0, {op.inputs[0].dtype()})));
    } else {
      unknown(op, "batch_norm without running statistics");
    }
  }
  return emit("batch_norm", inputs, {{"eps", op.reals[0]}}, op.output.shape());
}

std::string GraphBuilder::translate_pool(const TracedOp& op) {
  const Shape& shape = op.output.shape();
  const Tensor& x = op.inputs[0];
  if (op.op == "max_pool2d" || op.op == "avg_pool2d")
    return emit(op.op, {input_of(op, 0)},
                {{"kernel", pair_at(op.ints, 0)}, {"stride", pair_at(op.ints, 2)}, {"padding", pair_at(op.ints, 4)}},
                shape);
  if (op.op == "adaptive_avg_pool2d") {
    const int64_t oh = op.ints[0], ow = op.ints[1];
    if (oh == 1 && ow == 1) return emit("global_avg_pool", {input_of(op, 0)}, {}, shape);
    if (x.size(2) % oh != 0 || x.size(3) % ow != 0) unknown(op, "adaptive pooling with uneven windows");
    const std::vector<int64_t> window{x.size(2) / oh, x.size(3) / ow};
    return emit("avg_pool2d", {input_of(op, 0)},
                {{"kernel", window}, {"stride", window}, {"padding", std::vector<int64_t>{0, 0}}}, shape);
  }
  // mean over the spatial dimensions of an NCHW tensor: a global average pool.
  const bool keepdim = op.ints[0] == 1;
  if (x.dim() != 4 || op.ints.size() != 3 || op.ints[1] != 2 || op.ints[2] != 3)
    unknown(op, "a mean over other than the spatial dimensions of [n, c, h, w]");
  const std::string pooled = emit("global_avg_pool", {input_of(op, 0)}, {}, {x.size(0), x.size(1), 1, 1});
  return keepdim ? pooled : emit("flatten", {pooled}, {}, shape);
}

std::string GraphBuilder::translate_shape_op(const TracedOp& op) {
  const Tensor& x = op.inputs[0];
  const Shape& shape = op.output.shape();
  // Both are a flatten exactly when they keep the batch and merge everything after it.
  if (shape.size() != 2 || x.dim() < 2 || shape[0] != x.size(0)) unknown(op, "a reshape other than [n, rest]");
  return emit("flatten", {input_of(op, 0)}, {}, shape);
}

std::string GraphBuilder::translate_cat(const TracedOp& op) {
  // Values with zero blocks anywhere between them (the option-A shortcut, whole or shrunken:
  // layers/shrink.h scatters its kept channels among zeros). Each run of zero blocks becomes
  // pad_channels on the value after it (the last value's "after" for trailing zeros), then
  // one concat of the padded values.
  const int64_t axis = op.ints[0];
  auto is_zero_block = [&](const Tensor& t) {
    return !t.same(input_) && !weight_names_.count(t.impl()) && !producer_.count(t.impl()) && all_zero(t);
  };
  struct Piece {
    size_t input;
    int64_t before = 0, after = 0;
  };
  std::vector<Piece> pieces;
  int64_t zeros_pending = 0;
  for (size_t k = 0; k < op.inputs.size(); ++k) {
    if (!is_zero_block(op.inputs[k])) {
      pieces.push_back({k, zeros_pending, 0});
      zeros_pending = 0;
    } else {
      if (axis != 1) unknown(op, "zero blocks concatenated along an axis other than 1");
      zeros_pending += op.inputs[k].size(1);
    }
  }
  if (pieces.empty()) unknown(op, "a concatenation of constants only");
  pieces.back().after = zeros_pending;
  std::vector<std::string> inputs;
  for (const Piece& piece : pieces) {
    std::string value = input_of(op, piece.input);
    if (piece.before > 0 || piece.after > 0) {
      Shape padded = op.inputs[piece.input].shape();
      padded[1] += piece.before + piece.after;
      value = emit("pad_channels", {value}, {{"before", piece.before}, {"after", piece.after}}, padded);
    }
    inputs.push_back(value);
  }
  if (inputs.size() == 1) return inputs.front();
  return emit("concat", inputs, {{"axis", axis}}, op.output.shape());
}

std::string GraphBuilder::translate_narrow(const TracedOp& op) {
  const int64_t dim = op.ints[0], start = op.ints[1], length = op.ints[2];
  if (dim != 1) unknown(op, "a slice along a dimension other than the channels");
  return emit("slice_channels", {input_of(op, 0)}, {{"start", start}, {"length", length}}, op.output.shape());
}

}  // namespace

NetworkGraph trace_network(Module& model, const Shape& input_shape) {
  SLAB_CHECK(input_shape.size() >= 2 && input_shape[0] == 1, "trace_network: expected an example shape [1, ...], got ",
             input_shape);
  model.eval();
  NoGradGuard no_grad;
  const Tensor input = example_input(input_shape);
  trace::Tracer tracer;
  Tensor output;
  {
    trace::ScopedTrace scope(tracer);
    output = model(input);
  }
  return GraphBuilder(model, input, tracer).build(output);
}

}  // namespace slab::tools
