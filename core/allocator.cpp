#include "core/allocator.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace slab {
namespace {

constexpr size_t kAlignment = 64;  // a cache line, and an AVX-512 vector

struct HostCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // exact size -> blocks
  AllocatorStats stats;
  size_t limit = 0;  // 0: none
  std::string limit_source;
};

HostCache& cache() {
  static HostCache* instance = new HostCache();  // never destroyed: tensors may outlive main's statics
  return *instance;
}

// Rounded up to the alignment; a request within kAlignment of SIZE_MAX cannot be rounded
// and could never be met, so it becomes SIZE_MAX and fails the limit or the system.
size_t rounded(size_t bytes) {
  if (bytes > SIZE_MAX - kAlignment) return SIZE_MAX;
  return (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

// Hands every cached block back to the system (the caller holds the mutex).
void release_cached_blocks(HostCache& c) {
  for (auto& [size, blocks] : c.free_blocks)
    for (void* block : blocks) std::free(block);
  c.free_blocks.clear();
  c.stats.bytes_cached = 0;
}

[[noreturn]] void refuse(const HostCache& c, size_t size, const char* why) {
  throw MemoryLimitError(detail::concat("out of memory: a tensor of ", describe_bytes(static_cast<double>(size)),
                                        " (with ", describe_bytes(static_cast<double>(c.stats.bytes_in_use)),
                                        " in use) ", why));
}

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
    if (c.limit > 0 && (size > c.limit || c.stats.bytes_in_use + c.stats.bytes_cached > c.limit - size)) {
      release_cached_blocks(c);
      if (size > c.limit || c.stats.bytes_in_use > c.limit - size)
        refuse(c, size, detail::concat("would exceed the memory limit of ", describe_bytes(static_cast<double>(c.limit)),
                                       " (", c.limit_source, ")").c_str());
    }
    // Counted before the system call, which runs outside the lock (loader threads allocate
    // at the same time), and taken back if the system refuses.
    c.stats.bytes_in_use += size;
    if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
    ++c.stats.system_allocations;
    if (c.stats.bytes_in_use + c.stats.bytes_cached > c.stats.peak_bytes_held) {
      c.stats.peak_bytes_held = c.stats.bytes_in_use + c.stats.bytes_cached;
      c.stats.bytes_in_use_at_peak_held = c.stats.bytes_in_use;
    }
  }
  void* ptr = std::aligned_alloc(kAlignment, size);
  if (ptr == nullptr) {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.stats.bytes_in_use -= size;
    refuse(c, size, "was refused by the system");
  }
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

void set_host_memory_limit(size_t bytes, const std::string& source) {
  HostCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.limit = bytes;
  c.limit_source = source;
}

size_t host_memory_limit() {
  HostCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.limit;
}

size_t available_host_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  while (meminfo >> key) {
    unsigned long long kib = 0;
    std::string unit;
    if (!(meminfo >> kib >> unit)) return 0;
    if (key == "MemAvailable:") return kib > SIZE_MAX / 1024 ? SIZE_MAX : static_cast<size_t>(kib * 1024);
  }
  return 0;
}

std::string describe_bytes(double bytes) {
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return detail::concat(static_cast<long long>(bytes), " bytes");
  int unit = -1;
  while (bytes >= 1024 && unit < 5) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", bytes, units[unit]);
  return text;
}

}  // namespace slab
