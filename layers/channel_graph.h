// The channel graph: how a network's channels flow from the layers that make them to the
// layers that read them (docs/adding-a-layer.md#channel-roles, docs/algorithm.md#exact-channel-removal).
//
// Every module declares what it does to channels by overriding Module::declare_channels;
// the graph is built from those declarations, never from the module's type. A layer takes
// one of these roles:
//
//   PassThrough   channel c in -> channel c out, a zero channel stays zero (ReLU, pooling,
//                 dropout, identity); it also says what it does to a constant channel.
//   Normaliser    per-channel affine of the input, channel c with channel c (BatchNorm).
//   Mixer         reads every input channel, makes its own output channels (conv, linear).
//   GroupedMixer  a mixer with groups > 1: output channel o reads only the input channels
//                 of its group (grouped and depthwise convs); the group structure is kept.
//   Flatten       channel c becomes a block of features, the reader's columns
//                 [c k, (c + 1) k) (k = reader columns / channels).
//   ResidualAdd   the sum of several channel sets: output channel j is the sum over the
//                 terms of the term's channel j - offset (offset: option-A zero padding).
//
// A container or a model with its own forward describes that forward with the builder
// (child() for its sub-modules, pass()/flatten()/add() for its functional ops). A module
// that declares nothing is an error naming it, never a guess.
//
// Values are channel sets (tensors between layers); nodes are the declared layers. The
// graph's analysis (layers/channel_analysis.h) decides which channels are dead.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace slab {

class Module;

enum class ChannelRole { PassThrough, Normaliser, Mixer, GroupedMixer, Flatten, ResidualAdd };

const char* channel_role_name(ChannelRole role);

// A channel set in the graph (an index into ChannelGraph::values).
struct ChannelValue {
  int id = -1;
};

// What a pass-through does to a channel that is the constant k everywhere: the constant
// it makes, or nullopt when the result is not constant (dropout in training, a zero-padded
// average pool at the borders). f(0) = 0 is required of every pass-through.
using ConstantMap = std::function<std::optional<double>(double)>;
ConstantMap keeps_constants();       // k -> k (max pooling, unpadded average pooling, identity)
ConstantMap clamps_constants_at_zero();  // k -> max(k, 0) (ReLU)
ConstantMap breaks_constants();     // k -> not constant

// A mixer's tensors. weight is [out, in / groups, ...] (a conv) or [out, in] (a linear
// reading a flatten's blocks); bias is [out] or undefined.
struct MixerChannels {
  Tensor weight;
  Tensor bias;
  int64_t groups = 1;
  // True when the mixer reads zeros beyond its input's border (a padded conv): a constant
  // input channel is then not a constant contribution, so it cannot be folded.
  bool zero_padded = false;
};

// A normaliser's tensors: y = scale (x - mean) / sqrt(var + eps) + shift, with the batch
// statistics in training and running_mean / running_var in evaluation. scale and shift
// are undefined for a normaliser without an affine part.
struct NormaliserChannels {
  Tensor scale, shift, running_mean, running_var;
  double eps = 1e-5;
};

// A term of a residual add: its channel c is output channel c + offset, or targets[c]
// when targets is given (an option-A shortcut after shrinking, ascending).
struct ChannelTerm {
  ChannelValue value;
  int64_t offset = 0;
  std::vector<int64_t> targets;
  int64_t target(int64_t c) const { return targets.empty() ? c + offset : targets[static_cast<size_t>(c)]; }
};

struct ChannelNode {
  ChannelRole role = ChannelRole::PassThrough;
  std::string name;          // the qualified module name ("layer1.0.conv1"); the declaring module's for functional ops
  Module* module = nullptr;  // the layer that shrinks with the graph (null for functional ops)
  std::vector<ChannelTerm> inputs;
  ChannelValue output;
  MixerChannels mixer;            // Mixer, GroupedMixer
  NormaliserChannels normaliser;  // Normaliser
  ConstantMap constant;           // PassThrough
};

