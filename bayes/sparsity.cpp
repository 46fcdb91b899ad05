#include "bayes/sparsity.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_set>

#include "core/autograd.h"
#include "layers/batch_norm.h"
#include "layers/channel_coupling.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "optim/prior_state.h"

namespace slab {

namespace {

int64_t count_zeros(const Tensor& t) {
  if (!t.defined()) return 0;
  int64_t zeros = 0;
  for (double v : t.to_vector()) zeros += v == 0.0 ? 1 : 0;
  return zeros;
}

// Output positions (h' w') of every conv, from one forward pass: each conv2d node of the
// autograd graph records its input's shape, and its weight (a leaf) names the module.
std::map<const TensorImpl*, int64_t> conv_positions(Module& model, const Shape& example_input) {
  std::map<const TensorImpl*, const Conv2d*> conv_of_weight;
  for (auto& [name, module] : model.named_modules())
    if (auto* conv = dynamic_cast<Conv2d*>(module)) conv_of_weight[conv->weight.impl()] = conv;
  std::map<const TensorImpl*, int64_t> positions;
  if (example_input.empty() || conv_of_weight.empty()) return positions;
  const bool was_training = model.is_training();
  model.eval();  // leaves BatchNorm statistics alone
  Device device = Device::cpu();  // the example goes where the weights are (a GPU model)
  for (const NamedParameter& p : model.named_parameters()) {
    device = p.tensor.device();
    break;
  }
  const Tensor output = model.forward(zeros(example_input, {DType::f32, device}));
  model.train(was_training);
  std::vector<std::shared_ptr<Node>> stack;
  std::unordered_set<const Node*> seen;
  if (output.grad_fn()) stack.push_back(output.grad_fn());
  while (!stack.empty()) {
    std::shared_ptr<Node> node = stack.back();
    stack.pop_back();
    if (!seen.insert(node.get()).second) continue;
    if (std::string(node->op_name) == "conv2d" && node->edges.size() >= 2) {
      auto it = conv_of_weight.find(node->edges[1].leaf.get());
      if (it != conv_of_weight.end()) {
        const Conv2d& conv = *it->second;
        const Shape& x = node->edges[0].shape;
        int64_t count = 1;
        for (int d = 0; d < 2; ++d) {
          const int64_t extent = x[static_cast<size_t>(2 + d)];
          const int64_t span = conv.options.dilation[d] * (conv.kernel_size[d] - 1) + 1;
          count *= (extent + 2 * conv.options.padding[d] - span) / conv.options.stride[d] + 1;
        }
        positions[it->first] = count;
      }
    }
    for (const Edge& edge : node->edges)
      if (edge.producer) stack.push_back(edge.producer);
  }
  return positions;
}

// Filter o of a conv weight [out, in, kh, kw] is all zeros (and its bias, if any, is zero).
std::vector<bool> zero_filters(const Conv2d& conv) {
  const std::vector<double> w = conv.weight.to_vector();
  const int64_t out = conv.weight.size(0), per_filter = conv.weight.numel() / out;
  const std::vector<double> b = conv.bias.defined() ? conv.bias.to_vector() : std::vector<double>();
  std::vector<bool> zero(static_cast<size_t>(out), true);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t k = 0; k < per_filter && zero[static_cast<size_t>(o)]; ++k)
      if (w[static_cast<size_t>(o * per_filter + k)] != 0.0) zero[static_cast<size_t>(o)] = false;
    if (!b.empty() && b[static_cast<size_t>(o)] != 0.0) zero[static_cast<size_t>(o)] = false;
  }
  return zero;
}

// Channel c of a BatchNorm is zero for a zero input: shift 0, and scale 0 or running mean 0.
std::vector<bool> dead_after_batch_norm(const BatchNorm& bn, const std::vector<bool>& input_zero) {
  std::vector<bool> dead = input_zero;
  if (!bn.options.affine) return dead;  // normalising zero gives zero when the running mean is zero
  const std::vector<double> gamma = bn.weight.to_vector(), beta = bn.bias.to_vector();
  const std::vector<double> mean = bn.running_mean.to_vector();
  for (size_t c = 0; c < dead.size(); ++c)
    dead[c] = dead[c] && beta[c] == 0.0 && (gamma[c] == 0.0 || mean[c] == 0.0);
  return dead;
}

// The dead input channels of `reader` expanded to its `columns` input columns (a Linear
// after a flatten reads columns / channels columns per channel); all false when it reads
// no dead channel. `exact` (a conv) requires one column per channel.
std::vector<bool> dead_inputs_of(const std::map<std::string, std::vector<bool>>& dead_inputs, const std::string& reader,
                                 int64_t columns, bool exact) {
  std::vector<bool> dead(static_cast<size_t>(columns), false);
  auto it = dead_inputs.find(reader);
  if (it == dead_inputs.end()) return dead;
  const int64_t channels = static_cast<int64_t>(it->second.size());
  SLAB_CHECK(channels > 0 && columns % channels == 0 && (!exact || columns == channels), "sparsity: '", reader,
             "' has ", columns, " input columns but reads ", channels, " channels");
  const int64_t per_channel = columns / channels;
  for (int64_t j = 0; j < columns; ++j) dead[static_cast<size_t>(j)] = it->second[static_cast<size_t>(j / per_channel)];
  return dead;
}

