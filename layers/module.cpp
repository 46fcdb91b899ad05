#include "layers/module.h"

#include <set>

namespace slab {

const char* prior_grouping_name(PriorGrouping grouping) {
  switch (grouping) {
    case PriorGrouping::None: return "none";
    case PriorGrouping::ConvKernels: return "conv-kernels";
    case PriorGrouping::LinearColumns: return "linear-columns";
  }
  return "?";
}

ChannelValue Module::declare_channels(ChannelGraphBuilder& graph, ChannelValue) {
  SLAB_FAIL(type_name(), " at '", graph.current_name(),
            "' declares no channel role: override Module::declare_channels (docs/adding-a-layer.md#channel-roles)");
}

void Module::keep_channels(const ChannelNode& node, const KeptChannels&) {
  switch (node.role) {
    case ChannelRole::PassThrough:
    case ChannelRole::Flatten:
    case ChannelRole::ResidualAdd:
      return;  // nothing of their own to slice
    case ChannelRole::Mixer:
    case ChannelRole::GroupedMixer:
    case ChannelRole::Normaliser:
      SLAB_FAIL(type_name(), " at '", node.name, "' declares the channel role ", channel_role_name(node.role),
                " but does not implement Module::keep_channels, so it cannot shrink");
  }
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor, PriorGrouping grouping) {
  SLAB_CHECK(tensor.defined(), type_name(), ": parameter '", name, "' is undefined");
  tensor.set_requires_grad(true);
  parameters_.push_back({name, tensor, grouping});
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
  buffers_.emplace_back(name, tensor);
  return tensor;
}

void Module::collect_parameters(const std::string& prefix, std::vector<NamedParameter>& out) const {
  for (const NamedParameter& p : parameters_) out.push_back({prefix + p.name, p.tensor, p.grouping});
  for (const auto& [name, child] : children_) child->collect_parameters(prefix + name + ".", out);
}

void Module::collect_buffers(const std::string& prefix, NamedTensors& out) const {
  for (const auto& [name, tensor] : buffers_) out.emplace_back(prefix + name, tensor);
  for (const auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", out);
}

void Module::collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out) {
  out.emplace_back(prefix, this);
  for (const auto& [name, child] : children_) child->collect_modules(prefix.empty() ? name : prefix + "." + name, out);
}

std::vector<NamedParameter> Module::named_parameters() const {
  std::vector<NamedParameter> out;
  collect_parameters("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (const NamedParameter& p : named_parameters()) out.push_back(p.tensor);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect_buffers("", out);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  collect_modules("", out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  for (const NamedParameter& p : named_parameters()) out.emplace_back(p.name, p.tensor);
  for (auto& entry : named_buffers()) out.push_back(entry);
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::set<std::string> used;
  for (const auto& [name, tensor] : state_dict()) {
    auto it = state.find(name);
    if (it == state.end()) {
      SLAB_CHECK(!strict, "load_state_dict: ", type_name(), " expects '", name, "' of shape ", tensor.shape(),
                 ", which the state does not hold (a checkpoint of another architecture?)");
      continue;
    }
    SLAB_CHECK(it->second.shape() == tensor.shape(), "load_state_dict: '", name, "' has shape ", it->second.shape(),
               " in the state but ", tensor.shape(), " in the ", type_name(), " (a checkpoint of another architecture?)");
    NoGradGuard no_grad;
    tensor.copy_from(it->second);
    used.insert(name);
  }
  if (strict) {
    for (const auto& [name, tensor] : state)
      SLAB_CHECK(used.count(name), "load_state_dict: the state holds '", name, "', which the ", type_name(),
                 " does not have (a checkpoint of another architecture?)");
  }
}

int64_t Module::parameter_count() const {
  int64_t total = 0;
  for (const NamedParameter& p : named_parameters()) total += p.tensor.numel();
  return total;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (const NamedParameter& p : named_parameters()) p.tensor.zero_grad();
}

void Module::to(Device device) {
  for (auto& [name, tensor] : state_dict()) {
    if (tensor.device() == device) continue;
    Tensor moved = tensor.to(device);
    tensor.impl()->storage = moved.impl()->storage;
    tensor.zero_grad();
  }
}

}  // namespace slab
