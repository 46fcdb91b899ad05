// Regenerable Gaussian noise for the samplers (ALGORITHM.md 2, "Memory").
//
// The preconditioned SGHMC step needs the noise xi of step t-1 once more at step t (it
// pairs the gradient at w with the xi that produced w). Instead of storing xi (4 bytes per
// weight), slab addresses every draw: Philox4x32-10 (core/philox.h) with
//   key     = the run seed,
//   stream  = a per-optimizer domain tag (high 32 bits) + the parameter's index in the list,
//   counter = draw index * blocks(numel) + element / 4,
// so draw d of a tensor is a pure function of (seed, tensor, d) and is recomputed on demand.
// Element i uses the Box-Muller pair of words (0,1) or (2,3) of its block, the cosine for an
// even i and the sine for an odd i: the same word-to-element map as philox::normal_at.
//
// Why not philox::normal_at itself: it calls logf/sinf/cosf, which the compiler cannot
// vectorise, and the sampler regenerates two normals per weight per step (about 22 million
// for a ResNet-18). The functions below are branch-free polynomials (a Box-Muller with a
// quarter-turn reduction of the angle, which needs no large-argument reduction because the
// angle comes straight from a uniform in [0, 1)), so a loop over blocks vectorises. Their
// error is a few float ulps; they are host-and-device functions so a CUDA kernel produces
// the same draws.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/philox.h"

namespace slab::noise {

// Stream domains, so that two optimizers (or an optimizer and the data loader) sharing a
// run seed never read the same Philox blocks.
constexpr uint64_t kSghmcDomain = 0x5347484Dull << 32;       // "SGHM": xi of sghmc / sghmc-spl
constexpr uint64_t kSghmcInitDomain = 0x53474D49ull << 32;   // "SGMI": initial momentum
constexpr uint64_t kCsghmcDomain = 0x43534748ull << 32;      // "CSGH": cSGHMC injected noise
constexpr uint64_t kVbDomain = 0x56424144ull << 32;          // "VBAD": naive adaptive VB samples
constexpr uint64_t kIvonDomain = 0x49564F4Eull << 32;        // "IVON": IVON samples

// Blocks one draw of a tensor occupies (4 normals per block).
SLAB_HOST_DEVICE uint64_t blocks_per_draw(uint64_t numel) { return (numel + 3) / 4; }

// Bit casts (a memcpy here stops GCC's vectoriser; __builtin_bit_cast does not).
SLAB_HOST_DEVICE uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  return __builtin_bit_cast(uint32_t, x);
#endif
}
SLAB_HOST_DEVICE float bits_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  return __builtin_bit_cast(float, bits);
#endif
}

// Nearest integer (ties to even) for |x| < 2^22, by adding and subtracting 1.5 * 2^23:
// floorf would not vectorise (GCC keeps it scalar unless -fno-trapping-math).
SLAB_HOST_DEVICE float round_to_integer(float x) {
  return (x + 12582912.0f) - 12582912.0f;
}

// Natural log for x in [2^-126, inf): x = m 2^e with m in [sqrt(1/2), sqrt(2)), then
// log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, odd series to s^11
// (truncation below 3e-11 relative).
SLAB_HOST_DEVICE float fast_log(float x) {
  const uint32_t bits = float_bits(x);
  int32_t exponent = static_cast<int32_t>(bits >> 23) - 127;
  float mantissa = bits_float((bits & 0x007FFFFFu) | 0x3F800000u);  // in [1, 2)
  const bool high = mantissa > 1.41421356f;
  mantissa = high ? 0.5f * mantissa : mantissa;
  exponent += high ? 1 : 0;
  const float s = (mantissa - 1.0f) / (mantissa + 1.0f);
  const float s2 = s * s;
  const float series =
      s2 * (0.33333333f + s2 * (0.2f + s2 * (0.14285715f + s2 * (0.11111111f + s2 * 0.09090909f))));
  const float log_mantissa = 2.0f * s + 2.0f * s * series;
  const float e = static_cast<float>(exponent);
  return e * 0.693145752f + (e * 1.42860677e-6f + log_mantissa);  // ln 2 split hi + lo
}

// e^x for x in [-87, 88] (clamped): x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor for e^r
// (truncation below 2e-9 relative), 2^n placed in the exponent bits.
SLAB_HOST_DEVICE float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = round_to_integer(x * 1.44269504f);
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  const float p =
      1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f +
                                                                                 r * (0.0013888889f + r * 0.00019841270f))))));
  const int32_t biased = static_cast<int32_t>(n) + 127;
  return p * bits_float(static_cast<uint32_t>(biased) << 23);
}