using ChannelFlags = std::map<std::string, std::vector<bool>>;  // by module name

// Dead output channels of every conv (zero filters; after its BatchNorm when paired: a
// filter is dead when its channel is dead after BN) and of every paired BatchNorm.
ChannelFlags dead_output_channels(const std::vector<std::pair<std::string, Module*>>& modules,
                                  const ChannelCouplings& couplings) {
  std::map<std::string, Module*> module_of;
  for (auto& [name, module] : modules) module_of[name] = module;
  ChannelFlags dead_channels;
  for (auto& [name, module] : modules)
    if (auto* conv = dynamic_cast<Conv2d*>(module)) dead_channels[name] = zero_filters(*conv);
  for (const ConvBatchNormPair& pair : couplings.conv_batch_norm) {
    auto* bn = dynamic_cast<BatchNorm*>(module_of.at(pair.batch_norm));
    SLAB_CHECK(bn != nullptr, "sparsity: '", pair.batch_norm, "' is not a BatchNorm");
    const std::vector<bool> after = dead_after_batch_norm(*bn, dead_channels.at(pair.conv));
    dead_channels[pair.batch_norm] = after;
    dead_channels[pair.conv] = after;
  }
  return dead_channels;
}

// Residual streams: channel j is removed only when every member is dead at j - offset.
ChannelFlags dead_stream_channels(const ChannelCouplings& couplings, const ChannelFlags& dead_channels,
                                  std::vector<StreamSparsity>& streams) {
  ChannelFlags dead_in_stream;
  for (const ResidualStream& stream : couplings.residual_streams) {
    std::vector<bool>& dead = dead_in_stream[stream.name];
    dead.assign(static_cast<size_t>(stream.channels), true);
    for (int64_t j = 0; j < stream.channels; ++j) {
      for (const StreamMember& member : stream.members) {
        const int64_t c = j - member.channel_offset;
        auto it = dead_channels.find(member.module);
        if (it == dead_channels.end()) {
          if (c >= 0) dead[static_cast<size_t>(j)] = false;  // an unknown member: assume alive inside its range
          continue;
        }
        if (c >= 0 && c < static_cast<int64_t>(it->second.size()) && !it->second[static_cast<size_t>(c)])
          dead[static_cast<size_t>(j)] = false;
      }
    }
    streams.push_back({stream.name, stream.channels, std::count(dead.begin(), dead.end(), true)});
  }
  return dead_in_stream;
}

