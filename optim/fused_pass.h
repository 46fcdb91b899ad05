// How the fused sampler passes (sghmc, csghmc, ivon, vb-adaptive) split a step over the CPU.
// Each pass walks a parameter tensor in chunks, the OpenMP work item: a chunk draws its
// noise into a small stack array (or AVX-512 registers) and updates its weights and state
// in one read and one write, so a chunk must be small enough for its temporaries to stay
// in L1 and a multiple of 64 (the AVX-512 noise path's group). A step over fewer weights
// than kParallelElements in all runs serially: forking threads costs more than it saves.
#pragma once
#include <cstdint>

namespace slab::fused_pass {

inline constexpr int64_t kChunk = 256;
inline constexpr int64_t kParallelElements = 32768;

}  // namespace slab::fused_pass
