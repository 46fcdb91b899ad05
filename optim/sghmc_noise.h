// Regenerable Gaussian noise for the samplers (docs/algorithm.md#sampler-state-and-noise).
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
// Why not philox::normal_at itself: it calls logf/sinf/cosf, which cannot be vectorised,
// and the sampler regenerates two normals per weight per step (about 22 million for a
// ResNet-18). The functions below are polynomials without branches (a Box-Muller with a
// quarter-turn reduction of the angle, which needs no large-argument reduction because the
// angle comes straight from a uniform in [0, 1)); their error is a few float ulps. They are
// host-and-device functions, so a CUDA kernel produces the same draws, and every step is
// either one IEEE operation or an explicit fma (fmadd below), so the draws are the same
// bits on every FMA-capable target: CUDA, the scalar host code, and the hand-written
// AVX-512 path that fill_normals takes where the compiler targets AVX-512 (32 blocks'
// Philox rounds in registers, core/cpu/philox_avx512.h, then 16 Box-Muller pairs at once;
// about 0.75 ns per normal per core instead of 2.1 for the compiler-vectorised AVX2 loop it
// replaces). Without AVX-512 (an AVX2 build) the loop over blocks is scalar.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/philox.h"

// The hand-written AVX-512 path of fill_normals (host code built with AVX-512 and FMA, as
// -march=native is on this project's machines); elsewhere (an AVX2 build such as
// -march=x86-64-v3, or no SIMD) the portable loop, which GCC vectorises.
#if defined(__AVX512F__) && defined(__FMA__) && !defined(__CUDACC__)
#define SLAB_NOISE_AVX512 1
#include "core/cpu/philox_avx512.h"
#endif

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

