// Shared by the CPU convolution files: the geometry of one conv2d call and the two
// implementations behind the kernels of core/cpu/conv.cpp.
//
//  - conv_im2col.cpp: any dtype, groups, dilation; im2col + GEMM (cpu::gemm on Eigen). The
//    reference, and the float64 path the gradient checks exercise.
//  - conv_blocked.cpp: float32 direct convolution on a channel-blocked layout with AVX-512 or
//    AVX2 micro-kernels; used where blocked_supports() says so (see that file for the maths).
//  - conv_winograd.cpp: float32 3x3 stride-1 convolution by Winograd F(2x2, 3x3) on the same
//    layout and micro-kernel; preferred for wide layers (conv.cpp's choose_path).
// Both take any channel count: the blocked layout and the packed weights are padded with
// zero channels inside, and the padding is not written out.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

namespace slab::cpu::conv {

struct Geometry {
  int64_t batch, c_in, height, width;     // x
  int64_t c_out, kernel_h, kernel_w;      // weight [c_out, c_in / groups, kernel_h, kernel_w]
  int64_t out_h, out_w;                   // out
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;

  int64_t in_per_group() const { return c_in / groups; }
  int64_t out_per_group() const { return c_out / groups; }
  int64_t taps() const { return kernel_h * kernel_w; }
  int64_t out_pixels() const { return out_h * out_w; }
  int64_t in_pixels() const { return height * width; }
  // A 1x1 kernel with stride 1 and no padding: the input is its own im2col matrix.
  bool is_pointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
  // Multiply-adds of the forward pass (each backward pass costs the same).
  double macs() const {
    return static_cast<double>(batch) * c_out * out_pixels() * in_per_group() * taps();
  }
};

Geometry make_geometry(const Shape& x, const Shape& weight, const Shape& out, int64_t stride_h, int64_t stride_w,
                       int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w, int64_t groups);

// A per-thread scratch buffer (64-byte aligned) that grows to the largest request and is
// then reused, so steady-state calls allocate nothing. `slot` tells apart the buffers one
// thread needs at the same time.
void* thread_scratch(size_t bytes, int slot);

// The im2col + GEMM path.
void im2col_forward(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);
void im2col_backward_input(const Geometry& g, const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x);
void im2col_backward_weight(const Geometry& g, const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight);

// The channel-blocked and Winograd float32 paths are vector code for AVX-512F or for AVX2
// (both with FMA): the kernels are written once over the vector width
// (core/cpu/conv_blocked_kernels.h), and a build takes the widest the compiler targets. A
// build for a CPU without either has neither (their *_supports say false), and the im2col
// path runs every convolution.
#if defined(__AVX512F__) && defined(__FMA__)
#define SLAB_CONV_AVX512 1
#define SLAB_CONV_AVX2 0
#elif defined(__AVX2__) && defined(__FMA__)
#define SLAB_CONV_AVX512 0
#define SLAB_CONV_AVX2 1
#else
#define SLAB_CONV_AVX512 0
#define SLAB_CONV_AVX2 0
#endif
inline constexpr bool kBlockedPathBuilt = SLAB_CONV_AVX512 || SLAB_CONV_AVX2;
inline constexpr bool kWinogradPathBuilt = kBlockedPathBuilt;

// The channel-blocked float32 path.
enum class Pass { forward, backward_input, backward_weight };
bool blocked_supports(const Geometry& g, DType dtype, Pass pass);
void blocked_forward(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);
void blocked_backward_input(const Geometry& g, const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x);
void blocked_backward_weight(const Geometry& g, const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight);

// The Winograd path.
bool winograd_supports(const Geometry& g, DType dtype, Pass pass);
void winograd_forward(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);
void winograd_backward_input(const Geometry& g, const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x);
void winograd_backward_weight(const Geometry& g, const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight);

}  // namespace slab::cpu::conv

namespace slab::cpu::conv {
// Which implementation runs a convolution. automatic: Winograd where preferred, else the
// blocked path where supported, else im2col. Forcing a path (benchmarks, tests; process-wide)
// uses it wherever it supports the call and falls back down that same order elsewhere.
enum class Path { automatic, im2col, blocked, winograd };
void force_path(Path path);
}  // namespace slab::cpu::conv

namespace slab::cpu::conv {
// The direct bf16 path on the AMX tile units (core/cpu/conv_amx.cpp): float32 tensors in
// --precision bf16 on a CPU whose bf16 path is amx, groups 1, no dilation: the forward pass,
// the input gradient (where the padding is at most kernel - 1) and the weight gradient. Any
// channel counts (padded with zeros to the tiles). core/cpu/conv.cpp takes it ahead of the
// paths above unless force_path(Path::im2col) keeps bf16 on im2col + GEMM (benchmarks).
bool amx_supports(const Geometry& g, DType dtype, Pass pass);
void amx_forward(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out);
void amx_backward_input(const Geometry& g, const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x);
void amx_backward_weight(const Geometry& g, const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight);
}  // namespace slab::cpu::conv
