#include "core/device.h"

#include "core/error.h"
#include "core/parse_number.h"
#ifdef SLAB_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

namespace slab {

bool cuda_available() {
#ifdef SLAB_WITH_CUDA
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  int64_t index = 0;
  if (text.rfind("cuda:", 0) == 0) {
    index = parse_int64(text.substr(5), "--device " + text + ": the GPU index");
    SLAB_CHECK(index >= 0 && index <= 1024, "--device ", text, ": the GPU index must be in [0, 1024]");
  }
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
#ifndef SLAB_WITH_CUDA
    SLAB_FAIL("--device ", text, ": this slab was built without the CUDA backend (nvcc and cuDNN were not found at configure time)");
#else
    SLAB_CHECK(index < cuda::device_count(), "--device ", text, ": no such GPU (", cuda::device_count(), " visible",
               cuda::device_count() == 0 ? ": " + cuda::no_device_reason() : std::string(), ")");
#endif
    return Device::cuda(static_cast<int>(index));
  }
  SLAB_FAIL("unknown device '", text, "' (expected cpu, cuda or cuda:N)");
}

}  // namespace slab
