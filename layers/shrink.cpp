#include "layers/shrink.h"

#include <sstream>

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
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (graph.nodes[i].module) graph.nodes[i].module->keep_channels(graph.nodes[i], kept[i]);
  report.parameters_after = parameter_count(model);
  return report;
}

}  // namespace slab