struct ChannelValueInfo {
  int64_t channels = -1;  // -1: not known (the network's input)
  int producer = -1;      // node index; -1 for the network's input
  std::vector<int> consumers;
};

struct ChannelGraph {
  std::vector<ChannelNode> nodes;  // in forward order
  std::vector<ChannelValueInfo> values;
  ChannelValue input, output;

  const ChannelNode* node_named(const std::string& name) const;  // the first node of that module, or null
};

// The channels that stay when a node shrinks: old indices, ascending.
struct KeptChannels {
  std::vector<std::vector<int64_t>> inputs;  // per input term
  std::vector<int64_t> input_channels;       // per input term, the channel count before
  std::vector<int64_t> output;
  int64_t output_channels = 0;               // before
};

// Replaces `tensor` in place (every handle to it follows, the optimizer's included) by its
// slices `kept` along `dim`; a gradient is sliced with it.
void keep_along(const Tensor& tensor, int64_t dim, const std::vector<int64_t>& kept);

// While one is alive, every keep_along call on this thread is recorded in it (the tensor,
// the dim and the kept indices), so that shrink_dead_channels can tell the optimizer which
// elements of each parameter survive without knowing how each layer slices itself.
class KeepAlongRecord {
 public:
  struct Call {
    const TensorImpl* tensor;
    int64_t dim;
    std::vector<int64_t> kept;
  };
  KeepAlongRecord();
  ~KeepAlongRecord();
  KeepAlongRecord(const KeepAlongRecord&) = delete;
  KeepAlongRecord& operator=(const KeepAlongRecord&) = delete;
  std::vector<Call> calls;

 private:
  KeepAlongRecord* outer_;
};

class ChannelGraphBuilder {
 public:
  ChannelGraphBuilder();

  // Declares `child` (a sub-module registered as `name` of the module now declaring).
  ChannelValue child(const std::string& name, Module& child, ChannelValue input);

  // Leaf roles, declared by the module itself (named by the current qualified name).
  ChannelValue pass_through(Module& self, ChannelValue input, ConstantMap constant);
  ChannelValue normaliser(Module& self, ChannelValue input, const NormaliserChannels& tensors);
  ChannelValue mixer(Module& self, ChannelValue input, const MixerChannels& tensors);
  ChannelValue flatten(Module* self, ChannelValue input);

  // Functional ops inside a module's own forward (relu(...), flatten(...), add(...)).
  ChannelValue pass(ChannelValue input, ConstantMap constant);
  ChannelValue flatten(ChannelValue input) { return flatten(nullptr, input); }
  ChannelValue add(const std::vector<ChannelTerm>& terms, int64_t channels);

  const std::string& current_name() const { return name_; }
  int64_t channels(ChannelValue value) const;

  ChannelGraph finish(ChannelValue output);

 private:
  ChannelValue new_value(int64_t channels, int producer);
  ChannelNode& new_node(ChannelRole role, Module* module, std::vector<ChannelTerm> inputs, int64_t out_channels);
  ChannelGraph graph_;
  std::string name_;
  Module* module_ = nullptr;  // the module now declaring (owns the functional ops' nodes)
};

// The channel graph of a whole network (its input is graph.input, its output graph.output).
ChannelGraph channel_graph(Module& model);

// Mixer -> Normaliser pairs where the normaliser reads the mixer's output directly:
// prune-bn zeroes the normaliser channel of a pruned filter.
struct ConvBatchNormPair {
  std::string conv;
  std::string batch_norm;
};
std::vector<ConvBatchNormPair> mixer_normaliser_pairs(const ChannelGraph& graph);

// What the prior needs of a network's channels (bayes/spike_slab.h's prune-bn).
struct ChannelCouplings {
  std::vector<ConvBatchNormPair> conv_batch_norm;
};
ChannelCouplings channel_couplings(Module& model);

}  // namespace slab
