// The per-weight maths of the preconditioned SGHMC step
// (docs/algorithm.md#adaptive-variational-update), as one inline function for host and device
// code: the CPU loop in optim/sghmc.cpp runs it over a chunk
// (sghmc_update_span: its AVX-512 mirror sixteen weights at a time, or the scalar form
// vectorised by the compiler), and a CUDA kernel calls it per thread.
#pragma once
#include <cmath>
#include <cstdint>
#include <initializer_list>

#include "optim/sghmc_noise.h"

namespace slab {

// The step's scalars, formed once per tensor per step in double and rounded to float.
struct SghmcCoefficients {
  float decay_scale = 0;           // eta T^2 C^3        (multiplies lambda tau_old)
  float gradient_noise_scale = 0;  // eta T C^1.5        (multiplies xi_prev g)
  float entropy_scale = 0;         // eta / N            (divided by tau_old)
  float beta1 = 0;                 // momentum retention
  float gradient_scale = 0;        // C^2 beta2          (multiplies g + lambda w)
  float noise_scale = 0;           // sqrt(2 + 2 beta1^2) C^1.5 T (multiplies xi)

  // c2 = C^2, the scheduled learning rate.
  static SghmcCoefficients make(double c2, double temperature, double data_size, double eta, double beta1,
                                double beta2) {
    const double c = std::sqrt(c2), c15 = c2 / std::sqrt(c) /* C^1.5 */, c3 = c2 * c;
    SghmcCoefficients k;
    k.decay_scale = static_cast<float>(eta * temperature * temperature * c3);
    k.gradient_noise_scale = static_cast<float>(eta * temperature * c15);
    k.entropy_scale = static_cast<float>(eta / data_size);
    k.beta1 = static_cast<float>(beta1);
    k.gradient_scale = static_cast<float>(c2 * beta2);
    k.noise_scale = static_cast<float>(std::sqrt(2.0 + 2.0 * beta1 * beta1) * c15 * temperature);
    return k;
  }
};

// One weight, in the order of docs/algorithm.md#adaptive-variational-update:
//   tau_old = sigmoid(rho)
//   rho    -= eta (T^2 C^3 lambda tau_old + T C^1.5 xi_prev g - 1/(tau_old N))
//   tau     = sigmoid(rho)
//   m       = beta1 m - C^2 beta2 (g + lambda w) + sqrt(2 + 2 beta1^2) C^1.5 T xi
//   w       = (w + tau m) keep
// keep is 1 or 0; slab also multiplies m by keep so a pruned weight's momentum is zero
// (the reference lets it drift; it cannot reach the weight either way). Every multiply
// that feeds an add is an explicit noise::fmadd (see there), so the CPU's AVX-512 loop
// below, the scalar form and the CUDA kernel compute the same bits.
SLAB_HOST_DEVICE void sghmc_update(float& weight, float& momentum, float& rho, float gradient, float xi_prev,
                                   float xi, float weight_decay, float keep, const SghmcCoefficients& k) {
  using noise::fmadd;
  const float inverse_tau_old = 1.0f + noise::fast_exp(-rho);  // 1/sigmoid(rho), no division
  const float tau_old = 1.0f / inverse_tau_old;
  const float decay_term = (k.decay_scale * weight_decay) * tau_old;
  const float drift = fmadd(-k.entropy_scale, inverse_tau_old, fmadd(k.gradient_noise_scale * xi_prev, gradient, decay_term));
  rho -= drift;
  const float tau = noise::fast_sigmoid(rho);
  const float pull = fmadd(weight_decay, weight, gradient);  // g + lambda w
  momentum = fmadd(k.noise_scale, xi, fmadd(-k.gradient_scale, pull, k.beta1 * momentum)) * keep;
  weight = fmadd(tau, momentum, weight) * keep;
}

#if SLAB_NOISE_AVX512
// The AVX-512 mirror of sghmc_update on sixteen weights (the same operations in the same
// order; any change to one must be made to the other).
inline void sghmc_update16(__m512& weight, __m512& momentum, __m512& rho, __m512 gradient, __m512 xi_prev, __m512 xi,
                           __m512 weight_decay, __m512 keep, const SghmcCoefficients& k) {
  using namespace noise::avx512;
  const __m512 inverse_tau_old = _mm512_add_ps(splat(1.0f), fast_exp(negate(rho)));
  const __m512 tau_old = _mm512_div_ps(splat(1.0f), inverse_tau_old);
  const __m512 decay_term = _mm512_mul_ps(_mm512_mul_ps(splat(k.decay_scale), weight_decay), tau_old);
  const __m512 drift =
      _mm512_fmadd_ps(splat(-k.entropy_scale), inverse_tau_old,
                      _mm512_fmadd_ps(_mm512_mul_ps(splat(k.gradient_noise_scale), xi_prev), gradient, decay_term));
  rho = _mm512_sub_ps(rho, drift);
  const __m512 tau = fast_sigmoid(rho);
  const __m512 pull = _mm512_fmadd_ps(weight_decay, weight, gradient);
  momentum = _mm512_mul_ps(
      _mm512_fmadd_ps(splat(k.noise_scale), xi,
                      _mm512_fmadd_ps(splat(-k.gradient_scale), pull, _mm512_mul_ps(splat(k.beta1), momentum))),
      keep);
  weight = _mm512_mul_ps(_mm512_fmadd_ps(tau, momentum, weight), keep);
}
#endif

#if !defined(__CUDACC__)
// sghmc_update over count consecutive weights (the CPU loop's chunk).
inline void sghmc_update_span(float* weight, float* momentum, float* rho, const float* gradient, const float* xi_prev,
                              const float* xi, const float* weight_decay, const float* keep, int64_t count,
                              const SghmcCoefficients& k) {
#if SLAB_NOISE_AVX512
  for (int64_t e = 0; e < count; e += 16) {
    // A masked tail: lanes past count are neither read nor written.
    const __mmask16 lanes = count - e >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (count - e)) - 1u);
    __m512 w = _mm512_maskz_loadu_ps(lanes, weight + e), m = _mm512_maskz_loadu_ps(lanes, momentum + e);
    __m512 r = _mm512_maskz_loadu_ps(lanes, rho + e);
    sghmc_update16(w, m, r, _mm512_maskz_loadu_ps(lanes, gradient + e), _mm512_maskz_loadu_ps(lanes, xi_prev + e),
                   _mm512_maskz_loadu_ps(lanes, xi + e), _mm512_maskz_loadu_ps(lanes, weight_decay + e),
                   _mm512_maskz_loadu_ps(lanes, keep + e), k);
    _mm512_mask_storeu_ps(weight + e, lanes, w);
    _mm512_mask_storeu_ps(momentum + e, lanes, m);
    _mm512_mask_storeu_ps(rho + e, lanes, r);
  }
