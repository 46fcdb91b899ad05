// Per-device state shared by the CUDA kernels: the one stream, the cuBLAS and cuDNN
// handles bound to it, a reusable scratch workspace, and the launch geometry.
// Internal to the CUDA backend: include only from core/cuda/ sources.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/cuda/check.h"

namespace slab::cuda::detail {

// Makes `device` current for this thread (cudaSetDevice only when it changes).
void activate(int device);
// The device's stream (created on first use); also activates the device.
cudaStream_t stream(int device);
cublasHandle_t cublas(int device);  // bound to stream(device), with its workspace set
cudnnHandle_t cudnn(int device);    // bound to stream(device)
int multiprocessor_count(int device);
// A scratch buffer of at least `bytes` for cuDNN: grows when asked for more, never shrinks,
// so after the first step of a training run it is a pointer lookup. Valid until the next
// call with a larger size; stream order makes the reuse safe.
void* workspace(size_t bytes, int device);

// Threads per block for the elementwise kernels, and a grid for a grid-stride loop over n
// items: enough blocks to fill the device, never more than the items need.
constexpr int kThreads = 256;
unsigned grid_for(int64_t n, int device, int threads = kThreads);

}  // namespace slab::cuda::detail
