// The CUDA runtime seam used by core (compiled only with SLAB_WITH_CUDA): device discovery,
// device memory through a caching allocator, pinned host staging, copies, synchronisation
// and the TF32 switch. A plain C++ header (no CUDA headers), so any source may include it.
//
// Execution model: one stream per device, created on first use. Every kernel, cuBLAS and
// cuDNN call and copy of a device runs on that stream, in order, so a block handed back to
// the allocator may be reused by the next kernel without waiting: the stream orders them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace slab::cuda {

// ---- devices -------------------------------------------------------------------------
int device_count();              // 0 when no GPU is visible (or no usable driver)
std::string no_device_reason();  // why device_count() is 0, for error messages ("" otherwise)
// One line for a program's banner: runtime, driver, cuBLAS and cuDNN versions, the GPUs.
std::string describe_backend();

// ---- device memory (caching allocator) --------------------------------------------------
// Freed blocks go to per-device free lists keyed by rounded size and are handed out again,
// so a steady-state training step calls neither cudaMalloc nor cudaFree. When cudaMalloc
// runs out of memory the cache is emptied and the allocation retried once.
void* device_allocate(size_t bytes, int device);
void device_release(void* ptr, size_t bytes, int device);
void device_empty_cache(int device);
struct DeviceAllocatorStats {
  size_t bytes_in_use = 0;
  size_t bytes_cached = 0;
  size_t peak_bytes_in_use = 0;
  uint64_t system_allocations = 0;  // calls that reached cudaMalloc
};
DeviceAllocatorStats device_allocator_stats(int device);

// ---- copies ----------------------------------------------------------------------------
// From any host memory: the bytes are first copied into a pinned staging buffer, then sent
// asynchronously, so the call returns at once and `src` may be reused immediately (a plain
// pageable cudaMemcpyAsync would wait for the whole stream first).
void copy_host_to_device(void* dst, const void* src, size_t bytes, int device);
// Waits for the stream, so `dst` holds the data on return.
void copy_device_to_host(void* dst, const void* src, size_t bytes, int device);
void copy_device_to_device(void* dst, const void* src, size_t bytes, int device);
void synchronize(int device);

// ---- errors found by kernels ------------------------------------------------------------
// A kernel cannot throw, and reading a flag back after every launch would make the host wait
// for the GPU at every step. So a kernel that meets bad input (a class index out of range)
// fills its device's error record instead, and the runtime reads the record back at the
// host synchronisation points that exist anyway: copy_device_to_host and synchronize (so
// also every Tensor read on the host). A filled record becomes a
// slab::Error with its code's message there, and is cleared. The cost is one 32-byte copy,
// queued just before the stream wait, at the first such point after a launch that asked
// for the record (device_error_record); a synchronisation with no such launch pays nothing.
enum class DeviceErrorCode : int32_t {
  none = 0,
  cross_entropy_target = 1,  // index: the row, value: its target, limit: the class count
};

struct DeviceErrorRecord {
  int32_t code;  // a DeviceErrorCode; 0 while no kernel has claimed the record
  int32_t unused;
  int64_t index;  // where the bad value was found
  int64_t value;  // the bad value
  int64_t limit;  // the bound it broke
};

// The device's record (device memory, zero while clear), to pass to a kernel about to be
// launched; marks the device so its next synchronisation point reads the record back.
DeviceErrorRecord* device_error_record(int device);

#ifdef __CUDACC__
// In a kernel, by the one thread that reports: the first report since the record was last
// cleared wins (by a compare-and-swap on the code), and only the winner writes the fields.
// The host reads them after the stream has finished the kernel.
__device__ inline void record_device_error(DeviceErrorRecord* record, DeviceErrorCode code, int64_t index,
                                           int64_t value, int64_t limit) {
  if (atomicCAS(&record->code, 0, static_cast<int32_t>(code)) != 0) return;
  record->index = index;
  record->value = value;
  record->limit = limit;
}
#endif

// ---- small device-side writes (no host round trip) ------------------------------------------
// data[0 .. count) = value in the given dtype: what Tensor::fill does on the GPU.
void fill(void* data, DType dtype, int64_t count, double value, int device);
// *counter += amount for an int64 on the device (BatchNorm's num_batches_tracked), so a
// training step never waits for the GPU to read a counter back.
void add_to_int64(int64_t* counter, int64_t amount, int device);

// ---- numerics --------------------------------------------------------------------------
// GEMM and convolution in full float32 by default. TF32 tensor cores (10-bit mantissa
// inputs, float32 accumulation) when switched on, or when the environment holds SLAB_TF32=1
// at start-up. Read at each call, so it can be flipped between steps.
void set_tf32(bool on);
bool tf32_enabled();

// ---- test aids -------------------------------------------------------------------------
// The raw Philox4x32-10 words of blocks first_block .. first_block + count - 1 of
// (seed, stream), computed on the device and copied into words[4 * count]: the integer
// stream that the CPU's philox::block must reproduce bit for bit.
void philox_words(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t count, uint32_t* words, int device);

}  // namespace slab::cuda
