// The CUDA runtime seam (core/cuda/runtime.h) and the per-device context (context.h):
// device discovery, the caching device allocator, pinned staging, copies, handles.
#include "core/cuda/runtime.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "core/cuda/context.h"
#include "core/error.h"

namespace slab::cuda {

// ---- error reporting -------------------------------------------------------------------
namespace detail {

void fail_call(const char* library, const char* message, int code, const char* call, const char* file, int line) {
  SLAB_FAIL(library, " error ", code, " (", message, ") in ", call, " at ", file, ":", line);
}

bool synchronous_launches() {
  static const bool on = [] {
    const char* value = std::getenv("SLAB_CUDA_SYNC");
    return value != nullptr && std::strcmp(value, "1") == 0;
  }();
  return on;
}

const char* cublas_status_name(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUBLAS_STATUS_MAPPING_ERROR: return "mapping error";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "license error";
  }
  return "unknown status";
}

}  // namespace detail

namespace {

constexpr int kMaxDevices = 64;
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;  // what cuBLAS asks for on Hopper

// ---- discovery -------------------------------------------------------------------------
struct Discovery {
  int count = 0;
  std::string reason;
};

const Discovery& discovery() {
  static const Discovery found = [] {
    Discovery d;
    const cudaError_t status = cudaGetDeviceCount(&d.count);
    if (status != cudaSuccess) {
      d.count = 0;
      d.reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(status);
      cudaGetLastError();  // not sticky: clear it so later checks do not see it
    } else if (d.count == 0) {
      d.reason = "the CUDA driver sees no GPU";
    }
    return d;
  }();
  return found;
}

void require_device(int device) {
  SLAB_CHECK(device >= 0 && device < device_count() && device < kMaxDevices, "CUDA device cuda:", device,
             " does not exist (", device_count(), " visible", device_count() == 0 ? ": " + no_device_reason() : "",
             ")");
}

// ---- caching allocators ----------------------------------------------------------------
// Blocks are rounded up so that sizes which differ by a few bytes share a free list.
size_t round_block(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t granule = bytes < (size_t{1} << 20) ? 512 : (size_t{1} << 16);
  return (bytes + granule - 1) / granule * granule;
}

struct BlockCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  DeviceAllocatorStats stats;

  void* take(size_t size) {  // under the mutex
    auto it = free_blocks.find(size);
    if (it == free_blocks.end() || it->second.empty()) return nullptr;
    void* ptr = it->second.back();
    it->second.pop_back();
    stats.bytes_cached -= size;
    count_in(size);
    return ptr;
  }
  void count_in(size_t size) {
    stats.bytes_in_use += size;
    stats.peak_bytes_in_use = std::max(stats.peak_bytes_in_use, stats.bytes_in_use);
  }
  void put(void* ptr, size_t size) {
    free_blocks[size].push_back(ptr);
    stats.bytes_in_use -= size;
    stats.bytes_cached += size;
  }
};

BlockCache& device_cache(int device) {
  static BlockCache* caches = new BlockCache[kMaxDevices];  // never destroyed: tensors outlive statics
  return caches[device];
}

// ---- per-device context ------------------------------------------------------------------
struct Context {
  std::once_flag created;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  std::once_flag cudnn_created;
  int multiprocessors = 1;
  std::mutex workspace_mutex;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  void* cublas_workspace = nullptr;
};

Context& context(int device) {
  static Context* contexts = new Context[kMaxDevices];
  require_device(device);
  Context& c = contexts[device];
  std::call_once(c.created, [&c, device] {
    detail::activate(device);
    SLAB_CUDA_CHECK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking));
    SLAB_CUDA_CHECK(cudaDeviceGetAttribute(&c.multiprocessors, cudaDevAttrMultiProcessorCount, device));
    SLAB_CUDA_CHECK(cublasCreate(&c.cublas));
    SLAB_CUDA_CHECK(cublasSetStream(c.cublas, c.stream));  // resets the workspace: set it after
    c.cublas_workspace = device_allocate(kCublasWorkspaceBytes, device);
    SLAB_CUDA_CHECK(cublasSetWorkspace(c.cublas, c.cublas_workspace, kCublasWorkspaceBytes));
  });
  return c;
}

