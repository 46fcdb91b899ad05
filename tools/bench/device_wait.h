// The one wait a timed region on a GPU needs before its clock stops. Ops on a CUDA device
// only queue kernels on the device's stream and return, so without the wait a clock
// measures how fast the host queued the work rather than how fast the GPU did it. The
// benchmark modes (tools/bench/bench_*.cpp) share it.
#pragma once
#include "core/device.h"

namespace slab::tools {

// Returns when all work queued on `device` has finished; at once on the CPU, whose ops
// return when their work is done.
void wait_for_device(Device device);

}  // namespace slab::tools
