// The sampler's noise for a shrunken parameter (docs/algorithm.md#shrinking-during-training):
// element e of the kept tensor is element dense_index[e] of the dense one, and its normal is
// the dense parameter's, addressed by the dense count (optim/sghmc_noise.h: counter = draw
// blocks(dense numel) + dense index / 4). The dense range that covers the next survivors is
// filled by fill_normals and the survivors are gathered from it, so the draws are the same
// bits the unshrunk sampler would use for those weights.
#pragma once
#include <cstdint>

#include "optim/sghmc_noise.h"

namespace slab::noise {

// out[e] = element dense_index[e] of draw `draw` of a tensor of dense_numel elements, for
// e in [0, count); dense_index ascending.
inline void gather_normals(uint64_t seed, uint64_t stream, uint64_t draw, uint64_t dense_numel,
                           const int64_t* dense_index, int64_t count, float* out) {
  constexpr int64_t kSpan = 512;  // dense elements per fill (a multiple of 4)
  alignas(64) float buffer[kSpan];
  int64_t e = 0;
  while (e < count) {
    const int64_t start = dense_index[e] / 4 * 4;
    int64_t last = e;
    while (last + 1 < count && dense_index[last + 1] < start + kSpan) ++last;
    fill_normals(seed, stream, draw, dense_numel, static_cast<uint64_t>(start), dense_index[last] + 1 - start, buffer);
    for (; e <= last; ++e) out[e] = buffer[dense_index[e] - start];
  }
}

}  // namespace slab::noise
