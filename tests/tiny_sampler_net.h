// A tiny network for the sampler tests, built from core ops only so the optimizer and
// bayes tests do not depend on layers under construction. It has one parameter of each
// prior grouping: a conv-shaped weight [4, 3, 3, 3] (ConvKernels) applied to 3x3 patches
// (a 3x3 convolution at one output position), a BatchNorm-like per-channel scale and
// shift [4] (None), and a classifier [3, 4] (LinearColumns) with its bias [3] (None).
//   h = relu(gamma * (x W^T) + beta),  logits = h V^T + b,  loss = cross entropy.
// Tests run the same network on the optimizer's weights and on an oracle's copy.
#pragma once
#include <vector>

#include "core/ops.h"
#include "core/random.h"
#include "layers/module.h"

namespace slab::testing {

struct TinySamplerNet {
  Tensor conv_weight, gamma, beta, linear_weight, linear_bias;
  Tensor inputs, labels;  // a fixed data set of 16 patches

  explicit TinySamplerNet(uint64_t seed = 5) {
    Generator g(seed, 0);
    conv_weight = randn({4, 3, 3, 3}, g) * 0.3;
    gamma = ones({4}) + randn({4}, g) * 0.1;
    beta = randn({4}, g) * 0.1;
    linear_weight = randn({3, 4}, g) * 0.5;
    linear_bias = zeros({3});
    for (Tensor* t : {&conv_weight, &gamma, &beta, &linear_weight, &linear_bias}) {
      *t = t->detach().clone();
      t->set_requires_grad(true);
    }
    inputs = randn({16, 27}, g);
    std::vector<int64_t> y;
    for (int i = 0; i < 16; ++i) y.push_back(static_cast<int64_t>(g.below(3)));
    labels = labels_from_vector(y);
  }

  std::vector<NamedParameter> parameters() const {
    return {{"conv.weight", conv_weight, PriorGrouping::ConvKernels},
            {"bn.weight", gamma, PriorGrouping::None},
            {"bn.bias", beta, PriorGrouping::None},
            {"linear.weight", linear_weight, PriorGrouping::LinearColumns},
            {"linear.bias", linear_bias, PriorGrouping::None}};
  }

  // Forward and backward on rows [first, first + count) of the data set; leaves the
  // gradients in the parameters (after dropping old ones) and returns the loss.
  double loss_and_gradients(int64_t first = 0, int64_t count = 16) const {
    for (const NamedParameter& p : parameters()) p.tensor.zero_grad();
    const Tensor x = narrow(inputs, 0, first, count);
    const Tensor y = narrow(labels, 0, first, count);
    const Tensor pre = linear(x, reshape(conv_weight, {4, 27}));
    const Tensor h = relu(add(mul(pre, gamma), beta));
    const Tensor loss = cross_entropy(linear(h, linear_weight, linear_bias), y);
    loss.backward();
    return loss.item();
  }
};

}  // namespace slab::testing
