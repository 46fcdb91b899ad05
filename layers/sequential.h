// Sequential: children applied in order, named "0", "1", ... as in PyTorch's nn.Sequential,
// so "features.3.weight" means the same tensor in slab and in PyTorch.
#pragma once
#include <initializer_list>
#include <memory>

#include "layers/module.h"

namespace slab {

class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);

  // Appends a child named by its position; returns *this for chaining.
  Sequential& add(std::shared_ptr<Module> module);
  // Constructs and appends a child: seq.emplace<ReLU>().
  template <typename M, typename... Args>
  std::shared_ptr<M> emplace(Args&&... args) {
    auto module = std::make_shared<M>(std::forward<Args>(args)...);
    add(module);
    return module;
  }

  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "Sequential"; }
  // Its children in order.
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;

  size_t size() const { return children().size(); }
  Module& operator[](size_t index) const;
  std::shared_ptr<Module> at(size_t index) const;
};

}  // namespace slab
