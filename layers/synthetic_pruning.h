// Synthetic channel pruning: a network with a fixed fraction of every prunable channel group
// dead, for the speed-up benchmarks of shrinking (slab-bench train and infer
// --prune-channels, docs/performance.md#shrunken-networks) and their tests.
//
// prune_channels_synthetically keeps, in every prunable channel group, the first
// ceil((1 - fraction) C) of its C channels and makes the rest dead the way the prior's
// prune-bn does: the filter rows (and bias) of the mixer are zeroed and so are the scale and
// shift of the BatchNorm that reads it, so the channel is exactly 0 in training and
// evaluation. The prunable groups are the mixers whose output only a normaliser reads
// (layers/channel_graph.h's mixer -> normaliser pairs: every conv -> BatchNorm); the
// classifier keeps its outputs. Keeping the first channels of every member keeps a residual
// sum's channel sets aligned, so shrink_dead_channels (layers/shrink.h), which removes a
// summed channel only where it is dead in every term, removes the pruned channels.
#pragma once
#include <cstdint>

#include "layers/module.h"

namespace slab {

// Returns the number of channels made dead.
int64_t prune_channels_synthetically(Module& model, double fraction);

}  // namespace slab
