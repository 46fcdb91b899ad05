#include "layers/channel_analysis.h"

#include <cmath>
#include <numeric>

#include "core/error.h"

namespace slab {

namespace {

size_t at(int64_t i) { return static_cast<size_t>(i); }

int64_t value_channels(const ChannelGraph& graph, int value) {
  return std::max<int64_t>(graph.values[at(value)].channels, 0);
}

// A mixer's weights seen per (filter o, input channel c): whether any weight of the block
// reading c is nonzero, and the block's sum (what a constant channel contributes per unit).
struct MixerBlocks {
  int64_t out = 0, channels = 0;
  std::vector<uint8_t> reads;  // [out, channels]
  std::vector<double> sums;    // [out, channels]
  std::vector<double> bias;    // [out] (zeros without a bias)

  bool in_group(int64_t o, int64_t c, int64_t groups) const {
    return groups == 1 || c / (channels / groups) == o / (out / groups);
  }
};

MixerBlocks mixer_blocks(const ChannelNode& node, int64_t channels) {
  const Tensor& weight = node.mixer.weight;
  const int64_t groups = node.mixer.groups;
  MixerBlocks blocks;
  blocks.out = weight.size(0);
  blocks.channels = channels;
  const int64_t columns = weight.size(1);  // per group (a conv) or in all (a linear)
  const int64_t inner = weight.numel() / (blocks.out * columns);
  // Columns per channel: 1 for a conv, k after a flatten of k positions per channel.
  const int64_t per_channel = groups > 1 ? 1 : columns / channels;
  SLAB_CHECK(per_channel >= 1 && (groups > 1 || per_channel * channels == columns), "channel analysis: '", node.name,
             "' has ", columns, " input columns for ", channels, " channels");
  blocks.reads.assign(at(blocks.out * channels), 0);
  blocks.sums.assign(at(blocks.out * channels), 0.0);
  const std::vector<double> w = weight.to_vector();
  for (int64_t o = 0; o < blocks.out; ++o)
    for (int64_t j = 0; j < columns; ++j) {
      const int64_t c = groups > 1 ? (o / (blocks.out / groups)) * columns + j : j / per_channel;
      for (int64_t k = 0; k < inner; ++k) {
        const double v = w[at((o * columns + j) * inner + k)];
        blocks.reads[at(o * channels + c)] |= v != 0.0 ? 1 : 0;
        blocks.sums[at(o * channels + c)] += v;
      }
    }
  blocks.bias.assign(at(blocks.out), 0.0);
  if (node.mixer.bias.defined()) blocks.bias = node.mixer.bias.to_vector();
  return blocks;
}

std::vector<double> host_or(const Tensor& t, int64_t n, double fill) {
  return t.defined() ? t.to_vector() : std::vector<double>(at(n), fill);
}

ChannelFact constant(double train, double eval) {
  if (train == 0.0 && eval == 0.0) return {ChannelState::Zero, 0, 0};
  return {ChannelState::Constant, train, eval};
}

// y = scale (x - mean) / sqrt(var + eps) + shift: a constant input has batch mean x in
// training (so y = shift) and the running statistics in evaluation.
std::vector<ChannelFact> normaliser_facts(const ChannelNode& node, const std::vector<ChannelFact>& in) {
  const NormaliserChannels& n = node.normaliser;
  const int64_t count = n.running_mean.numel();
  const std::vector<double> scale = host_or(n.scale, count, 1.0), shift = host_or(n.shift, count, 0.0);
  const std::vector<double> mean = n.running_mean.to_vector(), var = n.running_var.to_vector();
  std::vector<ChannelFact> out(at(count));
  for (size_t c = 0; c < out.size(); ++c) {
    if (scale[c] == 0.0) {
      out[c] = constant(shift[c], shift[c]);
    } else if (in[c].state != ChannelState::Live) {
      const double eval =
          in[c].eval == mean[c] ? shift[c] : scale[c] * (in[c].eval - mean[c]) / std::sqrt(var[c] + n.eps) + shift[c];
      out[c] = constant(shift[c], eval);
    }
  }
  return out;
}

std::vector<ChannelFact> mixer_facts(const MixerBlocks& blocks, int64_t groups, const std::vector<ChannelFact>& in) {
  std::vector<ChannelFact> out(at(blocks.out));
  for (int64_t o = 0; o < blocks.out; ++o) {
    bool silent = true;  // reads only Zero channels
    for (int64_t c = 0; c < blocks.channels && silent; ++c)
      if (blocks.in_group(o, c, groups) && blocks.reads[at(o * blocks.channels + c)] &&
          in[at(c)].state != ChannelState::Zero)
        silent = false;
    if (silent) out[at(o)] = constant(blocks.bias[at(o)], blocks.bias[at(o)]);
  }
  return out;
}

std::vector<ChannelFact> pass_facts(const ChannelNode& node, const std::vector<ChannelFact>& in) {
  std::vector<ChannelFact> out(in.size());
  for (size_t c = 0; c < in.size(); ++c) {
    if (in[c].state == ChannelState::Zero) out[c] = in[c];
    if (in[c].state != ChannelState::Constant) continue;
    const std::optional<double> train = node.constant(in[c].train), eval = node.constant(in[c].eval);
    if (train && eval) out[c] = constant(*train, *eval);
  }
  return out;
}

std::vector<ChannelFact> add_facts(const ChannelGraph& graph, const ChannelNode& node,
                                   const std::vector<std::vector<ChannelFact>>& facts) {
  const int64_t channels = value_channels(graph, node.output.id);
  std::vector<ChannelFact> out(at(channels), ChannelFact{ChannelState::Zero, 0, 0});
  std::vector<bool> live(at(channels), false);
  for (const ChannelTerm& term : node.inputs) {
    const std::vector<ChannelFact>& in = facts[at(term.value.id)];
    for (int64_t c = 0; c < static_cast<int64_t>(in.size()); ++c) {
      const size_t j = at(term.target(c));
      if (in[at(c)].state == ChannelState::Live) live[j] = true;
      out[j].train += in[at(c)].train;
      out[j].eval += in[at(c)].eval;
    }
  }
  for (size_t j = 0; j < out.size(); ++j)
    out[j] = live[j] ? ChannelFact{} : constant(out[j].train, out[j].eval);
  return out;
}

std::vector<std::vector<ChannelFact>> forward_facts(const ChannelGraph& graph, std::vector<MixerBlocks>& blocks) {
  std::vector<std::vector<ChannelFact>> facts(graph.values.size());
  facts[at(graph.input.id)].assign(at(value_channels(graph, graph.input.id)), ChannelFact{});
  blocks.resize(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ChannelNode& node = graph.nodes[i];
    const std::vector<ChannelFact>& in = facts[at(node.inputs[0].value.id)];
    std::vector<ChannelFact>& out = facts[at(node.output.id)];
    switch (node.role) {
      case ChannelRole::PassThrough: out = pass_facts(node, in); break;
      case ChannelRole::Flatten: out = in; break;
      case ChannelRole::Normaliser: out = normaliser_facts(node, in); break;
      case ChannelRole::Mixer:
      case ChannelRole::GroupedMixer:
        blocks[i] = mixer_blocks(node, static_cast<int64_t>(in.size()));
        out = mixer_facts(blocks[i], node.mixer.groups, in);
        break;
      case ChannelRole::ResidualAdd: out = add_facts(graph, node, facts); break;
    }
  }
  return facts;
}

// Union-find over (value, channel) elements.
struct Elements {
  std::vector<int64_t> parent;
  int64_t find(int64_t e) {
    while (parent[at(e)] != e) e = parent[at(e)] = parent[at(parent[at(e)])];
    return e;
  }
  void tie(int64_t a, int64_t b) { parent[at(find(a))] = find(b); }
};

bool depthwise(const ChannelNode& node, int64_t in_channels) {
  return node.mixer.groups == in_channels && node.mixer.weight.size(0) == in_channels;
}

}  // namespace

int sole_normaliser_reader(const ChannelGraph& graph, int value) {
  const std::vector<int>& consumers = graph.values[at(value)].consumers;
  if (consumers.size() != 1 || graph.nodes[at(consumers[0])].role != ChannelRole::Normaliser) return -1;
  return consumers[0];
}

std::vector<int64_t> ChannelAnalysis::kept(const ChannelGraph& graph, int value) const {
  std::vector<int64_t> out;
  for (int64_t c = 0; c < value_channels(graph, value); ++c)
    if (!removed_at(value, c)) out.push_back(c);
  return out;
}

int64_t ChannelAnalysis::removed_count(const ChannelGraph& graph, int value) const {
  return value_channels(graph, value) - static_cast<int64_t>(kept(graph, value).size());
}

FoldTarget ChannelAnalysis::fold(const ChannelGraph& graph, const ChannelRead& read, int64_t c) const {
  const ChannelFact& fact = facts[at(read.value)][at(c)];
  if (fact.state != ChannelState::Constant) return FoldTarget::None;
  const ChannelNode& node = graph.nodes[at(read.node)];
  if (node.mixer.zero_padded) return FoldTarget::Impossible;
  if (sole_normaliser_reader(graph, node.output.id) >= 0) return FoldTarget::RunningMean;
  if (node.mixer.bias.defined() && fact.train == fact.eval) return FoldTarget::Bias;
  return FoldTarget::Impossible;
}

namespace {

// Ties the elements of every value to the channels they are (pass-throughs, normalisers,
// flattens, depthwise convs, residual adds) and lists the reads across space boundaries;
// returns the pinned elements (the network's input and output, grouped convs' channels).
std::vector<bool> tie_spaces(const ChannelGraph& graph, ChannelAnalysis& a, Elements& elements) {
  for (size_t v = 0; v < graph.values.size(); ++v) {
    a.base.push_back(v == 0 ? 0 : a.base.back() + value_channels(graph, static_cast<int>(v - 1)));
  }
  const int64_t total = graph.values.empty() ? 0 : a.base.back() + value_channels(graph, static_cast<int>(graph.values.size() - 1));
  elements.parent.resize(at(total));
  std::iota(elements.parent.begin(), elements.parent.end(), 0);
  std::vector<bool> pinned(at(total), false);
  auto pin = [&](int value) {
    for (int64_t c = 0; c < value_channels(graph, value); ++c) pinned[at(a.base[at(value)] + c)] = true;
  };
  pin(graph.input.id);
  pin(graph.output.id);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ChannelNode& node = graph.nodes[i];
    const int in = node.inputs[0].value.id, out = node.output.id;
    const int64_t in_channels = value_channels(graph, in);
    switch (node.role) {
      case ChannelRole::PassThrough:
      case ChannelRole::Flatten:
      case ChannelRole::Normaliser:
        for (int64_t c = 0; c < in_channels; ++c) elements.tie(a.base[at(in)] + c, a.base[at(out)] + c);
        break;
      case ChannelRole::ResidualAdd:
        for (const ChannelTerm& term : node.inputs)
          for (int64_t c = 0; c < value_channels(graph, term.value.id); ++c)
            elements.tie(a.base[at(term.value.id)] + c, a.base[at(out)] + term.target(c));
        break;
      case ChannelRole::GroupedMixer:
        if (depthwise(node, in_channels)) {
          for (int64_t c = 0; c < in_channels; ++c) elements.tie(a.base[at(in)] + c, a.base[at(out)] + c);
        } else {  // other group structures are kept whole
          pin(in);
          pin(out);
        }
        break;
      case ChannelRole::Mixer: a.reads.push_back({static_cast<int>(i), in}); break;
    }
  }
  return pinned;
}

// One round of removal decisions: a space channel goes when it is not pinned and every
// boundary read can lose it; a read can when no kept filter reads it, it is Zero, or it is
// a Constant the mixer can fold.
bool decide(const ChannelGraph& graph, ChannelAnalysis& a, Elements& elements, const std::vector<bool>& pinned,
            const std::vector<MixerBlocks>& blocks) {
  const size_t total = elements.parent.size();
  std::vector<bool> blocked(total, false), unfoldable(total, false);
  for (size_t e = 0; e < total; ++e)
    if (pinned[e]) blocked[at(elements.find(static_cast<int64_t>(e)))] = true;
  for (const ChannelRead& read : a.reads) {
    const ChannelNode& node = graph.nodes[at(read.node)];
    const MixerBlocks& b = blocks[at(read.node)];
    for (int64_t c = 0; c < b.channels; ++c) {
      bool read_by_kept = false;
      for (int64_t o = 0; o < b.out && !read_by_kept; ++o)
        read_by_kept = b.reads[at(o * b.channels + c)] && !a.removed_at(node.output.id, o);
      const ChannelState state = a.facts[at(read.value)][at(c)].state;
      const int64_t root = elements.find(a.base[at(read.value)] + c);
      if (!read_by_kept || state == ChannelState::Zero) continue;
      if (state == ChannelState::Live) blocked[at(root)] = true;
      else if (a.fold(graph, read, c) == FoldTarget::Impossible) unfoldable[at(root)] = blocked[at(root)] = true;
    }
  }
  bool changed = false;
  a.unfoldable = 0;
  for (size_t e = 0; e < total; ++e) {
    const int64_t root = elements.find(static_cast<int64_t>(e));
    const bool removed = !blocked[at(root)];
    changed = changed || removed != a.removed[e];
    a.removed[e] = removed;
    if (static_cast<int64_t>(e) == root && unfoldable[e]) ++a.unfoldable;
  }
  return changed;
}

}  // namespace