// a * b + c. Where the target has a fused multiply-add (every CUDA device; x86 built with
// FMA, e.g. -march=x86-64-v3 or -march=native) it is the one correctly rounded fma, so the
// CUDA kernels, the scalar host code and the AVX-512 path below compute the same bits.
// Every multiply that feeds an add in the functions below is written with it: compilers
// contract a * b + c into an fma where they like (GCC in C++ and nvcc do by default), and
// an explicit fma leaves them nothing to choose. Without FMA it is two roundings.
SLAB_HOST_DEVICE float fmadd(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#elif defined(__FMA__)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

// Nearest integer (ties to even) for |x| < 2^22, by adding and subtracting 1.5 * 2^23:
// floorf would not vectorise (GCC keeps it scalar unless -fno-trapping-math).
SLAB_HOST_DEVICE float round_to_integer(float x) {
  return (x + 12582912.0f) - 12582912.0f;
}

// Constants shared by the scalar functions and their AVX-512 mirrors.
namespace constants {
constexpr float kLn2High = 0.693145752f, kLn2Low = 1.42860677e-6f;  // ln 2 = high + low
constexpr float kSqrtHalf2 = 1.41421356f;                            // sqrt(2)
// atanh series of log: 2 s (1 + s^2/3 + s^4/5 + ... + s^10/11)
constexpr float kLog3 = 0.33333333f, kLog5 = 0.2f, kLog7 = 0.14285715f, kLog9 = 0.11111111f, kLog11 = 0.09090909f;
constexpr float kHalfPi = 1.57079633f;
// Taylor coefficients of sin (theta^3 .. theta^11) and cos (theta^2 .. theta^10)
constexpr float kSin3 = -0.16666667f, kSin5 = 0.0083333333f, kSin7 = -1.9841270e-4f, kSin9 = 2.7557319e-6f,
                kSin11 = -2.5052108e-8f;
constexpr float kCos2 = -0.5f, kCos4 = 0.041666668f, kCos6 = -0.0013888889f, kCos8 = 2.4801587e-5f,
                kCos10 = -2.7557319e-7f;
}  // namespace constants

// Natural log for x in [2^-126, inf): x = m 2^e with m in [sqrt(1/2), sqrt(2)), then
// log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, odd series to s^11
// (truncation below 3e-11 relative).
SLAB_HOST_DEVICE float fast_log(float x) {
  using namespace constants;
  const uint32_t bits = float_bits(x);
  int32_t exponent = static_cast<int32_t>(bits >> 23) - 127;
  float mantissa = bits_float((bits & 0x007FFFFFu) | 0x3F800000u);  // in [1, 2)
  const bool high = mantissa > kSqrtHalf2;
  mantissa = high ? 0.5f * mantissa : mantissa;
  exponent += high ? 1 : 0;
  const float s = (mantissa - 1.0f) / (mantissa + 1.0f);
  const float s2 = s * s;
  float p = fmadd(s2, kLog11, kLog9);
  p = fmadd(s2, p, kLog7);
  p = fmadd(s2, p, kLog5);
  p = fmadd(s2, p, kLog3);
  const float series = s2 * p;
  const float two_s = 2.0f * s;
  const float log_mantissa = fmadd(two_s, series, two_s);
  const float e = static_cast<float>(exponent);
  return fmadd(e, kLn2High, fmadd(e, kLn2Low, log_mantissa));
}

// e^x for x in [-87, 88] (clamped): x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor for e^r
// (truncation below 2e-9 relative), 2^n placed in the exponent bits.
SLAB_HOST_DEVICE float fast_exp(float x) {
  using namespace constants;
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  // Nearest integer to x log2(e), the product rounded once (round_to_integer's add fused).
  const float n = fmadd(x, 1.44269504f, 12582912.0f) - 12582912.0f;
  const float r = fmadd(-n, kLn2Low, fmadd(-n, kLn2High, x));
  float p = fmadd(r, 0.00019841270f, 0.0013888889f);
  p = fmadd(r, p, 0.008333334f);
  p = fmadd(r, p, 0.041666668f);
  p = fmadd(r, p, 0.16666667f);
  p = fmadd(r, p, 0.5f);
  p = fmadd(r, p, 1.0f);
  p = fmadd(r, p, 1.0f);
  const int32_t biased = static_cast<int32_t>(n) + 127;
  return p * bits_float(static_cast<uint32_t>(biased) << 23);
}

// sqrt(x), correctly rounded: one IEEE operation, so vsqrtps (the AVX-512 path), sqrtss
// and CUDA's __fsqrt_rn give the same bits. (A Newton iteration from a bit-level seed needs
// three steps and twelve operations for float accuracy; vsqrtps costs less.) On the host
// __builtin_sqrtf is the sqrtss instruction; libm's sqrtf, which sets errno, is reached
// only for x < 0, which Box-Muller never passes.
SLAB_HOST_DEVICE float sqrt_rn(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return __builtin_sqrtf(x);
#endif
}

// 1 / (1 + e^-x), the map from rho to tau.
SLAB_HOST_DEVICE float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// sin and cos of the angle 2 pi u for u in [0, 1): 4u = q + f with q an integer and
// |f| <= 1/2, theta = f pi/2 in [-pi/4, pi/4], Taylor series to theta^11 / theta^10
// (truncation below 2e-10), then a rotation by q quarter turns. 4u and f are exact in float
// (so a compiler fusing 4u + 1.5 * 2^23 changes nothing).
SLAB_HOST_DEVICE void sincos_turns(float u, float& sine, float& cosine) {
  using namespace constants;
  const float x = 4.0f * u;
  const float q = round_to_integer(x);
  const float theta = (x - q) * kHalfPi;
  const float t2 = theta * theta;
  float ps = fmadd(t2, kSin11, kSin9);
  ps = fmadd(t2, ps, kSin7);
  ps = fmadd(t2, ps, kSin5);
  ps = fmadd(t2, ps, kSin3);
  ps = fmadd(t2, ps, 1.0f);
  const float s = theta * ps;
  float c = fmadd(t2, kCos10, kCos8);
  c = fmadd(t2, c, kCos6);
  c = fmadd(t2, c, kCos4);
  c = fmadd(t2, c, kCos2);
  c = fmadd(t2, c, 1.0f);
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
  const float radius = sqrt_rn(-2.0f * fast_log(u1));
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

#if SLAB_NOISE_AVX512
// The AVX-512 mirror of normal_pair and its helpers: sixteen pairs at once, the same
// operations in the same order (every fmadd an fma, every other step one IEEE operation),
// so the normals are bit for bit those of the scalar functions (tests/test_philox.cpp
// checks it). Any change to the scalar functions above must be made here too.
namespace avx512 {

inline __m512 splat(float value) { return _mm512_set1_ps(value); }
inline __m512i splat_bits(uint32_t value) { return _mm512_set1_epi32(static_cast<int32_t>(value)); }
// -x, the sign bit flipped (as the scalar unary minus: -0 for +0, unlike 0 - x)
inline __m512 negate(__m512 x) {
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), splat_bits(0x80000000u)));
}

