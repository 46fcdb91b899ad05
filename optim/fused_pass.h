// How the fused sampler passes (sghmc, csghmc, ivon, vb-adaptive) split a step over the CPU.
// Each pass walks a parameter tensor in chunks, the OpenMP work item: a chunk draws its
// noise into a small stack array (or AVX-512 registers) and updates its weights and state
// in one read and one write, so a chunk must be small enough for its temporaries to stay
// in L1 and a multiple of 64 (the AVX-512 noise path's group). A step over fewer weights
// than kParallelElements in all runs serially: forking threads costs more than it saves.
#pragma once
#include <algorithm>
#include <cstdint>

namespace slab::fused_pass {

inline constexpr int64_t kChunk = 256;
inline constexpr int64_t kParallelElements = 32768;

// Calls body(first, count) for the chunks [first, first + count) that tile [0, n), every
// chunk kChunk long but the last; across threads when n is above kParallelElements. The
// chunks, and so the noise each one draws, are the same whatever the thread count.
template <typename ChunkBody>
void for_each_chunk(int64_t n, const ChunkBody& body) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for if (n > kParallelElements) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) body(c * kChunk, std::min(kChunk, n - c * kChunk));
}

}  // namespace slab::fused_pass
