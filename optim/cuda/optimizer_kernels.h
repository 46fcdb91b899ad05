// Fused optimizer steps on the GPU: one kernel per parameter tensor per step, which reads
// each weight's state once and writes it once (docs/architecture.md#fused-optimizer-steps).
// The per-element maths is optim's own host/device inline function (optim/sgd_kernel.h,
// optim/adam_kernel.h, optim/sghmc_kernel.h, optim/csghmc_kernel.h, optim/ivon_kernel.h,
// optim/vb_adaptive_kernel.h), so the CPU loop and the CUDA thread run the
// same code; this file only launches it. It lives in optim/ (optim uses core and layers,
// core uses nothing above it): the build compiles the CUDA sources of every room's cuda/.
//
// Every tensor argument is a CUDA tensor of the parameter's shape and dtype; optional
// state (SGD's momentum buffer without momentum, Adam's max_exp_avg_sq without amsgrad)
// may be an undefined Tensor.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace slab {

template <typename T>
struct SgdCoefficients;
template <typename T>
struct AdamCoefficients;
struct SghmcCoefficients;
struct CsghmcCoefficients;
struct IvonCoefficients;
struct VbAdaptiveCoefficients;
struct PriorState;

namespace cuda {

void sgd_step(const Tensor& weight, const Tensor& gradient, const Tensor& momentum_buffer,
              const SgdCoefficients<float>& k);
void sgd_step(const Tensor& weight, const Tensor& gradient, const Tensor& momentum_buffer,
              const SgdCoefficients<double>& k);

void adam_step(const Tensor& weight, const Tensor& gradient, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor& max_exp_avg_sq, const AdamCoefficients<float>& k);
void adam_step(const Tensor& weight, const Tensor& gradient, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor& max_exp_avg_sq, const AdamCoefficients<double>& k);

// The preconditioned SGHMC step of docs/algorithm.md#adaptive-variational-update
// (sghmc and sghmc-spl) for float32 weight, momentum and rho: xi_prev is draw `draw_prev` and
// xi draw `draw_prev + 1` of the Philox stream (seed, stream) (optim/sghmc_noise.h),
// regenerated per element; each element's weight decay and keep mask come from `prior`
// (optim/prior_state.h). The prior's vectors are copied to the device when their contents
// change (once per epoch, after the E-step), not every step: a host-side comparison decides.
void sghmc_step(const Tensor& weight, const Tensor& gradient, const Tensor& momentum, const Tensor& rho,
                uint64_t seed, uint64_t stream, uint64_t draw_prev, const SghmcCoefficients& k,
                const PriorState& prior);

// weight *= keep, momentum *= keep (the hard masks of `prior`): apply_prior_masks on the GPU.
void apply_prior_mask(const Tensor& weight, const Tensor& momentum, const PriorState& prior);

// ---- the baselines of docs/algorithm.md#baselines, float32 only --------------------------------
// Their noise is element i of draw d of the Philox stream (seed, stream) (optim/sghmc_noise.h),
// regenerated per element from the same blocks as the CPU loops, so a CUDA step equals the
// CPU step to float rounding.

// cSGHMC: xi is draw `draw` (read only when k.with_noise).
void csghmc_step(const Tensor& weight, const Tensor& gradient, const Tensor& velocity, uint64_t seed, uint64_t stream,
                 uint64_t draw, const CsghmcCoefficients& k);

// IVON: z (which produced the current sample) is draw `draw`, the new sample uses draw + 1.
void ivon_step(const Tensor& weight, const Tensor& gradient, const Tensor& mean, const Tensor& hessian,
               const Tensor& gradient_momentum, uint64_t seed, uint64_t stream, uint64_t draw,
               const IvonCoefficients& k);

// Naive adaptive VB: eps of the new sample is draw `draw`.
void vb_adaptive_step(const Tensor& weight, const Tensor& gradient, const Tensor& mean, const Tensor& precision,
                      const Tensor& momentum, uint64_t seed, uint64_t stream, uint64_t draw,
                      const VbAdaptiveCoefficients& k);

// weight = mean + z / sqrt(scale (precision + shift)), z = draw `draw` (optim/gaussian_sample_kernel.h):
// the variational baselines' write_sample().
void gaussian_sample(const Tensor& weight, const Tensor& mean, const Tensor& precision, float scale, float shift,
                     uint64_t seed, uint64_t stream, uint64_t draw);

}  // namespace cuda
}  // namespace slab