inline __m512 fast_log(__m512 x) {
  using namespace constants;
  const __m512i bits = _mm512_castps_si512(x);
  __m512i exponent = _mm512_sub_epi32(_mm512_srli_epi32(bits, 23), splat_bits(127));
  // (bits & 0x007FFFFF) | 0x3F800000 in one vpternlogd (0xEA: (a & b) | c)
  __m512 mantissa =
      _mm512_castsi512_ps(_mm512_ternarylogic_epi32(bits, splat_bits(0x007FFFFFu), splat_bits(0x3F800000u), 0xEA));
  const __mmask16 high = _mm512_cmp_ps_mask(mantissa, splat(kSqrtHalf2), _CMP_GT_OQ);
  mantissa = _mm512_mask_mul_ps(mantissa, high, mantissa, splat(0.5f));
  exponent = _mm512_mask_add_epi32(exponent, high, exponent, splat_bits(1));
  const __m512 s = _mm512_div_ps(_mm512_sub_ps(mantissa, splat(1.0f)), _mm512_add_ps(mantissa, splat(1.0f)));
  const __m512 s2 = _mm512_mul_ps(s, s);
  __m512 p = _mm512_fmadd_ps(s2, splat(kLog11), splat(kLog9));
  p = _mm512_fmadd_ps(s2, p, splat(kLog7));
  p = _mm512_fmadd_ps(s2, p, splat(kLog5));
  p = _mm512_fmadd_ps(s2, p, splat(kLog3));
  const __m512 series = _mm512_mul_ps(s2, p);
  const __m512 two_s = _mm512_mul_ps(splat(2.0f), s);
  const __m512 log_mantissa = _mm512_fmadd_ps(two_s, series, two_s);
  const __m512 e = _mm512_cvtepi32_ps(exponent);
  return _mm512_fmadd_ps(e, splat(kLn2High), _mm512_fmadd_ps(e, splat(kLn2Low), log_mantissa));
}

inline __m512 fast_exp(__m512 x) {
  using namespace constants;
  // The clamp of the scalar form (for a NaN, max returns -87 where the scalar keeps NaN).
  x = _mm512_min_ps(_mm512_max_ps(x, splat(-87.0f)), splat(88.0f));
  const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, splat(1.44269504f), splat(12582912.0f)), splat(12582912.0f));
  const __m512 minus_n = negate(n);
  const __m512 r = _mm512_fmadd_ps(minus_n, splat(kLn2Low), _mm512_fmadd_ps(minus_n, splat(kLn2High), x));
  __m512 p = _mm512_fmadd_ps(r, splat(0.00019841270f), splat(0.0013888889f));
  p = _mm512_fmadd_ps(r, p, splat(0.008333334f));
  p = _mm512_fmadd_ps(r, p, splat(0.041666668f));
  p = _mm512_fmadd_ps(r, p, splat(0.16666667f));
  p = _mm512_fmadd_ps(r, p, splat(0.5f));
  p = _mm512_fmadd_ps(r, p, splat(1.0f));
  p = _mm512_fmadd_ps(r, p, splat(1.0f));
  const __m512i biased = _mm512_add_epi32(_mm512_cvttps_epi32(n), splat_bits(127));  // n is an integer
  return _mm512_mul_ps(p, _mm512_castsi512_ps(_mm512_slli_epi32(biased, 23)));
}

