// The one level of CPU threading: OpenMP loops over independent elements or rows.
// Small loops stay serial (a parallel region costs a few microseconds).
#pragma once
#include <cstdint>

namespace slab::cpu {

constexpr int64_t kParallelGrain = 32768;  // elements below which a loop stays serial

// Calls line(o, i) for every line along the middle dimension of a tensor viewed as
// [outer, extent, inner]: the line starts at o extent inner + i and steps by inner. Lines
// are independent, so they are split across threads (when there are enough elements)
// without changing a result.
template <typename Line>
void for_each_line(int64_t outer, int64_t extent, int64_t inner, const Line& line) {
#pragma omp parallel for collapse(2) if (outer * extent * inner > kParallelGrain) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) line(o, i);
}

}  // namespace slab::cpu
