// One checking macro for every CUDA runtime, cuBLAS and cuDNN call in core/cuda/:
//   SLAB_CUDA_CHECK(cudaMemcpyAsync(...));
//   SLAB_CUDA_CHECK(cublasSgemm(...));
//   SLAB_CUDA_CHECK(cudnnConvolutionForward(...));
// A failure throws slab::Error naming the library's error string, the call as written, and
// the file and line. After every kernel launch, SLAB_CUDA_CHECK_LAUNCH("name") reads the
// launch error; with SLAB_CUDA_SYNC=1 in the environment it also waits for the kernel, so
// an asynchronous fault is reported at the launch that caused it rather than at some later
// call (the debugging mode; off by default because it serialises host and device).
//
// Internal to the CUDA backend: include only from core/cuda/ sources.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

namespace slab::cuda::detail {

[[noreturn]] void fail_call(const char* library, const char* message, int code, const char* call, const char* file,
                            int line);
bool synchronous_launches();  // SLAB_CUDA_SYNC=1
const char* cublas_status_name(cublasStatus_t status);

inline void check_status(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) fail_call("CUDA", cudaGetErrorString(status), static_cast<int>(status), call, file, line);
}
inline void check_status(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail_call("cuBLAS", cublas_status_name(status), static_cast<int>(status), call, file, line);
}
inline void check_status(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS)
    fail_call("cuDNN", cudnnGetErrorString(status), static_cast<int>(status), call, file, line);
}

// After a launch: the launch's own error, then (debug mode) the kernel's execution.
inline void check_launch(const char* kernel, const char* file, int line) {
  check_status(cudaGetLastError(), kernel, file, line);
  if (synchronous_launches()) check_status(cudaDeviceSynchronize(), kernel, file, line);
}

}  // namespace slab::cuda::detail

#define SLAB_CUDA_CHECK(call) ::slab::cuda::detail::check_status((call), #call, __FILE__, __LINE__)
#define SLAB_CUDA_CHECK_LAUNCH(kernel_name) ::slab::cuda::detail::check_launch(kernel_name, __FILE__, __LINE__)