inline __m512 fast_sigmoid(__m512 x) {
  return _mm512_div_ps(splat(1.0f), _mm512_add_ps(splat(1.0f), fast_exp(negate(x))));
}

inline void sincos_turns(__m512 u, __m512& sine, __m512& cosine) {
  using namespace constants;
  const __m512 x = _mm512_mul_ps(splat(4.0f), u);
  const __m512 q = _mm512_sub_ps(_mm512_add_ps(x, splat(12582912.0f)), splat(12582912.0f));
  const __m512 theta = _mm512_mul_ps(_mm512_sub_ps(x, q), splat(kHalfPi));
  const __m512 t2 = _mm512_mul_ps(theta, theta);
  __m512 ps = _mm512_fmadd_ps(t2, splat(kSin11), splat(kSin9));
  ps = _mm512_fmadd_ps(t2, ps, splat(kSin7));
  ps = _mm512_fmadd_ps(t2, ps, splat(kSin5));
  ps = _mm512_fmadd_ps(t2, ps, splat(kSin3));
  ps = _mm512_fmadd_ps(t2, ps, splat(1.0f));
  const __m512 s = _mm512_mul_ps(theta, ps);
  __m512 c = _mm512_fmadd_ps(t2, splat(kCos10), splat(kCos8));
  c = _mm512_fmadd_ps(t2, c, splat(kCos6));
  c = _mm512_fmadd_ps(t2, c, splat(kCos4));
  c = _mm512_fmadd_ps(t2, c, splat(kCos2));
  c = _mm512_fmadd_ps(t2, c, splat(1.0f));
  const __m512i quarter = _mm512_cvttps_epi32(q);  // q is an integer in [0, 4]: exact
  const __mmask16 odd = _mm512_test_epi32_mask(quarter, splat_bits(1));
  const __m512 sin_abs = _mm512_mask_blend_ps(odd, s, c);  // odd ? c : s
  const __m512 cos_abs = _mm512_mask_blend_ps(odd, c, s);
  // Bit 1 of the quarter (of quarter + 1), shifted into the sign bit, negates the sine
  // (the cosine): vpternlogd 0x78 is a ^ (b & c).
  const __m512i sign = splat_bits(0x80000000u);
  sine = _mm512_castsi512_ps(
      _mm512_ternarylogic_epi32(_mm512_castps_si512(sin_abs), _mm512_slli_epi32(quarter, 30), sign, 0x78));
  cosine = _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
      _mm512_castps_si512(cos_abs), _mm512_slli_epi32(_mm512_add_epi32(quarter, splat_bits(1)), 30), sign, 0x78));
}

inline void normal_pair(__m512i word_radius, __m512i word_angle, __m512& first, __m512& second) {
  const __m512 u1 =
      _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_srli_epi32(word_radius, 8), splat_bits(1))),
                    splat(0x1.0p-24f));
  const __m512 u2 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(word_angle, 8)), splat(0x1.0p-24f));
  const __m512 radius = _mm512_sqrt_ps(_mm512_mul_ps(splat(-2.0f), fast_log(u1)));
  __m512 sine, cosine;
  sincos_turns(u2, sine, cosine);
  first = _mm512_mul_ps(radius, cosine);
  second = _mm512_mul_ps(radius, sine);
}

// The 64-bit lane p of a group of eight Philox blocks holds block kLaneBlock[p] of the
// group: [0, 4, 1, 5, 2, 6, 3, 7]. After the words are paired (dwords 2p, 2p + 1 = the
// pairs (0,1) and (2,3) of lane p's block), unpacking the cosines and sines within each
// 128-bit lane then yields blocks 0-3 and 4-7 in memory order, with no other shuffle.
inline __m512i lane_blocks() { return _mm512_set_epi64(7, 3, 6, 2, 5, 1, 4, 0); }

