#include "tools/bench/device_wait.h"

#ifdef SLAB_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

namespace slab::tools {

void wait_for_device([[maybe_unused]] Device device) {
#ifdef SLAB_WITH_CUDA
  if (device.is_cuda()) cuda::synchronize(device.index);
#endif
}

}  // namespace slab::tools
