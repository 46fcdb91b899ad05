// Synthetic channel pruning for the speed-up benchmarks of shrinking (slab-bench train and
// infer --prune-channels, docs/performance.md#shrunken-networks).
//
// prune_channels_synthetically keeps, in every prunable channel group, the first
// ceil((1 - fraction) C) of its C channels and makes the rest dead the way the prior's
// prune-bn does: the filter rows (and bias) of the mixer are zeroed and so are the scale and
// shift of the BatchNorm that reads it, so the channel is exactly 0 in training and
// evaluation. The prunable groups are the mixers whose output only a normaliser reads
// (layers/channel_graph.h's mixer -> normaliser pairs: every conv -> BatchNorm); the
// classifier keeps its outputs. Keeping the first channels of every member keeps a residual
// sum's channel sets aligned, so shrink_dead_channels (layers/shrink.h), which removes a
// summed channel only where it is dead in every term, removes exactly the pruned fraction.
//
// ShrunkenPair builds the dense masked network and its shrunken twin from the same seed
// and counts the multiply-adds of both (per image, from the traced graph's actual shapes).
#pragma once
#include <memory>
#include <string>

#include "core/shape.h"
#include "layers/module.h"

namespace slab::tools {

// Returns the number of channels made dead.
int64_t prune_channels_synthetically(Module& model, double fraction);

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

// The target line of both benchmarks: S = shrunk / dense images/s, I = the MAC ratio,
// met when S - 1 >= coefficient (I - 1).
void print_shrink_speedup(const char* mode, const std::string& model, int64_t batch, double fraction,
                          const ShrunkenPair& pair, double dense_rate, double shrunk_rate, double coefficient,
                          bool targeted);

}  // namespace slab::tools