ChannelAnalysis analyse_channels(const ChannelGraph& graph) {
  ChannelAnalysis a;
  std::vector<MixerBlocks> blocks;
  a.facts = forward_facts(graph, blocks);
  Elements elements;
  const std::vector<bool> pinned = tie_spaces(graph, a, elements);
  a.removed.assign(elements.parent.size(), false);
  // Removals only ever grow (a removed filter reads nothing), so this ends.
  while (decide(graph, a, elements, pinned, blocks)) {
  }
  a.fold_train.resize(a.reads.size());
  a.fold_eval.resize(a.reads.size());
  for (size_t r = 0; r < a.reads.size(); ++r) {
    const MixerBlocks& b = blocks[at(a.reads[r].node)];
    a.fold_train[r].assign(at(b.out), 0.0);
    a.fold_eval[r].assign(at(b.out), 0.0);
    for (int64_t c = 0; c < b.channels; ++c) {
      const ChannelFact& fact = a.facts[at(a.reads[r].value)][at(c)];
      if (fact.state != ChannelState::Constant || !a.removed_at(a.reads[r].value, c)) continue;
      bool read = false;
      for (int64_t o = 0; o < b.out; ++o) {
        a.fold_train[r][at(o)] += b.sums[at(o * b.channels + c)] * fact.train;
        a.fold_eval[r][at(o)] += b.sums[at(o * b.channels + c)] * fact.eval;
        read = read || b.reads[at(o * b.channels + c)];
      }
      a.folded += read ? 1 : 0;
    }
  }
  a.element_space.resize(elements.parent.size());
  for (size_t e = 0; e < elements.parent.size(); ++e) a.element_space[e] = elements.find(static_cast<int64_t>(e));
  return a;
}

}  // namespace slab
