// The inner kernels of core/cpu/gemm_bf16.cpp, one per bf16 path (core/cpu/matrix_units.h),
// each in its own file compiled with the instruction set it needs. A call computes one
// block of up to 2 x 2 tiles (32 x 32 outputs) over the whole packed k.
#pragma once
#include <cstdint>

#include "core/cpu/bf16.h"

namespace slab::cpu::bf16_kernels {

struct Block {
  const bf16_bits* a;      // the first A row block's tiles; the second follows at a + a_step
  const bf16_bits* b;      // the first B column block's tiles; the second at b + b_step
  int64_t a_step, b_step;  // elements between consecutive row blocks of the packed A / B
  int64_t k_tiles;
  float* c;                // C at the block's first row and column
  int64_t ldc;
  int rows, cols;          // valid outputs, 1..32 each
  bool accumulate;
};

// AMX: the calling thread configures its tiles once (tiles_begin) before its first block
// and releases them after its last (tiles_end).
void amx_tiles_begin();
void amx_tiles_end();
void amx_block(const Block& block);
void avx512_bf16_block(const Block& block);
void avx512f_block(const Block& block);

}  // namespace slab::cpu::bf16_kernels