// ---- pinned staging for host-to-device copies ------------------------------------------------
// A pool of page-locked buffers, each with the event recorded after the copy that last used
// it; a buffer is free again once its event has completed.
struct StagingSlot {
  void* buffer = nullptr;
  size_t capacity = 0;
  cudaEvent_t done = nullptr;
};

struct StagingPool {
  std::mutex mutex;
  std::vector<StagingSlot> slots;
  size_t total_bytes = 0;
};

StagingPool& staging_pool(int device) {
  static StagingPool* pools = new StagingPool[kMaxDevices];
  return pools[device];
}

constexpr size_t kStagingLimitBytes = size_t{256} << 20;  // beyond this, wait for a slot instead

bool event_done(cudaEvent_t event) {
  const cudaError_t status = cudaEventQuery(event);
  if (status == cudaSuccess) return true;
  if (status == cudaErrorNotReady) {
    cudaGetLastError();  // "not ready" is a state, not an error: keep it out of later checks
    return false;
  }
  SLAB_CUDA_CHECK(status);
  return false;
}

std::atomic<int> tf32_state{-1};  // -1: not yet read from the environment

// ---- the device error records (runtime.h, "errors found by kernels") -------------------------
struct ErrorRecordSlot {
  std::once_flag created;
  DeviceErrorRecord* on_device = nullptr;  // filled by kernels
  DeviceErrorRecord* mirror = nullptr;     // pinned host copy, written by the read-back
  std::atomic<bool> armed{false};          // a launch since the last read-back may have filled it
};

ErrorRecordSlot& error_slot(int device) {
  static ErrorRecordSlot* slots = new ErrorRecordSlot[kMaxDevices];
  return slots[device];
}

// Before a stream wait: queue the record's copy into the mirror when a launch asked for the
// record since the last read-back. True when it did (the caller then calls raise_recorded_error
// after the wait; a thread that queued nothing leaves the mirror alone).
bool queue_error_readback(int device, cudaStream_t stream) {
  ErrorRecordSlot& slot = error_slot(device);
  if (!slot.armed.exchange(false)) return false;
  SLAB_CUDA_CHECK(cudaMemcpyAsync(slot.mirror, slot.on_device, sizeof(DeviceErrorRecord), cudaMemcpyDeviceToHost,
                                  stream));
  return true;
}

[[noreturn]] void fail_with_record(const DeviceErrorRecord& r) {
  switch (static_cast<DeviceErrorCode>(r.code)) {
    case DeviceErrorCode::cross_entropy_target:
      SLAB_FAIL("cross_entropy: target ", r.value, " at row ", r.index, " is outside [0, ", r.limit, ")");
    case DeviceErrorCode::none: break;
  }
  SLAB_FAIL("a CUDA kernel reported error code ", r.code, " (index ", r.index, ", value ", r.value, ", limit ",
            r.limit, ")");
}

// After the wait that followed queue_error_readback: throws the recorded error, if any, after
// clearing the record (the clear is queued on the stream, so it lands before any later kernel).
void raise_recorded_error(int device, cudaStream_t stream) {
  ErrorRecordSlot& slot = error_slot(device);
  const DeviceErrorRecord record = *slot.mirror;
  if (record.code == 0) return;
  *slot.mirror = DeviceErrorRecord{};
  SLAB_CUDA_CHECK(cudaMemsetAsync(slot.on_device, 0, sizeof(DeviceErrorRecord), stream));
  fail_with_record(record);
}

}  // namespace

