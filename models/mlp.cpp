#include "models/mlp.h"

#include "layers/linear_stack.h"

namespace slab {

MLP::MLP(int64_t in, const std::vector<int64_t>& hidden, int64_t out, Generator& generator)
    : in_features(in), out_features(out) {
  layers = register_module("layers", linear_relu_stack(in, hidden, out, generator));
}

Tensor MLP::forward(const Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() >= 2, "MLP: expected an input [n, features...], got shape ",
             input.defined() ? input.shape() : Shape{});
  const Tensor x = input.dim() > 2 ? flatten(input, 1) : input;
  SLAB_CHECK(x.size(1) == in_features, "MLP(", in_features, " -> ", out_features, "): input of shape ", input.shape(),
             " has ", x.size(1), " features per example, expected ", in_features);
  return layers->forward(x);
}

}  // namespace slab
