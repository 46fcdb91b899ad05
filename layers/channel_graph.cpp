#include "layers/channel_graph.h"

#include <algorithm>

#include "core/error.h"
#include "core/ops.h"
#include "layers/module.h"

namespace slab {

const char* channel_role_name(ChannelRole role) {
  switch (role) {
    case ChannelRole::PassThrough: return "pass-through";
    case ChannelRole::Normaliser: return "normaliser";
    case ChannelRole::Mixer: return "mixer";
    case ChannelRole::GroupedMixer: return "grouped-mixer";
    case ChannelRole::Flatten: return "flatten";
    case ChannelRole::ResidualAdd: return "residual-add";
  }
  SLAB_FAIL("channel_role_name: unknown ChannelRole ", static_cast<int>(role));
}

ConstantMap keeps_constants() {
  return [](double k) -> std::optional<double> { return k; };
}
ConstantMap clamps_constants_at_zero() {
  return [](double k) -> std::optional<double> { return std::max(k, 0.0); };
}
ConstantMap breaks_constants() {
  return [](double) -> std::optional<double> { return std::nullopt; };
}

const ChannelNode* ChannelGraph::node_named(const std::string& name) const {
  for (const ChannelNode& node : nodes)
    if (node.name == name) return &node;
  return nullptr;
}

ChannelGraphBuilder::ChannelGraphBuilder() { graph_.input = new_value(-1, -1); }

ChannelValue ChannelGraphBuilder::new_value(int64_t channels, int producer) {
  graph_.values.push_back({channels, producer, {}});
  return {static_cast<int>(graph_.values.size() - 1)};
}

int64_t ChannelGraphBuilder::channels(ChannelValue value) const {
  SLAB_CHECK(value.id >= 0 && value.id < static_cast<int>(graph_.values.size()), "channel graph: '", name_,
             "' uses an undeclared channel value");
  return graph_.values[static_cast<size_t>(value.id)].channels;
}

ChannelNode& ChannelGraphBuilder::new_node(ChannelRole role, Module* module, std::vector<ChannelTerm> inputs,
                                           int64_t out_channels) {
  const int index = static_cast<int>(graph_.nodes.size());
  for (const ChannelTerm& term : inputs) {
    channels(term.value);  // checks it exists
    graph_.values[static_cast<size_t>(term.value.id)].consumers.push_back(index);
  }
  ChannelNode node;
  node.role = role;
  node.name = name_;
  node.module = module;
  node.inputs = std::move(inputs);
  node.output = new_value(out_channels, index);
  graph_.nodes.push_back(std::move(node));
  return graph_.nodes.back();
}

ChannelValue ChannelGraphBuilder::child(const std::string& name, Module& child, ChannelValue input) {
  const std::string outer = name_;
  Module* outer_module = module_;
  name_ = outer.empty() ? name : outer + "." + name;
  module_ = &child;
  const ChannelValue output = child.declare_channels(*this, input);
  name_ = outer;
  module_ = outer_module;
  return output;
}

ChannelValue ChannelGraphBuilder::pass_through(Module& self, ChannelValue input, ConstantMap constant) {
  ChannelNode& node = new_node(ChannelRole::PassThrough, &self, {{input, 0, {}}}, channels(input));
  node.constant = std::move(constant);
  return node.output;
}

ChannelValue ChannelGraphBuilder::pass(ChannelValue input, ConstantMap constant) {
  ChannelNode& node = new_node(ChannelRole::PassThrough, module_, {{input, 0, {}}}, channels(input));
  node.constant = std::move(constant);
  return node.output;
}

ChannelValue ChannelGraphBuilder::normaliser(Module& self, ChannelValue input, const NormaliserChannels& tensors) {
  const int64_t features = tensors.running_mean.numel();
  SLAB_CHECK(channels(input) < 0 || channels(input) == features, "channel graph: normaliser '", name_, "' has ",
             features, " channels but reads ", channels(input));
  ChannelNode& node = new_node(ChannelRole::Normaliser, &self, {{input, 0, {}}}, features);
  node.normaliser = tensors;
  return node.output;
}

ChannelValue ChannelGraphBuilder::mixer(Module& self, ChannelValue input, const MixerChannels& tensors) {
  SLAB_CHECK(tensors.weight.defined() && tensors.weight.dim() >= 2 && tensors.groups >= 1, "channel graph: mixer '",
             name_, "' declares no weight [out, in / groups, ...]");
  const int64_t in = tensors.weight.size(1) * tensors.groups;
  const int64_t known = channels(input);
  // A linear after a flatten reads `in` columns for `known` channels; otherwise one per channel.
  SLAB_CHECK(known < 0 || in % known == 0, "channel graph: mixer '", name_, "' reads ", in, " columns from ", known,
             " channels");
  if (known < 0) graph_.values[static_cast<size_t>(input.id)].channels = in;
  const ChannelRole role = tensors.groups > 1 ? ChannelRole::GroupedMixer : ChannelRole::Mixer;
  ChannelNode& node = new_node(role, &self, {{input, 0, {}}}, tensors.weight.size(0));
  node.mixer = tensors;
  return node.output;
}

ChannelValue ChannelGraphBuilder::flatten(Module* self, ChannelValue input) {
  return new_node(ChannelRole::Flatten, self ? self : module_, {{input, 0, {}}}, channels(input)).output;
}

ChannelValue ChannelGraphBuilder::add(const std::vector<ChannelTerm>& terms, int64_t out_channels) {
  SLAB_CHECK(terms.size() >= 2, "channel graph: '", name_, "' adds fewer than two channel sets");
  for (const ChannelTerm& term : terms) {
    const int64_t n = channels(term.value);
    SLAB_CHECK(term.targets.empty() || static_cast<int64_t>(term.targets.size()) == n, "channel graph: '", name_,
               "' places ", n, " channels at ", term.targets.size(), " targets");
    for (int64_t c = 0; c < n; ++c)
      SLAB_CHECK(term.target(c) >= 0 && term.target(c) < out_channels && (c == 0 || term.target(c) > term.target(c - 1)),
                 "channel graph: '", name_, "' adds channel ", c, " at ", term.target(c), " of ", out_channels);
  }
  return new_node(ChannelRole::ResidualAdd, module_, terms, out_channels).output;
}

ChannelGraph ChannelGraphBuilder::finish(ChannelValue output) {
  channels(output);
  graph_.output = output;
  return std::move(graph_);
}

ChannelGraph channel_graph(Module& model) {
  ChannelGraphBuilder builder;
  const ChannelValue input = {0};
  return builder.finish(builder.child("", model, input));
}

namespace {
thread_local KeepAlongRecord* active_keep_record = nullptr;
}  // namespace

KeepAlongRecord::KeepAlongRecord() : outer_(active_keep_record) { active_keep_record = this; }
KeepAlongRecord::~KeepAlongRecord() { active_keep_record = outer_; }

void keep_along(const Tensor& tensor, int64_t dim, const std::vector<int64_t>& kept) {
  if (!tensor.defined()) return;
  if (active_keep_record) active_keep_record->calls.push_back({tensor.impl(), dim, kept});
  const Shape& shape = tensor.shape();
  SLAB_CHECK(dim >= 0 && dim < tensor.dim(), "keep_along: dim ", dim, " of a tensor of shape ", shape);
  const int64_t extent = shape[static_cast<size_t>(dim)];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[static_cast<size_t>(d)];
  for (int64_t d = dim + 1; d < tensor.dim(); ++d) inner *= shape[static_cast<size_t>(d)];
  auto slice = [&](const Tensor& t) {
    const std::vector<double> values = t.to_vector();
    std::vector<double> out;
    out.reserve(static_cast<size_t>(outer * inner) * kept.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k : kept) {
        SLAB_CHECK(k >= 0 && k < extent, "keep_along: index ", k, " outside ", extent);
        const size_t begin = static_cast<size_t>((o * extent + k) * inner);
        out.insert(out.end(), values.begin() + static_cast<std::ptrdiff_t>(begin),
                   values.begin() + static_cast<std::ptrdiff_t>(begin + static_cast<size_t>(inner)));
      }
    Shape kept_shape = shape;
    kept_shape[static_cast<size_t>(dim)] = static_cast<int64_t>(kept.size());
    return from_vector(out, kept_shape, {t.dtype(), t.device()});
  };
  TensorImpl& impl = *tensor.impl();
  if (impl.grad) impl.grad = slice(Tensor(impl.grad)).impl_ptr();
  const Tensor sliced = slice(tensor);
  impl.shape = sliced.shape();
  impl.storage = sliced.impl()->storage;
}

std::vector<ConvBatchNormPair> mixer_normaliser_pairs(const ChannelGraph& graph) {
  std::vector<ConvBatchNormPair> pairs;
  for (const ChannelNode& node : graph.nodes) {
    if (node.role != ChannelRole::Normaliser) continue;
    // The normaliser must be the mixer's only reader: it then normalises exactly its channels.
    if (graph.values[static_cast<size_t>(node.inputs[0].value.id)].consumers.size() != 1) continue;
    const int producer = graph.values[static_cast<size_t>(node.inputs[0].value.id)].producer;
    if (producer < 0) continue;
    const ChannelNode& source = graph.nodes[static_cast<size_t>(producer)];
    if (source.role == ChannelRole::Mixer || source.role == ChannelRole::GroupedMixer)
      pairs.push_back({source.name, node.name});
  }
  return pairs;
}

ChannelCouplings channel_couplings(Module& model) { return {mixer_normaliser_pairs(channel_graph(model))}; }

}  // namespace slab
