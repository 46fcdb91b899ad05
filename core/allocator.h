// Host memory for tensor storage. A training step allocates the same buffer sizes every
// iteration, so freed blocks are kept in per-size free lists and handed out again: after
// the first step a steady-state step makes no call to the system allocator.
//
// A limit on the bytes the cache may hold (in use + cached) turns an allocation that would
// exhaust the machine into an Error that names its size, raised before the system is asked:
// the programs set it to the memory available when they start (or --max-memory), so an
// absurd model width or batch size is refused with numbers instead of ending in the
// kernel's out-of-memory killer or a bare std::bad_alloc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

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

// An allocation refused by the limit or by the system; what() names the size, the bytes in
// use and the limit.
class MemoryLimitError : public Error {
 public:
  using Error::Error;
};

// 64-byte aligned; never returns null: throws MemoryLimitError instead.
void* host_allocate(size_t bytes);
void host_release(void* ptr, size_t bytes);  // back into the cache
AllocatorStats host_allocator_stats();

// The most bytes of tensor storage held at once (in use + cached); 0 (the default): no
// limit. A cache miss that would go past it first returns the cached blocks to the system,
// then throws if what is in use plus the request still does not fit. `source` says where
// the limit came from, for the message ("MemAvailable at start", "--max-memory").
void set_host_memory_limit(size_t bytes, const std::string& source);
size_t host_memory_limit();

// MemAvailable of /proc/meminfo in bytes (the kernel's estimate of what can be allocated
// without swapping); 0 where it cannot be read.
size_t available_host_memory();

// "313.6 TiB", "12.0 MiB", "512 bytes": a byte count for messages.
std::string describe_bytes(double bytes);

}  // namespace slab
