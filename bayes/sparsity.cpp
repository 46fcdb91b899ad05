#include "bayes/sparsity.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_set>

#include "core/autograd.h"
#include "layers/channel_analysis.h"
#include "layers/channel_graph.h"
#include "optim/prior_state.h"

namespace slab {

namespace {

int64_t count_zeros(const Tensor& t) {
  if (!t.defined()) return 0;
  int64_t zeros = 0;
  for (double v : t.to_vector()) zeros += v == 0.0 ? 1 : 0;
  return zeros;
}

// Output positions (h' w') of every conv mixer, from one forward pass: the autograd node
// that reads a mixer's weight (a leaf) made that mixer's output, whose shape its consumer
// recorded (or the output itself is).
std::map<const TensorImpl*, int64_t> mixer_positions(Module& model, const ChannelGraph& graph,
                                                     const Shape& example_input) {
  std::map<const TensorImpl*, int64_t> positions;
  std::unordered_set<const TensorImpl*> conv_weights;
  for (const ChannelNode& node : graph.nodes)
    if ((node.role == ChannelRole::Mixer || node.role == ChannelRole::GroupedMixer) && node.mixer.weight.dim() == 4)
      conv_weights.insert(node.mixer.weight.impl());
  if (example_input.empty() || conv_weights.empty()) return positions;
  const bool was_training = model.is_training();
  model.eval();  // leaves BatchNorm statistics alone
  Device device = Device::cpu();  // the example goes where the weights are (a GPU model)
  for (const NamedParameter& p : model.named_parameters()) {
    device = p.tensor.device();
    break;
  }
  const Tensor output = model.forward(zeros(example_input, {DType::f32, device}));
  model.train(was_training);
  std::map<const Node*, Shape> output_shape;
  std::vector<std::shared_ptr<Node>> stack, visited;
  std::unordered_set<const Node*> seen;
  if (output.grad_fn()) {
    stack.push_back(output.grad_fn());
    output_shape[output.grad_fn().get()] = output.shape();
  }
  while (!stack.empty()) {
    std::shared_ptr<Node> node = stack.back();
    stack.pop_back();
    if (!seen.insert(node.get()).second) continue;
    visited.push_back(node);
    for (const Edge& edge : node->edges)
      if (edge.producer) {
        output_shape[edge.producer.get()] = edge.shape;
        stack.push_back(edge.producer);
      }
  }
  for (const std::shared_ptr<Node>& node : visited) {
    const auto shape = output_shape.find(node.get());
    if (shape == output_shape.end() || shape->second.size() != 4) continue;
    for (const Edge& edge : node->edges)
      if (edge.leaf && conv_weights.count(edge.leaf.get())) positions[edge.leaf.get()] = shape->second[2] * shape->second[3];
  }
  return positions;
}

// A layer's row with what every kind reports: its name, kind, the shape of its weight (or
// statistics) and the count and zeros of its own parameters.
LayerSparsity layer_row(const std::string& name, const char* kind, const std::vector<Tensor>& parameters,
                        const Shape& shape) {
  LayerSparsity layer;
  layer.name = name;
  layer.kind = kind;
  layer.shape = shape;
  for (const Tensor& t : parameters)
    if (t.defined()) {
      layer.parameters += t.numel();
      layer.zeros += count_zeros(t);
    }
  return layer;
}

// The removed flags of a value's channels expanded to `columns` input columns (k per
// channel after a flatten).
// A channel is dead when the shrinker removes it or it is identically zero there.
bool dead_at(const ChannelAnalysis& analysis, int value, int64_t c) {
  return analysis.removed_at(value, c) ||
         analysis.facts[static_cast<size_t>(value)][static_cast<size_t>(c)].state == ChannelState::Zero;
}

int64_t dead_count(const ChannelGraph& graph, const ChannelAnalysis& analysis, int value) {
  int64_t dead = 0;
  for (int64_t c = 0; c < graph.values[static_cast<size_t>(value)].channels; ++c) dead += dead_at(analysis, value, c);
  return dead;
}

std::vector<bool> removed_columns(const ChannelGraph& graph, const ChannelAnalysis& analysis, int value,
                                  int64_t columns) {
  const int64_t channels = std::max<int64_t>(graph.values[static_cast<size_t>(value)].channels, 1);
  const int64_t per_channel = std::max<int64_t>(columns / channels, 1);
  std::vector<bool> removed(static_cast<size_t>(columns), false);
  for (int64_t j = 0; j < columns && j / per_channel < channels; ++j)
    removed[static_cast<size_t>(j)] = dead_at(analysis, value, j / per_channel);
  return removed;
}

// A mixer's row: a weight is kept when it is nonzero, its filter stays and its input
// channel stays; a conv's MACs are the kept weights times its output positions, a
// linear's the kept weights.
LayerSparsity mixer_sparsity(const ChannelGraph& graph, const ChannelAnalysis& analysis, const ChannelNode& node,
                             const PriorState* state, int64_t positions) {
  const Tensor& weight = node.mixer.weight;
  const bool conv = weight.dim() == 4;
  LayerSparsity layer = layer_row(node.name, conv ? "conv" : "linear", {weight, node.mixer.bias}, weight.shape());
  const int64_t rows = weight.size(0), columns = weight.size(1), inner = weight.numel() / (rows * columns);
  if (conv) layer.filters = rows;
  layer.columns = columns;
  if (state) {
    if (conv)
      for (int64_t o = 0; o < rows; ++o) layer.pruned_filters += state->row_kept(o) ? 0 : 1;
    for (int64_t i = 0; i < columns; ++i) layer.pruned_columns += state->column_kept(i) ? 0 : 1;
  }
  // A filter is dead when its channel is, after the BatchNorm that reads it alone.
  const int normaliser = sole_normaliser_reader(graph, node.output.id);
  const int out = normaliser >= 0 ? graph.nodes[static_cast<size_t>(normaliser)].output.id : node.output.id;
  if (conv) layer.dead_filters = dead_count(graph, analysis, out);
  // A grouped conv's columns are per group: only an ungrouped mixer maps them to channels.
  const std::vector<bool> dead_in = node.mixer.groups == 1
                                        ? removed_columns(graph, analysis, node.inputs[0].value.id, columns)
                                        : std::vector<bool>(static_cast<size_t>(columns), false);
  layer.dead_columns = std::count(dead_in.begin(), dead_in.end(), true);
  const std::vector<double> w = weight.to_vector();
  int64_t kept = 0;
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t i = 0; i < columns; ++i) {
      if (dead_at(analysis, out, o) || dead_in[static_cast<size_t>(i)]) continue;
      for (int64_t k = 0; k < inner; ++k) kept += w[static_cast<size_t>((o * columns + i) * inner + k)] != 0.0 ? 1 : 0;
    }
  layer.weights = weight.numel();
  layer.removed_weights = layer.weights - kept;
  const double scale = conv ? static_cast<double>(positions) : 1.0;
  if (!conv || positions > 0) {
    layer.dense_macs = scale * static_cast<double>(weight.numel());
    layer.kept_macs = scale * static_cast<double>(kept);
  }
  return layer;
}

LayerSparsity normaliser_sparsity(const ChannelGraph& graph, const ChannelAnalysis& analysis, const ChannelNode& node) {
  const NormaliserChannels& n = node.normaliser;
  LayerSparsity layer = layer_row(node.name, "batchnorm", {n.scale, n.shift}, n.running_mean.shape());
  layer.filters = n.running_mean.numel();
  layer.dead_filters = dead_count(graph, analysis, node.output.id);
  return layer;
}

}  // namespace

