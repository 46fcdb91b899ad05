#include "layers/sequential.h"

#include "layers/activation.h"
#include "layers/batch_norm.h"

namespace slab {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& module : modules) add(module);
}

Sequential& Sequential::add(std::shared_ptr<Module> module) {
  SLAB_CHECK(module != nullptr, "Sequential: cannot add a null module at position ", size());
  register_module(std::to_string(size()), std::move(module));
  return *this;
}

// A batch norm followed by a ReLU runs as one fused op (BatchNorm::forward_relu): the same
// values and gradients in one pass over memory each way. Every other child runs as it is.
Tensor Sequential::forward(const Tensor& input) {
  const auto& modules = children();
  Tensor x = input;
  for (size_t i = 0; i < modules.size(); ++i) {
    auto* norm = dynamic_cast<BatchNorm*>(modules[i].second.get());
    if (norm != nullptr && i + 1 < modules.size() && dynamic_cast<const ReLU*>(modules[i + 1].second.get())) {
      x = norm->forward_relu(x);
      ++i;
      continue;
    }
    x = modules[i].second->forward(x);
  }
  return x;
}

ChannelValue Sequential::declare_channels(ChannelGraphBuilder& graph, ChannelValue input) {
  ChannelValue x = input;
  for (const auto& [name, child] : children()) x = graph.child(name, *child, x);
  return x;
}

std::shared_ptr<Module> Sequential::at(size_t index) const {
  SLAB_CHECK(index < size(), "Sequential: index ", index, " out of range for ", size(), " children");
  return children()[index].second;
}

Module& Sequential::operator[](size_t index) const { return *at(index); }

}  // namespace slab
