// The CUDA runtime seam used by core (compiled only with SLAB_WITH_CUDA): device memory
// through a caching allocator, copies, and device discovery.
#pragma once
#include <cstddef>

namespace slab::cuda {

int device_count();                                   // 0 when no GPU is visible
void* device_allocate(size_t bytes, int device);      // cached: no cudaMalloc in steady state
void device_release(void* ptr, size_t bytes, int device);
void copy_host_to_device(void* dst, const void* src, size_t bytes, int device);
void copy_device_to_host(void* dst, const void* src, size_t bytes, int device);
void copy_device_to_device(void* dst, const void* src, size_t bytes, int device);
void synchronize(int device);

}  // namespace slab::cuda
