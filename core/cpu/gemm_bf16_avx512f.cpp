// The AVX-512F kernel of bf16 matrix products, for CPUs without bf16 instructions: a bf16 is
// the top half of a float32, so widening is a shift (even elements of a pair) or a mask (odd
// ones), and the product of two bf16 is exact in float32, so an FMA adds it with one
// rounding, as VDPBF16PS does. Adding the odd product first, then the even one, reproduces
// VDPBF16PS bit for bit on normal numbers (it flushes subnormals; FMAs keep them).
#include "core/cpu/gemm_bf16_avx512_loop.h"

namespace slab::cpu::bf16_kernels {

namespace {
struct EmulatedPairs {
  static __m512 step(__m512 acc, uint32_t pair_a, __m512i pairs_b) {
    const __m512 b_even = _mm512_castsi512_ps(_mm512_slli_epi32(pairs_b, 16));
    const __m512 b_odd = _mm512_castsi512_ps(_mm512_and_si512(pairs_b, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u))));
    const __m512 a_even = _mm512_set1_ps(bf16_to_float(static_cast<bf16_bits>(pair_a & 0xFFFFu)));
    const __m512 a_odd = _mm512_set1_ps(bf16_to_float(static_cast<bf16_bits>(pair_a >> 16)));
    acc = _mm512_fmadd_ps(a_odd, b_odd, acc);
    return _mm512_fmadd_ps(a_even, b_even, acc);
  }
};
}  // namespace

void avx512f_block(const Block& block) { avx512_block<EmulatedPairs>(block); }

}  // namespace slab::cpu::bf16_kernels
