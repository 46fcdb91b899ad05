// The dense masked network and its shrunken twin for the speed-up benchmarks of shrinking
// (slab-bench train and infer --prune-channels, docs/performance.md#shrunken-networks): both
// built from the same seed and pruned by prune_channels_synthetically
// (layers/synthetic_pruning.h), the second shrunk by shrink_dead_channels (layers/shrink.h),
// with the multiply-adds of both (per image, from the ops of a traced forward pass).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/shape.h"
#include "layers/module.h"

namespace slab::tools {

struct ShrunkenPair {
  std::shared_ptr<Module> dense;   // pruned (masked) but of the dense shapes
  std::shared_ptr<Module> shrunk;  // the same network with the dead channels removed
  double dense_macs = 0, shrunk_macs = 0;  // multiply-adds per image (convs and linear layers)
  std::string summary;             // shrink_dead_channels' one line
  double macs_ratio() const { return dense_macs / shrunk_macs; }  // I
};

// `input` is [N, C, H, W]; the models are built with make_model(model, classes, C, seed).
ShrunkenPair make_shrunken_pair(const std::string& model, int64_t classes, const Shape& input, uint64_t seed,
                                double fraction);

// The target line of both benchmarks, from the images/s of alternating passes (dense[i]
// then shrunk[i]): S = median shrunken / median dense, I = the MAC ratio, met when
// S - 1 >= coefficient (I - 1). The median of the per-pass ratios shrunk[i] / dense[i] is
// printed beside it: on a shared machine two passes next to each other see similar load.
void print_shrink_speedup(const char* mode, const std::string& model, int64_t batch, double fraction,
                          const ShrunkenPair& pair, const std::vector<double>& dense_rates,
                          const std::vector<double>& shrunk_rates, double coefficient, bool targeted);

}  // namespace slab::tools
