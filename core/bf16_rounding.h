// The bf16 rounding rule, written once for the CPU kernels (core/cpu/bf16.h) and the CUDA
// ones (core/cuda/bf16_products.cu): round to nearest, ties to even, on the bit pattern (add
// 0x7FFF plus the lowest kept bit, then drop the low 16 bits); a NaN stays a quiet NaN (the
// carry could otherwise turn it into an infinity).
#pragma once
#include <cstdint>

#include "core/host_device.h"

namespace slab {

// The bf16 (upper 16 bits of a float32) nearest the float32 with bit pattern `bits`.
SLAB_HOST_DEVICE uint16_t bf16_bits_of(uint32_t bits) {
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace slab