// ---- detail: the context for kernels ---------------------------------------------------------
namespace detail {

void activate(int device) {
  thread_local int current = -1;
  if (current == device) return;
  SLAB_CUDA_CHECK(cudaSetDevice(device));
  current = device;
}

cudaStream_t stream(int device) {
  Context& c = context(device);
  activate(device);
  return c.stream;
}

cublasHandle_t cublas(int device) {
  Context& c = context(device);
  activate(device);
  return c.cublas;
}

cudnnHandle_t cudnn(int device) {
  Context& c = context(device);
  activate(device);
  std::call_once(c.cudnn_created, [&c] {
    SLAB_CUDA_CHECK(cudnnCreate(&c.cudnn));
    SLAB_CUDA_CHECK(cudnnSetStream(c.cudnn, c.stream));
  });
  return c.cudnn;
}

int multiprocessor_count(int device) { return context(device).multiprocessors; }

void* workspace(size_t bytes, int device) {
  Context& c = context(device);
  std::lock_guard<std::mutex> lock(c.workspace_mutex);
  if (bytes > c.workspace_bytes) {
    if (c.workspace != nullptr) device_release(c.workspace, c.workspace_bytes, device);
    c.workspace_bytes = std::max(bytes, c.workspace_bytes * 2);
    c.workspace = device_allocate(c.workspace_bytes, device);
  }
  return c.workspace;
}

unsigned grid_for(int64_t n, int device, int threads) {
  if (n <= 0) return 1;
  const int64_t needed = (n + threads - 1) / threads;
  const int64_t filling = static_cast<int64_t>(multiprocessor_count(device)) * (2048 / threads) * 4;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(needed, filling)));
}

}  // namespace detail

// ---- devices --------------------------------------------------------------------------
int device_count() { return discovery().count; }
std::string no_device_reason() { return discovery().reason; }

std::string describe_backend() {
  std::ostringstream out;
  if (device_count() == 0) {
    out << "CUDA: no GPU (" << no_device_reason() << ")";
    return out.str();
  }
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  int cublas_major = 0, cublas_minor = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas_major);
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  const size_t cudnn = cudnnGetVersion();
  out << "CUDA runtime " << runtime / 1000 << "." << (runtime % 1000) / 10 << ", driver " << driver / 1000 << "."
      << (driver % 1000) / 10 << ", cuBLAS " << cublas_major << "." << cublas_minor << ", cuDNN " << cudnn / 10000
      << "." << (cudnn % 10000) / 100 << "." << cudnn % 100 << ", TF32 " << (tf32_enabled() ? "on" : "off");
  for (int d = 0; d < device_count(); ++d) {
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, d) != cudaSuccess) continue;
    out << "; GPU " << d << ": " << props.name << " (sm_" << props.major << props.minor << ", "
        << props.totalGlobalMem / (size_t{1} << 20) << " MiB)";
  }
  return out.str();
}

// ---- device memory ---------------------------------------------------------------------
void* device_allocate(size_t bytes, int device) {
  require_device(device);
  const size_t size = round_block(bytes);
  BlockCache& cache = device_cache(device);
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    if (void* ptr = cache.take(size)) return ptr;
  }
  detail::activate(device);
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, size);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    device_empty_cache(device);  // give every cached block back, then try once more
    status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      const DeviceAllocatorStats stats = device_allocator_stats(device);
      SLAB_FAIL("CUDA out of memory on device ", device, ": allocating ", size, " bytes with ", stats.bytes_in_use,
                " bytes in use by tensors");
    }
  }
  SLAB_CUDA_CHECK(status);
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.count_in(size);
  ++cache.stats.system_allocations;
  return ptr;
}

void device_release(void* ptr, size_t bytes, int device) {
  if (ptr == nullptr) return;
  BlockCache& cache = device_cache(device);
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.put(ptr, round_block(bytes));
}

void device_empty_cache(int device) {
  require_device(device);
  detail::activate(device);
  SLAB_CUDA_CHECK(cudaDeviceSynchronize());  // cached blocks may still be read by queued work
  BlockCache& cache = device_cache(device);
  std::lock_guard<std::mutex> lock(cache.mutex);
  for (auto& [size, blocks] : cache.free_blocks)
    for (void* ptr : blocks) SLAB_CUDA_CHECK(cudaFree(ptr));
  cache.free_blocks.clear();
  cache.stats.bytes_cached = 0;
}

