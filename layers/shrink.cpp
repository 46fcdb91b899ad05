#include "layers/shrink.h"

#include <sstream>
#include <tuple>
#include <utility>

#include "core/parse_number.h"
#include "core/error.h"
#include "layers/channel_analysis.h"

namespace slab {

namespace {

size_t at(int64_t i) { return static_cast<size_t>(i); }

void add_to(const Tensor& t, const std::vector<double>& delta, double sign) {
  std::vector<double> values = t.to_vector();
  for (size_t i = 0; i < values.size(); ++i) values[i] += sign * delta[i];
  t.copy_from(from_vector(values, t.shape(), {t.dtype(), t.device()}));
}

bool any_nonzero(const std::vector<double>& v) {
  for (double x : v)
    if (x != 0.0) return true;
  return false;
}

// docs/algorithm.md#exact-channel-removal: a removed constant channel k read by filter o
// adds k * sum(block of o reading it) at every position. A BatchNorm right after the mixer
// removes that shift from the batch mean in training; in evaluation its running mean
// absorbs it (mean - shift). Otherwise the mixer's bias absorbs it (the constant is the
// same in both modes there).
void apply_folds(const ChannelGraph& graph, const ChannelAnalysis& analysis) {
  for (size_t r = 0; r < analysis.reads.size(); ++r) {
    const ChannelNode& mixer = graph.nodes[at(analysis.reads[r].node)];
    if (!any_nonzero(analysis.fold_train[r]) && !any_nonzero(analysis.fold_eval[r])) continue;
    const int normaliser = sole_normaliser_reader(graph, mixer.output.id);
    if (normaliser >= 0) {
      add_to(graph.nodes[at(normaliser)].normaliser.running_mean, analysis.fold_eval[r], -1.0);
    } else {
      SLAB_CHECK(mixer.mixer.bias.defined(), "shrink: '", mixer.name, "' has no bias to absorb a constant channel");
      add_to(mixer.mixer.bias, analysis.fold_train[r], 1.0);
    }
  }
}

int64_t parameter_count(const Module& model) {
  int64_t count = 0;
  for (const NamedParameter& p : model.named_parameters()) count += p.tensor.numel();
  return count;
}

KeptChannels kept_of(const ChannelGraph& graph, const ChannelAnalysis& analysis, const ChannelNode& node) {
  KeptChannels kept;
  for (const ChannelTerm& term : node.inputs) {
    kept.inputs.push_back(analysis.kept(graph, term.value.id));
    kept.input_channels.push_back(std::max<int64_t>(graph.values[at(term.value.id)].channels, 0));
  }
  kept.output = analysis.kept(graph, node.output.id);
  kept.output_channels = graph.values[at(node.output.id)].channels;
  return kept;
}

// Every node's module keeps its channels; the slices of every parameter are read off the
// keep_along calls that made (layers/channel_graph.h: KeepAlongRecord), matched to the
// parameters by tensor identity, so no layer's slicing is restated here.
std::vector<ParameterSlice> keep_recorded(Module& model, const ChannelGraph& graph, const std::vector<KeptChannels>& kept) {
  std::vector<ParameterSlice> slices;
  for (const NamedParameter& p : model.named_parameters()) slices.push_back(ParameterSlice::all_of(p.name, p.tensor.shape()));
  KeepAlongRecord record;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (graph.nodes[i].module) graph.nodes[i].module->keep_channels(graph.nodes[i], kept[i]);
  const std::vector<NamedParameter> after = model.named_parameters();
  SLAB_CHECK(after.size() == slices.size(), "shrink: the model's parameter list changed");
  for (size_t j = 0; j < after.size(); ++j) {
    for (const KeepAlongRecord::Call& call : record.calls)
      if (call.tensor == after[j].tensor.impl()) slices[j].keep_along(call.dim, call.kept);
    SLAB_CHECK(slices[j].shape_after() == after[j].tensor.shape(), "shrink: '", after[j].name, "' has shape ",
               after[j].tensor.shape(), " but its recorded slices give ", slices[j].shape_after());
  }
  return slices;
}

}  // namespace

std::string ShrinkReport::summary() const {
  std::ostringstream out;
  out << "shrink: channels " << channels_before << " -> " << channels_before - channels_removed << ", parameters "
      << parameters_before << " -> " << parameters_after << ", folded " << folded << ", kept unfoldable "
      << unfoldable;
  return out.str();
}

ShrinkReport shrink_dead_channels(Module& model, const ShrinkOptions& options) {
  const ChannelGraph graph = channel_graph(model);
  const ChannelAnalysis analysis = analyse_channels(graph);
  ShrinkReport report;
  report.parameters_before = parameter_count(model);
  report.folded = analysis.folded;
  report.unfoldable = analysis.unfoldable;
  std::vector<KeptChannels> kept(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ChannelNode& node = graph.nodes[i];
    kept[i] = kept_of(graph, analysis, node);
    const bool mixer = node.role == ChannelRole::Mixer || node.role == ChannelRole::GroupedMixer;
    if (!mixer && node.role != ChannelRole::Normaliser) continue;
    ShrunkLayer layer{node.name, node.role, kept[i].input_channels[0], static_cast<int64_t>(kept[i].inputs[0].size()),
                      kept[i].output_channels, static_cast<int64_t>(kept[i].output.size()), kept[i].inputs[0],
                      kept[i].output};
    if (mixer) {
      report.channels_before += layer.outputs_before;
      report.channels_removed += layer.outputs_before - layer.outputs_after;
    }
    report.layers.push_back(std::move(layer));
  }
  if (options.dry_run || report.channels_removed == 0) {
    report.parameters_after = report.parameters_before;
    if (options.dry_run) return report;
  }
  apply_folds(graph, analysis);
  report.parameter_slices = keep_recorded(model, graph, kept);
  report.node_kept = std::move(kept);
  if (report.changed()) model.shrink_history().push_back(report.node_kept);
  report.parameters_after = parameter_count(model);
  return report;
}

std::vector<ParameterSlice> apply_kept_channels(Module& model, const std::vector<KeptChannels>& node_kept) {
  const ChannelGraph graph = channel_graph(model);
  SLAB_CHECK(graph.nodes.size() == node_kept.size(), "shrink: the recorded architecture has ", node_kept.size(),
             " channel-graph nodes, the model ", graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ChannelNode& node = graph.nodes[i];
    const KeptChannels& kept = node_kept[i];
    SLAB_CHECK(kept.output_channels == graph.values[at(node.output.id)].channels &&
                   kept.inputs.size() == node.inputs.size(),
               "shrink: the recorded architecture does not fit the model at '", node.name, "'");
  }
  std::vector<ParameterSlice> slices = keep_recorded(model, graph, node_kept);
  model.shrink_history().push_back(node_kept);
  return slices;
}

namespace {

void write_list(std::ostringstream& out, const std::vector<int64_t>& list) {
  for (size_t i = 0; i < list.size(); ++i) out << (i ? "," : "") << list[i];
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  if (!text.empty() && text.back() == separator) parts.emplace_back();
  return parts;
}

int64_t parse_index(const std::string& text) {
  SLAB_CHECK(!text.empty() && text.find_first_not_of("0123456789") == std::string::npos,
             "shrink history: '", text, "' is not a channel index");
  return parse_int64(text, "shrink history: channel index");
}

// "<channels>:<i,j,...>"
std::pair<int64_t, std::vector<int64_t>> parse_channels(const std::string& text) {
  const size_t colon = text.find(':');
  SLAB_CHECK(colon != std::string::npos, "shrink history: '", text, "' is not <channels>:<kept>");
  std::pair<int64_t, std::vector<int64_t>> result{parse_index(text.substr(0, colon)), {}};
  const std::string list = text.substr(colon + 1);
  if (!list.empty())
    for (const std::string& index : split(list, ',')) {
      result.second.push_back(parse_index(index));
      SLAB_CHECK(result.second.back() < result.first, "shrink history: channel ", result.second.back(), " of ",
                 result.first);
    }
  return result;
}

}  // namespace

std::string shrink_history_text(const ShrinkHistory& history) {
  std::ostringstream out;
  for (size_t s = 0; s < history.size(); ++s) {
    if (s) out << ';';
    for (size_t n = 0; n < history[s].size(); ++n) {
      const KeptChannels& kept = history[s][n];
      if (n) out << '|';
      out << kept.output_channels << ':';
      write_list(out, kept.output);
      for (size_t t = 0; t < kept.inputs.size(); ++t) {
        out << '/' << kept.input_channels[t] << ':';
        write_list(out, kept.inputs[t]);
      }
    }
  }
  return out.str();
}

ShrinkHistory parse_shrink_history(const std::string& text) {
  ShrinkHistory history;
  if (text.empty()) return history;
  for (const std::string& shrink : split(text, ';')) {
    std::vector<KeptChannels> nodes;
    for (const std::string& node : split(shrink, '|')) {
      const std::vector<std::string> parts = split(node, '/');
      SLAB_CHECK(!parts.empty(), "shrink history: an empty node");
      KeptChannels kept;
      std::tie(kept.output_channels, kept.output) = parse_channels(parts[0]);
      for (size_t t = 1; t < parts.size(); ++t) {
        auto [channels, list] = parse_channels(parts[t]);
        kept.input_channels.push_back(channels);
        kept.inputs.push_back(std::move(list));
      }
      nodes.push_back(std::move(kept));
    }
    history.push_back(std::move(nodes));
  }
  return history;
}

}  // namespace slab
