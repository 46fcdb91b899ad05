#include "layers/sequential.h"

namespace slab {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& module : modules) add(module);
}

Sequential& Sequential::add(std::shared_ptr<Module> module) {
  SLAB_CHECK(module != nullptr, "Sequential: cannot add a null module at position ", size());
  register_module(std::to_string(size()), std::move(module));
  return *this;
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const auto& [name, child] : children()) x = child->forward(x);
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