DeviceAllocatorStats device_allocator_stats(int device) {
  require_device(device);
  BlockCache& cache = device_cache(device);
  std::lock_guard<std::mutex> lock(cache.mutex);
  return cache.stats;
}

// ---- copies ----------------------------------------------------------------------------
void copy_host_to_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  cudaStream_t s = detail::stream(device);
  StagingPool& pool = staging_pool(device);
  std::lock_guard<std::mutex> lock(pool.mutex);
  StagingSlot* chosen = nullptr;
  for (StagingSlot& slot : pool.slots)  // the smallest free slot that fits
    if (slot.capacity >= bytes && (chosen == nullptr || slot.capacity < chosen->capacity) && event_done(slot.done))
      chosen = &slot;
  if (chosen == nullptr && pool.total_bytes >= kStagingLimitBytes) {
    for (StagingSlot& slot : pool.slots)  // at the limit: wait for a slot that fits
      if (slot.capacity >= bytes) {
        SLAB_CUDA_CHECK(cudaEventSynchronize(slot.done));
        chosen = &slot;
        break;
      }
  }
  if (chosen == nullptr) {
    StagingSlot slot;
    slot.capacity = std::max<size_t>(size_t{64} << 10, std::bit_ceil(bytes));
    SLAB_CUDA_CHECK(cudaHostAlloc(&slot.buffer, slot.capacity, cudaHostAllocPortable));
    SLAB_CUDA_CHECK(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
    pool.total_bytes += slot.capacity;
    pool.slots.push_back(slot);
    chosen = &pool.slots.back();
  }
  std::memcpy(chosen->buffer, src, bytes);
  SLAB_CUDA_CHECK(cudaMemcpyAsync(dst, chosen->buffer, bytes, cudaMemcpyHostToDevice, s));
  SLAB_CUDA_CHECK(cudaEventRecord(chosen->done, s));
}

void copy_device_to_host(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  cudaStream_t s = detail::stream(device);
  SLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
  const bool readback = queue_error_readback(device, s);
  SLAB_CUDA_CHECK(cudaStreamSynchronize(s));
  if (readback) raise_recorded_error(device, s);
}

void copy_device_to_device(void* dst, const void* src, size_t bytes, int device) {
  if (bytes == 0) return;
  SLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, detail::stream(device)));
}

void synchronize(int device) {
  cudaStream_t s = detail::stream(device);
  const bool readback = queue_error_readback(device, s);
  SLAB_CUDA_CHECK(cudaStreamSynchronize(s));
  if (readback) raise_recorded_error(device, s);
}

DeviceErrorRecord* device_error_record(int device) {
  cudaStream_t s = detail::stream(device);  // checks the device and makes it current
  ErrorRecordSlot& slot = error_slot(device);
  std::call_once(slot.created, [&slot, s] {
    // Outside the caching allocator: a record lives as long as the process, not a tensor.
    void* on_device = nullptr;
    void* mirror = nullptr;
    SLAB_CUDA_CHECK(cudaMalloc(&on_device, sizeof(DeviceErrorRecord)));
    SLAB_CUDA_CHECK(cudaMemsetAsync(on_device, 0, sizeof(DeviceErrorRecord), s));
    SLAB_CUDA_CHECK(cudaHostAlloc(&mirror, sizeof(DeviceErrorRecord), cudaHostAllocPortable));
    slot.on_device = static_cast<DeviceErrorRecord*>(on_device);
    slot.mirror = static_cast<DeviceErrorRecord*>(mirror);
    *slot.mirror = DeviceErrorRecord{};
  });
  slot.armed.store(true);
  return slot.on_device;
}

// ---- numerics --------------------------------------------------------------------------
bool tf32_enabled() {
  int state = tf32_state.load();
  if (state < 0) {
    const char* value = std::getenv("SLAB_TF32");
    state = (value != nullptr && std::strcmp(value, "1") == 0) ? 1 : 0;
    int expected = -1;
    tf32_state.compare_exchange_strong(expected, state);
    state = tf32_state.load();
  }
  return state == 1;
}

void set_tf32(bool on) { tf32_state.store(on ? 1 : 0); }

}  // namespace slab::cuda
