// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
// a counter-based generator. The output is a pure function of (key, counter), so a draw is
// addressed rather than produced in sequence: the same code on host and device gives the
// same numbers, and a noise tensor can be regenerated instead of stored.
//
// slab's addressing: key = the 64-bit seed; counter = (64-bit block index, 64-bit stream id).
// Each block yields four 32-bit words. Element i of a draw starting at block b uses word
// i % 4 of block b + i / 4.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace slab::philox {

struct Block {
  uint32_t word[4];
};

SLAB_HOST_DEVICE void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

// The raw bijection: ten rounds of multiply-xor with the key bumped by Weyl constants.
SLAB_HOST_DEVICE Block philox4x32_10(Block counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, counter.word[0], hi0, lo0);
    mulhilo(kMul1, counter.word[2], hi1, lo1);
    counter = Block{{hi1 ^ counter.word[1] ^ key0, lo1, hi0 ^ counter.word[3] ^ key1, lo0}};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

// The block at (seed, stream, block index).
SLAB_HOST_DEVICE Block block(uint64_t seed, uint64_t stream, uint64_t index) {
  Block counter{{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), static_cast<uint32_t>(stream),
                 static_cast<uint32_t>(stream >> 32)}};
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// A word as a float in [0, 1): the top 24 bits, exactly representable.
SLAB_HOST_DEVICE float uniform_from_word(uint32_t word) { return static_cast<float>(word >> 8) * 0x1.0p-24f; }

// Box-Muller on a pair of words: u1 in (0, 1] keeps the log finite.
SLAB_HOST_DEVICE float normal_from_words(uint32_t w_radius, uint32_t w_angle, bool use_sine) {
  const float u1 = static_cast<float>((w_radius >> 8) + 1) * 0x1.0p-24f;
  const float u2 = uniform_from_word(w_angle);
  const float radius = sqrtf(-2.0f * logf(u1));
  const float angle = 6.283185307179586f * u2;
  return use_sine ? radius * sinf(angle) : radius * cosf(angle);
}

// Element i of a draw that starts at block `first_block` of (seed, stream).
SLAB_HOST_DEVICE float uniform_at(uint64_t seed, uint64_t stream, uint64_t first_block, uint64_t i) {
  const Block b = block(seed, stream, first_block + i / 4);
  return uniform_from_word(b.word[i % 4]);
}

// Words (0,1) of a block give normals 0 (cosine) and 1 (sine); words (2,3) give 2 and 3.
SLAB_HOST_DEVICE float normal_at(uint64_t seed, uint64_t stream, uint64_t first_block, uint64_t i) {
  const Block b = block(seed, stream, first_block + i / 4);
  const unsigned pair = static_cast<unsigned>(i % 4) & 2u;
  return normal_from_words(b.word[pair], b.word[pair + 1], (i & 1u) != 0);
}

}  // namespace slab::philox