// sqrt(x) for x >= 0 without libm (sqrtf is a call that may set errno, which stops the
// vectoriser): the classic bit-level seed for 1/sqrt(x) (3.4% error), three Newton steps
// (error squares each time: 1.7e-3, 4.6e-6, below float rounding), then x / sqrt(x).
SLAB_HOST_DEVICE float fast_sqrt(float x) {
  float y = bits_float(0x5F3759DFu - (float_bits(x) >> 1));
  const float half = 0.5f * x;
  y = y * (1.5f - half * y * y);
  y = y * (1.5f - half * y * y);
  y = y * (1.5f - half * y * y);
  return x * y;
}

// 1 / (1 + e^-x), the map from rho to tau.
SLAB_HOST_DEVICE float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// sin and cos of the angle 2 pi u for u in [0, 1): 4u = q + f with q an integer and
// |f| <= 1/2, theta = f pi/2 in [-pi/4, pi/4], Taylor series to theta^11 / theta^10
// (truncation below 2e-10), then a rotation by q quarter turns. 4u and f are exact in float.
SLAB_HOST_DEVICE void sincos_turns(float u, float& sine, float& cosine) {
  const float x = 4.0f * u;
  const float q = round_to_integer(x);
  const float theta = (x - q) * 1.57079633f;
  const float t2 = theta * theta;
  const float s = theta * (1.0f + t2 * (-0.16666667f + t2 * (0.0083333333f + t2 * (-1.9841270e-4f +
                                                                                    t2 * (2.7557319e-6f - t2 * 2.5052108e-8f)))));
  const float c = 1.0f + t2 * (-0.5f + t2 * (0.041666668f + t2 * (-0.0013888889f + t2 * (2.4801587e-5f -
                                                                                       t2 * 2.7557319e-7f))));
  const int32_t quarter = static_cast<int32_t>(q) & 3;
  // angle = quarter * pi/2 + theta
  const float sin_abs = (quarter & 1) ? c : s;
  const float cos_abs = (quarter & 1) ? s : c;
  sine = (quarter & 2) ? -sin_abs : sin_abs;
  cosine = ((quarter + 1) & 2) ? -cos_abs : cos_abs;
}

// Box-Muller on a pair of words, the same uniforms as philox::normal_from_words:
// u1 in (0, 1] from the radius word, u2 in [0, 1) from the angle word.
SLAB_HOST_DEVICE void normal_pair(uint32_t word_radius, uint32_t word_angle, float& first, float& second) {
  const float u1 = static_cast<float>((word_radius >> 8) + 1) * 0x1.0p-24f;
  const float u2 = static_cast<float>(word_angle >> 8) * 0x1.0p-24f;
  const float radius = fast_sqrt(-2.0f * fast_log(u1));
  float sine, cosine;
  sincos_turns(u2, sine, cosine);
  first = radius * cosine;
  second = radius * sine;
}

// The four normals of one block.
SLAB_HOST_DEVICE void normals_of_block(const philox::Block& b, float out[4]) {
  normal_pair(b.word[0], b.word[1], out[0], out[1]);
  normal_pair(b.word[2], b.word[3], out[2], out[3]);
}

// Element i of draw `draw` of a tensor of `numel` elements on `stream`: the per-element form
// (a CUDA thread, a test oracle). Costs a whole block; loops use fill_normals.
SLAB_HOST_DEVICE float normal_at(uint64_t seed, uint64_t stream, uint64_t draw, uint64_t numel, uint64_t i) {
  const philox::Block b = philox::block(seed, stream, draw * blocks_per_draw(numel) + i / 4);
  float values[4];
  normals_of_block(b, values);
  return values[i % 4];
}

// out[0 .. count) = elements [first, first + count) of draw `draw`; `first` must be a
// multiple of 4. Writes whole blocks: out must hold count rounded up to a multiple of 4.
inline void fill_normals(uint64_t seed, uint64_t stream, uint64_t draw, uint64_t numel, uint64_t first, int64_t count,
                         float* out) {
  const uint64_t first_block = draw * blocks_per_draw(numel) + first / 4;
  const int64_t blocks = (count + 3) / 4;
  // No `omp simd` here: with it GCC 12 keeps the Philox block in memory and gives up.
  for (int64_t k = 0; k < blocks; ++k) {
    const philox::Block b = philox::block(seed, stream, first_block + static_cast<uint64_t>(k));
    normals_of_block(b, out + 4 * k);
  }
}

}  // namespace slab::noise