#else
#pragma omp simd simdlen(16)
  for (int64_t e = 0; e < count; ++e)
    sghmc_update(weight[e], momentum[e], rho[e], gradient[e], xi_prev[e], xi[e], weight_decay[e], keep[e], k);
#endif
}
#endif

#if SLAB_NOISE_AVX512
// The CPU step on count consecutive weights (one chunk) with both noise draws made in
// registers and consumed at once: per 64 weights, one philox8 over four groups of eight
// blocks (the draws xi_prev and xi of those weights), the Box-Muller pairs, then four
// sghmc_update16 with the decay and keep from `prior` (a PriorLanes, optim/prior_lanes.h).
// The draws are noise::fill_normals' exactly (the same normals_of_groups), so the result
// is sghmc_update_span's on fill_normals' buffers, bit for bit, without the buffers: the
// step's memory streams then advance evenly with the arithmetic. prev_block and next_block
// are the Philox blocks of weight 0 in the two draws (draw * blocks_per_draw + first / 4,
// first a multiple of 64 so that the groups stay aligned to the chunk). Blocks past the
// tensor's end in the last group are computed and dropped.
constexpr int64_t kPrefetchAhead = 512;  // weights; 256-768 measured alike, none about 7% slower (1 thread)

template <class Prior>
inline void sghmc_step_span(float* weight, float* momentum, float* rho, const float* gradient, int64_t count,
                            uint64_t seed, uint64_t stream, uint64_t prev_block, uint64_t next_block, Prior& prior,
                            const SghmcCoefficients& coefficients) {
  // A local copy: the stores to weight, momentum and rho could alias the caller's record as
  // far as the compiler knows, and would make it reload and re-broadcast every coefficient.
  const SghmcCoefficients k = coefficients;
  for (int64_t e = 0; e < count; e += 64) {
    // The four memory streams are fetched kPrefetchAhead weights early: a chunk's arithmetic
    // is long (about 3 ns per weight), so the loads would otherwise wait on L2/L3 misses the
    // hardware prefetcher has not covered. The addresses may lie past the chunk (the next
    // chunk of the same thread, usually) or past the tensor: a prefetch never faults.
    for (int64_t line = 0; line < 64; line += 16) {
      const int64_t ahead = 4 * (e + kPrefetchAhead + line);  // bytes
      for (const float* stream_start : {static_cast<const float*>(weight), gradient, static_cast<const float*>(momentum),
                                        static_cast<const float*>(rho)})
        __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(stream_start) + ahead), 0, 3);
    }
    const uint64_t block = static_cast<uint64_t>(e / 4);
    const uint64_t firsts[4] = {prev_block + block, prev_block + block + 8, next_block + block, next_block + block + 8};
    __m512 xi[4][2];  // xi[0..1]: draw prev, weights e .. e + 63; xi[2..3]: draw next
    noise::avx512::normals_of_groups<4>(seed, stream, firsts, xi);
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      const int64_t at = e + 16 * v;
      if (at >= count) break;
      const __mmask16 lanes = count - at >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (count - at)) - 1u);
      __m512 decay, keep;
      prior.next(lanes, decay, keep);
      __m512 w = _mm512_maskz_loadu_ps(lanes, weight + at), m = _mm512_maskz_loadu_ps(lanes, momentum + at);
      __m512 r = _mm512_maskz_loadu_ps(lanes, rho + at);
      sghmc_update16(w, m, r, _mm512_maskz_loadu_ps(lanes, gradient + at), xi[v / 2][v % 2], xi[2 + v / 2][v % 2],
                     decay, keep, k);
      _mm512_mask_storeu_ps(weight + at, lanes, w);
      _mm512_mask_storeu_ps(momentum + at, lanes, m);
      _mm512_mask_storeu_ps(rho + at, lanes, r);
    }
  }
}
#endif

}  // namespace slab
