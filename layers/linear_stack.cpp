#include "layers/linear_stack.h"

#include "layers/activation.h"
#include "layers/linear.h"

namespace slab {

std::shared_ptr<Sequential> linear_relu_stack(int64_t in_features, const std::vector<int64_t>& hidden_features,
                                              int64_t out_features, Generator& generator) {
  auto stack = std::make_shared<Sequential>();
  int64_t width = in_features;
  for (int64_t next : hidden_features) {
    stack->emplace<Linear>(width, next, generator);
    stack->emplace<ReLU>();
    width = next;
  }
  stack->emplace<Linear>(width, out_features, generator);
  return stack;
}

}  // namespace slab