WeightUses weight_uses(Module& model, const Shape& example_input) {
  const ChannelGraph graph = channel_graph(model);
  const auto positions = mixer_positions(model, graph, example_input);
  std::map<const TensorImpl*, std::string> names;
  for (const NamedParameter& p : model.named_parameters()) names[p.tensor.impl()] = p.name;
  WeightUses uses;
  for (const ChannelNode& node : graph.nodes) {
    if (node.role != ChannelRole::Mixer && node.role != ChannelRole::GroupedMixer) continue;
    const Tensor& weight = node.mixer.weight;
    const auto name = names.find(weight.impl());
    if (name == names.end()) continue;
    if (weight.dim() == 2) {
      uses[name->second] = 1.0;  // a linear weight: once per example
      continue;
    }
    const auto position = positions.find(weight.impl());
    SLAB_CHECK(position != positions.end(), "weight uses: the forward pass on ", example_input,
               " did not reach the conv '", node.name, "'");
    uses[name->second] = static_cast<double>(position->second);
  }
  return uses;
}

SparsityReport sparsity_report(Module& model, const Optimizer* optimizer, const Shape& example_input) {
  SparsityReport report;
  const ChannelGraph graph = channel_graph(model);
  const ChannelAnalysis analysis = analyse_channels(graph);
  std::map<std::string, const PriorState*> masks;  // from the optimizer, by parameter name
  if (const auto* holder = dynamic_cast<const PriorStateHolder*>(optimizer)) {
    for (size_t i = 0; i < optimizer->parameters().size(); ++i)
      masks[optimizer->parameters()[i].name] = &holder->prior_states()[i];
  }
  auto mask_of = [&](const std::string& name) -> const PriorState* {
    auto it = masks.find(name + ".weight");
    return it == masks.end() ? nullptr : it->second;
  };
  // Weights that shrinking during training removed, by parameter name: they count as the
  // zeros they were, so every total is of the dense model and the same with --shrink on and off.
  std::map<std::string, int64_t> removed_by_shrinking;
  if (optimizer != nullptr)
    for (size_t i = 0; i < optimizer->parameters().size(); ++i)
      if (const ElementOrigin* origin = optimizer->element_origin(i); origin != nullptr && origin->shrunk())
        removed_by_shrinking[optimizer->parameters()[i].name] = origin->dense_numel() - origin->numel();
  const auto positions = mixer_positions(model, graph, example_input);
  report.macs_measured = !positions.empty();
  for (const ChannelNode& node : graph.nodes) {
    LayerSparsity layer;
    switch (node.role) {
      case ChannelRole::Mixer:
      case ChannelRole::GroupedMixer: {
        auto position = positions.find(node.mixer.weight.impl());
        const int64_t layer_positions = position == positions.end() ? 0 : position->second;
        layer = mixer_sparsity(graph, analysis, node, mask_of(node.name), layer_positions);
        if (auto removed = removed_by_shrinking.find(node.name + ".weight"); removed != removed_by_shrinking.end()) {
          layer.weights += removed->second;
          layer.removed_weights += removed->second;
          if (layer.dense_macs > 0)  // a conv's MACs per weight are its output positions, a linear's 1
            layer.dense_macs += static_cast<double>(layer.kind == "conv" ? layer_positions : 1) * removed->second;
        }
        if (layer.kind == "conv") {
          report.conv_weights += layer.weights;
          report.conv_removed_weights += layer.removed_weights;
        }
        break;
      }
      case ChannelRole::Normaliser: layer = normaliser_sparsity(graph, analysis, node); break;
      case ChannelRole::ResidualAdd:
        report.streams.push_back({node.name, graph.values[static_cast<size_t>(node.output.id)].channels,
                                  dead_count(graph, analysis, node.output.id)});
        continue;
      case ChannelRole::PassThrough:
      case ChannelRole::Flatten: continue;
    }
    report.dense_macs += layer.dense_macs;
    report.kept_macs += layer.kept_macs;
    report.layers.push_back(layer);
  }
  for (const NamedParameter& p : model.named_parameters()) {
    report.parameters += p.tensor.numel();
    report.zeros += count_zeros(p.tensor);
  }
  // A model shrunk during training (docs/algorithm.md#shrinking-during-training).
  for (const auto& [name, removed] : removed_by_shrinking) {
    report.parameters += removed;
    report.zeros += removed;
  }
  return report;
}

