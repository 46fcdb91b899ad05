#include "core/storage.h"

#include "core/allocator.h"
#include "core/error.h"
#ifdef SLAB_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

namespace slab {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cpu()) {
    data_ = host_allocate(bytes);
    return;
  }
#ifdef SLAB_WITH_CUDA
  data_ = cuda::device_allocate(bytes, device.index);
#else
  SLAB_FAIL("device ", device, " requested, but this slab was built without the CUDA backend "
            "(configure with nvcc and cuDNN present, or -DSLAB_CUDA=ON)");
#endif
}

Storage::~Storage() {
  if (device_.is_cpu()) {
    host_release(data_, bytes_);
    return;
  }
#ifdef SLAB_WITH_CUDA
  cuda::device_release(data_, bytes_, device_.index);
#endif
}

}  // namespace slab
