#include "core/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace slab {
namespace {

constexpr size_t kAlignment = 64;  // a cache line, and an AVX-512 vector

struct HostCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // exact size -> blocks
  AllocatorStats stats;
};

HostCache& cache() {
  static HostCache* instance = new HostCache();  // never destroyed: tensors may outlive main's statics
  return *instance;
}

size_t rounded(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

void* host_allocate(size_t bytes) {
  const size_t size = rounded(bytes == 0 ? 1 : bytes);
  HostCache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      c.stats.bytes_cached -= size;
      c.stats.bytes_in_use += size;
      if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
      return ptr;
    }
    c.stats.bytes_in_use += size;
    if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
    ++c.stats.system_allocations;
    if (c.stats.bytes_in_use + c.stats.bytes_cached > c.stats.peak_bytes_held) {
      c.stats.peak_bytes_held = c.stats.bytes_in_use + c.stats.bytes_cached;
      c.stats.bytes_in_use_at_peak_held = c.stats.bytes_in_use;
    }
  }
  void* ptr = std::aligned_alloc(kAlignment, size);
  if (ptr == nullptr) throw std::bad_alloc();
  return ptr;
}

void host_release(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  const size_t size = rounded(bytes == 0 ? 1 : bytes);
  HostCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.free_blocks[size].push_back(ptr);
  c.stats.bytes_in_use -= size;
  c.stats.bytes_cached += size;
}

AllocatorStats host_allocator_stats() {
  HostCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

}  // namespace slab
