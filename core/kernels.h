// The seam between ops and devices. Every kernel is declared once, in
// kernel_signatures.inc, and that list is included into namespace cpu (core/cpu/) and,
// when built, namespace cuda (core/cuda/): the two backends cannot drift apart in
// signature. Ops call SLAB_KERNEL(device, name, args...), the one dispatch point.
//
// Kernels receive tensors whose shapes and dtypes the op has already checked, and write
// into preallocated outputs (tensors are handles, so outputs are passed by const&).
#pragma once
#include <cstdint>

#include "core/elementwise_math.h"  // UnaryOp, BinaryOp
#include "core/tensor.h"

namespace slab {

namespace cpu {
#include "core/kernel_signatures.inc"
}
#ifdef SLAB_WITH_CUDA
namespace cuda {
#include "core/kernel_signatures.inc"
}
#define SLAB_KERNEL(device, name, ...) \
  ((device).is_cuda() ? ::slab::cuda::name(__VA_ARGS__) : ::slab::cpu::name(__VA_ARGS__))
#else
#define SLAB_KERNEL(device, name, ...) ::slab::cpu::name(__VA_ARGS__)
#endif

}  // namespace slab
