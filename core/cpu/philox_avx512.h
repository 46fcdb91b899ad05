// Philox4x32-10 (core/philox.h) on eight blocks at once with AVX-512: the same bijection,
// the same (seed, stream, block index) addressing, the same words bit for bit.
// Included only where __AVX512F__ is defined (optim/sghmc_noise.h's fill_normals).
//
// Layout: one block per 64-bit lane, word k of the eight blocks in register k. A round
// needs the full 32 x 32 -> 64-bit products of words 0 and 2 with the Philox multipliers:
// _mm512_mul_epu32 forms exactly that from the low halves of the 64-bit lanes, so the
// product lands whole in the lane, its low half is the next round's word 1 (or 3) and a
// dword swap brings its high half down to be xored into word 0 (or 2). Only the low 32
// bits of a lane carry a word; the high halves hold leftovers that no later step reads
// (the multiply ignores them, and the xor keeps lanes' halves apart). Per round and eight
// blocks: two multiplies, two swaps, two three-way xors (one vpternlogd each).
#pragma once
#include <cstdint>

// GCC 12's AVX-512 shuffles start from _mm512_undefined_*(), which it then reports as
// used uninitialised once inlined (GCC bug 105593): silenced for that header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace slab::philox::avx512 {

// Word k of eight blocks in word[k], one block per 64-bit lane (low 32 bits).
struct Blocks8 {
  __m512i word[4];
};

// Runs Philox4x32-10 on `kSets` independent groups of eight blocks: the groups share the
// key schedule and interleave round by round, which hides the multiply latency (a round's
// dependency chain is multiply, swap, xor: about 7 cycles, against 3 cycles of issue for
// one group). index[s] holds the 64-bit block indices of group s, one per lane.
template <int kSets>
inline void philox8(const __m512i (&index)[kSets], uint64_t seed, uint64_t stream, Blocks8 (&out)[kSets]) {
  const __m512i mul0 = _mm512_set1_epi64(0xD2511F53u), mul1 = _mm512_set1_epi64(0xCD9E8D57u);
  // Counter words: (index low, index high, stream low, stream high); the multiply reads
  // only the low half of a lane, so word 0 can stay the full 64-bit index.
  const __m512i stream_low = _mm512_set1_epi64(static_cast<int64_t>(stream & 0xFFFFFFFFu));
  const __m512i stream_high = _mm512_set1_epi64(static_cast<int64_t>(stream >> 32));
  __m512i c0[kSets], c1[kSets], c2[kSets], c3[kSets];
  for (int s = 0; s < kSets; ++s) {
    c0[s] = index[s];
    c1[s] = _mm512_srli_epi64(index[s], 32);
    c2[s] = stream_low;
    c3[s] = stream_high;
  }
  uint32_t key0 = static_cast<uint32_t>(seed), key1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m512i k0 = _mm512_set1_epi32(static_cast<int32_t>(key0));
    const __m512i k1 = _mm512_set1_epi32(static_cast<int32_t>(key1));
    for (int s = 0; s < kSets; ++s) {
      const __m512i product0 = _mm512_mul_epu32(c0[s], mul0);  // hi0:lo0 in each lane
      const __m512i product1 = _mm512_mul_epu32(c2[s], mul1);  // hi1:lo1
      // Swapping the dwords of each lane puts hi in the low half; 0x96 is a ^ b ^ c.
      c0[s] = _mm512_ternarylogic_epi32(_mm512_shuffle_epi32(product1, _MM_PERM_CDAB), c1[s], k0, 0x96);
      c2[s] = _mm512_ternarylogic_epi32(_mm512_shuffle_epi32(product0, _MM_PERM_CDAB), c3[s], k1, 0x96);
      c1[s] = product1;  // lo1
      c3[s] = product0;  // lo0
    }
    key0 += 0x9E3779B9u;
    key1 += 0xBB67AE85u;
  }
  for (int s = 0; s < kSets; ++s) out[s] = Blocks8{{c0[s], c1[s], c2[s], c3[s]}};
}

// Dwords 2p and 2p + 1 of the result are words `even` and `odd` of lane p's block: the
// two radius words (0, 2) or the two angle words (1, 3) of the Box-Muller pairs, packed
// into sixteen 32-bit lanes by one masked dword shuffle.
inline __m512i interleave_words(const __m512i& even, const __m512i& odd) {
  return _mm512_mask_shuffle_epi32(even, 0xAAAA, odd, _MM_PERM_CCAA);
}

}  // namespace slab::philox::avx512