// The input channels every reader gets as zeros (a dead source channel).
ChannelFlags dead_reader_inputs(const ChannelCouplings& couplings, const ChannelFlags& dead_channels,
                                const ChannelFlags& dead_in_stream) {
  ChannelFlags dead_inputs;
  for (const ChannelReader& r : couplings.readers) {
    const auto& sources = r.from_stream ? dead_in_stream : dead_channels;
    auto source = sources.find(r.source);
    if (source == sources.end()) continue;  // e.g. a stream of one member that was dropped
    std::vector<bool>& dead = dead_inputs[r.reader];
    if (dead.empty()) dead.assign(source->second.size(), false);
    SLAB_CHECK(dead.size() == source->second.size(), "sparsity: '", r.reader, "' reads ", dead.size(), " and ",
               source->second.size(), " channels from two sources");
    for (size_t c = 0; c < dead.size(); ++c) dead[c] = dead[c] || source->second[c];
  }
  return dead_inputs;
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

// A conv weight is kept when it is nonzero, its filter is alive and its input channel is
// not dead; its MACs are the kept weights times the output positions.
LayerSparsity conv_sparsity(const std::string& name, const Conv2d& conv, const PriorState* state,
                            const std::vector<bool>& dead, const ChannelFlags& dead_inputs, int64_t positions) {
  LayerSparsity layer = layer_row(name, "conv", {conv.weight, conv.bias}, conv.weight.shape());
  layer.filters = conv.weight.size(0);
  layer.columns = conv.weight.size(1);
  if (state) {
    for (int64_t o = 0; o < layer.filters; ++o) layer.pruned_filters += state->row_kept(o) ? 0 : 1;
    for (int64_t i = 0; i < layer.columns; ++i) layer.pruned_columns += state->column_kept(i) ? 0 : 1;
  }
  layer.dead_filters = std::count(dead.begin(), dead.end(), true);
  const std::vector<bool> dead_in = dead_inputs_of(dead_inputs, name, layer.columns, true);
  layer.dead_columns = std::count(dead_in.begin(), dead_in.end(), true);
  const std::vector<double> w = conv.weight.to_vector();
  const int64_t per_column = conv.weight.numel() / (layer.filters * layer.columns);
  int64_t kept = 0;
  for (int64_t o = 0; o < layer.filters; ++o)
    for (int64_t i = 0; i < layer.columns; ++i) {
      if (dead[static_cast<size_t>(o)] || dead_in[static_cast<size_t>(i)]) continue;
      for (int64_t k = 0; k < per_column; ++k)
        kept += w[static_cast<size_t>((o * layer.columns + i) * per_column + k)] != 0.0 ? 1 : 0;
    }
  layer.weights = conv.weight.numel();
  layer.removed_weights = layer.weights - kept;
  if (positions > 0) {
    layer.dense_macs = static_cast<double>(positions) * static_cast<double>(conv.weight.numel());
    layer.kept_macs = static_cast<double>(positions) * static_cast<double>(kept);
  }
  return layer;
}

// Columns read from a dead channel (k per channel after a flatten) are removed too.
LayerSparsity linear_sparsity(const std::string& name, const Linear& linear, const PriorState* state,
                              const ChannelFlags& dead_inputs) {
  LayerSparsity layer = layer_row(name, "linear", {linear.weight, linear.bias}, linear.weight.shape());
  layer.columns = linear.in_features;
  if (state)
    for (int64_t j = 0; j < layer.columns; ++j) layer.pruned_columns += state->column_kept(j) ? 0 : 1;
  const std::vector<bool> dead_in = dead_inputs_of(dead_inputs, name, layer.columns, false);
  layer.dead_columns = std::count(dead_in.begin(), dead_in.end(), true);
  const std::vector<double> w = linear.weight.to_vector();
  int64_t kept = 0;
  for (int64_t o = 0; o < linear.out_features; ++o)
    for (int64_t j = 0; j < layer.columns; ++j)
      kept += !dead_in[static_cast<size_t>(j)] && w[static_cast<size_t>(o * layer.columns + j)] != 0.0 ? 1 : 0;
  layer.weights = linear.weight.numel();
  layer.removed_weights = layer.weights - kept;
  layer.dense_macs = static_cast<double>(linear.weight.numel());
  layer.kept_macs = static_cast<double>(kept);
  return layer;
}

LayerSparsity batch_norm_sparsity(const std::string& name, const BatchNorm& bn, const ChannelFlags& dead_channels) {
  LayerSparsity layer = layer_row(name, "batchnorm", {bn.weight, bn.bias}, bn.running_mean.shape());
  layer.filters = bn.num_features;
  auto dead = dead_channels.find(name);
  if (dead != dead_channels.end()) layer.dead_filters = std::count(dead->second.begin(), dead->second.end(), true);
  return layer;
}

}  // namespace

SparsityReport sparsity_report(Module& model, const Optimizer* optimizer, const Shape& example_input) {
  SparsityReport report;
  const auto modules = model.named_modules();
  const ChannelCouplings couplings = channel_couplings(model);
  std::map<std::string, const PriorState*> masks;  // from the optimizer, by parameter name
  if (const auto* holder = dynamic_cast<const PriorStateHolder*>(optimizer)) {
    for (size_t i = 0; i < optimizer->parameters().size(); ++i)
      masks[optimizer->parameters()[i].name] = &holder->prior_states()[i];
  }
  auto mask_of = [&](const std::string& name) -> const PriorState* {
    auto it = masks.find(name + ".weight");
    return it == masks.end() ? nullptr : it->second;
  };
  const auto positions = conv_positions(model, example_input);
  report.macs_measured = !positions.empty();
  const ChannelFlags dead_channels = dead_output_channels(modules, couplings);
  const ChannelFlags dead_in_stream = dead_stream_channels(couplings, dead_channels, report.streams);
  const ChannelFlags dead_inputs = dead_reader_inputs(couplings, dead_channels, dead_in_stream);

  for (auto& [name, module] : modules) {
    LayerSparsity layer;
    if (auto* conv = dynamic_cast<Conv2d*>(module)) {
      auto position = positions.find(conv->weight.impl());
      layer = conv_sparsity(name, *conv, mask_of(name), dead_channels.at(name), dead_inputs,
                            position == positions.end() ? 0 : position->second);
      report.conv_weights += layer.weights;
      report.conv_removed_weights += layer.removed_weights;
    } else if (auto* linear = dynamic_cast<Linear*>(module)) {
      layer = linear_sparsity(name, *linear, mask_of(name), dead_inputs);
    } else if (auto* bn = dynamic_cast<BatchNorm*>(module)) {
      layer = batch_norm_sparsity(name, *bn, dead_channels);
    } else {
      continue;
    }
    report.dense_macs += layer.dense_macs;
    report.kept_macs += layer.kept_macs;
    report.layers.push_back(layer);
  }
  for (const NamedParameter& p : model.named_parameters()) {
    report.parameters += p.tensor.numel();
    report.zeros += count_zeros(p.tensor);
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
