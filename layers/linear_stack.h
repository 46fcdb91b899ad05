// A fully connected ReLU stack: Linear(in, h1), ReLU, Linear(h1, h2), ReLU, ...,
// Linear(h_last, out), children named "0", "1", ... as in PyTorch's nn.Sequential.
//
// The body of models/ MLP, and the network that bayes/ variable selection trains
// (docs/algorithm.md#variable-selection), which may not include models/. Every Linear keeps
// its default prior grouping (input columns): in a fully connected net all layers take part in
// the prior.
#pragma once
#include <memory>
#include <vector>

#include "core/random.h"
#include "layers/sequential.h"

namespace slab {

// The Linears draw their initial weights from `generator` in layer order.
std::shared_ptr<Sequential> linear_relu_stack(int64_t in_features, const std::vector<int64_t>& hidden_features,
                                              int64_t out_features, Generator& generator);

}  // namespace slab
