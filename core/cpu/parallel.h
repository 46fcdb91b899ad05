// The one level of CPU threading: OpenMP loops over independent elements or rows.
// Small loops stay serial (a parallel region costs a few microseconds).
#pragma once
#include <cstdint>

namespace slab::cpu {

constexpr int64_t kParallelGrain = 32768;  // elements below which a loop stays serial

}  // namespace slab::cpu