std::string SparsityReport::table() const {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %-9s %10s %10s %8s %10s %14s %16s %10s\n", "layer", "kind", "params",
                "zeros", "sparsity", "removed", "filters p/dead", "columns p/dead", "MACs kept");
  out << line;
  for (const LayerSparsity& l : layers) {
    const double sparsity = l.parameters ? static_cast<double>(l.zeros) / static_cast<double>(l.parameters) : 0.0;
    std::string filters = l.kind == "conv" || l.kind == "batchnorm"
                              ? std::to_string(l.pruned_filters) + "/" + std::to_string(l.dead_filters) + " of " +
                                    std::to_string(l.filters)
                              : "-";
    std::string columns = l.columns ? std::to_string(l.pruned_columns) + "/" + std::to_string(l.dead_columns) + " of " +
                                          std::to_string(l.columns)
                                    : "-";
    std::string removed = l.weights ? std::to_string(l.removed_weights) : "-";
    std::string macs = l.dense_macs > 0 ? std::to_string(static_cast<int>(100.0 * l.kept_macs / l.dense_macs + 0.5)) + "%" : "-";
    std::snprintf(line, sizeof line, "%-28s %-9s %10lld %10lld %8.4f %10s %14s %16s %10s\n", l.name.c_str(),
                  l.kind.c_str(), static_cast<long long>(l.parameters), static_cast<long long>(l.zeros), sparsity,
                  removed.c_str(), filters.c_str(), columns.c_str(), macs.c_str());
    out << line;
  }
  for (const StreamSparsity& s : streams) {
    std::snprintf(line, sizeof line, "residual stream %-12s dead channels %lld of %lld\n", s.name.c_str(),
                  static_cast<long long>(s.dead_channels), static_cast<long long>(s.channels));
    out << line;
  }
  out << summary() << "\n";
  return out.str();
}

std::string SparsityReport::summary() const {
  std::ostringstream out;
  out.precision(6);
  out << "sparsity=" << sparsity() << " zeros=" << zeros << "/" << parameters;
  if (conv_weights > 0) out << " conv_removed=" << conv_removed();
  if (macs_measured || dense_macs > 0) {
    out.precision(4);
    out << " macs=" << dense_macs << "->" << kept_macs << " (" << 100.0 * flops_kept() << "% kept)";
  }
  return out.str();
}

}  // namespace slab
