// Module: the base of every layer and model, in the shape of libtorch's.
//
// A module registers its parameters, buffers and children in order; their hierarchical
// names ("layer1.0.conv1.weight") are the checkpoint keys and match the usual PyTorch
// code for the same architecture, so weights move both ways. Each parameter also says how
// it is grouped for the spike-and-slab prior (docs/algorithm.md#prior-groups): a new layer
// type takes part in the prior by declaring its grouping when it registers the parameter.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "core/safetensors.h"
#include "layers/channel_graph.h"

namespace slab {

// How a parameter is grouped for the prior (docs/algorithm.md#prior-groups).
enum class PriorGrouping {
  None,           // biases, BatchNorm, a CNN's classifier: always the slab (lambda1), never pruned
  ConvKernels,    // weight [out, in, kh, kw]: soft groups w[o,i,:,:]; hard units w[:,i,:,:] and w[o,:,:,:]
  LinearColumns,  // weight [out, in]: groups (soft and hard) are the input columns w[:, j]
};

const char* prior_grouping_name(PriorGrouping grouping);

struct NamedParameter {
  std::string name;  // hierarchical
  Tensor tensor;
  PriorGrouping grouping = PriorGrouping::None;
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Most layers map one tensor to one tensor; containers and models override this.
  virtual Tensor forward(const Tensor& input) = 0;
  Tensor operator()(const Tensor& input) { return forward(input); }

  // The class name as printed ("Conv2d", "ResNet").
  virtual std::string type_name() const = 0;

  // What the module does to channels (layers/channel_graph.h, docs/adding-a-layer.md#channel-roles):
  // a layer declares its role with graph.pass_through / normaliser / mixer / flatten; a
  // container or model describes its forward with graph.child / pass / flatten / add. The
  // default throws: a module that declares nothing is never guessed at.
  virtual ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input);
  // Called by the shrinker (layers/shrink.h) for every node this module declared, with the
  // channels that stay (old indices, ascending) of the node's inputs and output. A mixer
  // or normaliser slices its tensors (keep_along) and updates its channel counts; the
  // default does so for nothing and throws for those two roles.
  virtual void keep_channels(const ChannelNode& node, const KeptChannels& kept);

  // Parameters and buffers, depth first in registration order, with hierarchical names.
  std::vector<NamedParameter> named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  NamedTensors state_dict() const;  // parameters, then buffers, in order (PyTorch interleaves; keys match)
  // Copies values in by name with shape checks; `strict` also requires every key to match.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  int64_t parameter_count() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  // Moves every parameter and buffer (their storage is replaced in place, so every handle
  // a layer holds follows).
  void to(Device device);

  // The shrinks this model has been through (layers/shrink.h), in order, as the channels
  // each channel-graph node kept: held by the model a shrink was called on, so that a
  // checkpoint or a posterior sample records its architecture and a loader rebuilds it from
  // a freshly built model (apply_kept_channels).
  std::vector<std::vector<KeptChannels>>& shrink_history() { return shrink_history_; }
  const std::vector<std::vector<KeptChannels>>& shrink_history() const { return shrink_history_; }

  // Direct children with their names, in registration order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }
  // Depth-first list of (qualified name, module), the module itself first with name "".
  std::vector<std::pair<std::string, Module*>> named_modules();

 protected:
  // Registers a parameter (requires_grad is set) and returns the same handle.
  Tensor register_parameter(const std::string& name, Tensor tensor, PriorGrouping grouping = PriorGrouping::None);
  Tensor register_buffer(const std::string& name, Tensor tensor);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    children_.emplace_back(name, module);
    return module;
  }

 private:
  void collect_parameters(const std::string& prefix, std::vector<NamedParameter>& out) const;
  void collect_buffers(const std::string& prefix, NamedTensors& out) const;
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out);

  std::vector<NamedParameter> parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  std::vector<std::vector<KeptChannels>> shrink_history_;
};

}  // namespace slab
