// The AVX512-BF16 kernel of bf16 matrix products: VDPBF16PS adds, in each float32 lane, the
// two products of a bf16 pair (first the odd element's, then the even one's, each sum
// rounded to float32). Compiled with -mavx512bf16 (CMakeLists.txt); only called when
// matrix_units.h found the instruction.
#include "core/cpu/gemm_bf16_avx512_loop.h"

namespace slab::cpu::bf16_kernels {

namespace {
struct DotPairs {
  static __m512 step(__m512 acc, uint32_t pair_a, __m512i pairs_b) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair_a))),
                            reinterpret_cast<__m512bh>(pairs_b));
  }
};
}  // namespace

void avx512_bf16_block(const Block& block) { avx512_block<DotPairs>(block); }

}  // namespace slab::cpu::bf16_kernels
