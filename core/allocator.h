// Host memory for tensor storage. A training step allocates the same buffer sizes every
// iteration, so freed blocks are kept in per-size free lists and handed out again: after
// the first step a steady-state step makes no call to the system allocator.
#pragma once
#include <cstddef>
#include <cstdint>

namespace slab {

struct AllocatorStats {
  size_t bytes_in_use = 0;       // handed out and not yet returned
  size_t bytes_cached = 0;       // returned, kept for reuse
  size_t peak_bytes_in_use = 0;  // high-water mark of bytes_in_use
  uint64_t system_allocations = 0;  // calls that reached the system allocator
  // What the cache holds from the system (in use + cached) at its high-water mark, and how
  // much of that was in use then: the difference is cached blocks of other sizes that the
  // request which raised the mark could not use.
  size_t peak_bytes_held = 0;
  size_t bytes_in_use_at_peak_held = 0;
};

void* host_allocate(size_t bytes);        // 64-byte aligned; never returns null
void host_release(void* ptr, size_t bytes);  // back into the cache
AllocatorStats host_allocator_stats();

}  // namespace slab
