// Synthetic channel pruning (layers/synthetic_pruning.h), the benchmarks' stand-in for a
// pruned run: on the ResNet-20 and VGG-16-BN of the speed targets, the shrunken network
// keeps exactly ceil((1 - p) C) channels of every conv and computes what the masked one does.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/random.h"
#include "layers/layers.h"
#include "layers/shrink.h"
#include "layers/synthetic_pruning.h"
#include "models/factory.h"
#include "tests/equal_within.h"

using namespace slab;

TEST_CASE("synthetic pruning keeps the first ceil((1 - p) C) channels of every conv group") {
  for (const char* name : {"resnet20", "vgg11-bn"}) {
    for (double fraction : {0.25, 0.5, 0.75}) {
      INFO(name, " p=", fraction);
      auto masked = make_model(name, 10, 3, 5), shrunk = make_model(name, 10, 3, 5);
      prune_channels_synthetically(*masked, fraction);
      prune_channels_synthetically(*shrunk, fraction);
      const ShrinkReport report = shrink_dead_channels(*shrunk);
      INFO(report.summary());
      // A ResNet's option-A shortcut places channel c of a stage (C channels) at c + C/2 of
      // the next (2C), and the analysis ties the two: a residual channel leaves only with its
      // partner. The first k of C and the first 2k of 2C line up (k + C/2 = 2k) only at
      // p = 0.5; the other prunings keep more of the residual channels, never fewer.
      const bool residual_aligned = std::string(name) != "resnet20" || fraction == 0.5;
      for (const ShrunkLayer& layer : report.layers) {
        if (layer.role != ChannelRole::Mixer || layer.outputs_before == 10) continue;  // the classifier stays
        INFO(layer.name, " ", layer.outputs_before, " -> ", layer.outputs_after);
        const auto kept =
            static_cast<int64_t>(std::ceil((1 - fraction) * static_cast<double>(layer.outputs_before) - 1e-9));
        const bool internal = layer.name.find(".conv1") != std::string::npos;  // a block's first conv
        if (residual_aligned || internal)
          CHECK(layer.outputs_after == kept);
        else
          CHECK(layer.outputs_after >= kept);
      }
      Generator generator(3);
      const Tensor x = randn({4, 3, 32, 32}, generator);
      NoGradGuard no_grad;
      for (bool training : {true, false}) {
        masked->train(training);
        shrunk->train(training);
        CHECK(slab::testing::relative_difference(shrunk->forward(x), masked->forward(x)) <= 1e-5);
      }
    }
  }
}