// The normals of kSets groups of eight consecutive blocks, group s starting at block
// first_block[s], in registers: normals[s][0] holds the group's elements 0-15 and
// normals[s][1] its elements 16-31, in memory order (the lanes are laid out as lane_blocks
// says). The fused sampler step (optim/sghmc_kernel.h) consumes them where they are made;
// fill_blocks stores them.
template <int kSets>
inline void normals_of_groups(uint64_t seed, uint64_t stream, const uint64_t (&first_block)[kSets],
                              __m512 (&normals)[kSets][2]) {
  const __m512i lanes = lane_blocks();
  __m512i index[kSets];
  for (int s = 0; s < kSets; ++s)
    index[s] = _mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(first_block[s])), lanes);
  philox::avx512::Blocks8 groups[kSets];
  philox::avx512::philox8<kSets>(index, seed, stream, groups);
  for (int s = 0; s < kSets; ++s) {
    const __m512i radius = philox::avx512::interleave_words(groups[s].word[0], groups[s].word[2]);
    const __m512i angle = philox::avx512::interleave_words(groups[s].word[1], groups[s].word[3]);
    __m512 cosines, sines;
    normal_pair(radius, angle, cosines, sines);
    normals[s][0] = _mm512_unpacklo_ps(cosines, sines);
    normals[s][1] = _mm512_unpackhi_ps(cosines, sines);
  }
}

// The normals of blocks [first_block, first_block + blocks) to out, in groups of eight
// blocks; returns how many blocks it wrote (a multiple of 8; the caller does the rest).
inline int64_t fill_blocks(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t blocks, float* out) {
  constexpr int kSets = 4;  // groups in flight (see philox8)
  int64_t k = 0;
  for (; k + 8 * kSets <= blocks; k += 8 * kSets) {
    uint64_t firsts[kSets];
    for (int s = 0; s < kSets; ++s) firsts[s] = first_block + static_cast<uint64_t>(k + 8 * s);
    __m512 normals[kSets][2];
    normals_of_groups<kSets>(seed, stream, firsts, normals);
    for (int s = 0; s < kSets; ++s) {
      _mm512_storeu_ps(out + 4 * (k + 8 * s), normals[s][0]);
      _mm512_storeu_ps(out + 4 * (k + 8 * s) + 16, normals[s][1]);
    }
  }
  for (; k + 8 <= blocks; k += 8) {
    const uint64_t firsts[1] = {first_block + static_cast<uint64_t>(k)};
    __m512 normals[1][2];
    normals_of_groups<1>(seed, stream, firsts, normals);
    _mm512_storeu_ps(out + 4 * k, normals[0][0]);
    _mm512_storeu_ps(out + 4 * k + 16, normals[0][1]);
  }
  return k;
}

}  // namespace avx512
#endif

// out[0 .. count) = elements [first, first + count) of draw `draw`; `first` must be a
// multiple of 4. Writes whole blocks: out must hold count rounded up to a multiple of 4.
inline void fill_normals(uint64_t seed, uint64_t stream, uint64_t draw, uint64_t numel, uint64_t first, int64_t count,
                         float* out) {
  const uint64_t first_block = draw * blocks_per_draw(numel) + first / 4;
  const int64_t blocks = (count + 3) / 4;
  int64_t k = 0;
#if SLAB_NOISE_AVX512
  k = avx512::fill_blocks(seed, stream, first_block, blocks, out);
#endif
  // No `omp simd` here: with it GCC 12 keeps the Philox block in memory and gives up.
  for (; k < blocks; ++k) {
    const philox::Block b = philox::block(seed, stream, first_block + static_cast<uint64_t>(k));
    normals_of_block(b, out + 4 * k);
  }
}

}  // namespace slab::noise
