// The CPU convolution kernels: each picks Winograd F(2x2, 3x3) for wide 3x3 stride-1 layers
// (core/cpu/conv_winograd.cpp), the channel-blocked direct path where it supports the
// geometry (core/cpu/conv_blocked.cpp), and the im2col + GEMM path otherwise
// (core/cpu/conv_im2col.cpp); all float64 work takes the im2col path. The two fast paths take
// any channel count (they pad channel blocks with zeros inside), so a network whose layers
// were shrunk to counts like 13 or 45 stays on them. In bf16 (route()) on AMX the three
// passes are the direct tile kernels (core/cpu/conv_amx.cpp) where they apply, except on maps
// of at most 16 output pixels (float32_on_bf16_inputs); on the float32 link the float32 paths
// run on inputs rounded to bf16; on the AVX-512 bf16 paths, im2col with its bf16 GEMM.
#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "core/allocator.h"
#include "core/cpu/bf16.h"
#include "core/cpu/conv_paths.h"
#include "core/cpu/matrix_units.h"
#include "core/precision.h"
#include "core/cpu/parallel.h"
#include "core/kernels.h"

namespace slab::cpu {

namespace conv {

Geometry make_geometry(const Shape& x, const Shape& weight, const Shape& out, int64_t stride_h, int64_t stride_w,
                       int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w, int64_t groups) {
  return Geometry{x[0],     x[1],     x[2],  x[3],  weight[0], weight[2], weight[3],  out[2],     out[3],
                  stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups};
}

namespace {

struct ScratchSlot {
  void* data = nullptr;
  size_t bytes = 0;
  ~ScratchSlot() { std::free(data); }
};

constexpr int kScratchSlots = 8;

}  // namespace

void* thread_scratch(size_t bytes, int slot) {
  thread_local ScratchSlot slots[kScratchSlots];
  ScratchSlot& s = slots[slot];
  if (s.bytes < bytes) {
    std::free(s.data);
    const size_t rounded = (bytes + 63) / 64 * 64;
    s.data = std::aligned_alloc(64, rounded);
    if (s.data == nullptr)
      throw MemoryLimitError(detail::concat("out of memory: the system refused ", describe_bytes(static_cast<double>(rounded)),
                                            " of convolution scratch"));
    s.bytes = rounded;
  }
  return s.data;
}

}  // namespace conv

namespace {

std::atomic<conv::Path> path_override{conv::Path::automatic};

// Winograd pays off once the channel products dominate its transforms: from 32 channels, in
// AVX-512 and in AVX2 builds alike (16-channel layers train as fast or faster on the direct
// path in both, docs/performance.md). The rule is on counts padded to 16, AVX-512's vector:
// there both paths compute those slots, so a layer shrunk from 32 to 24 channels computes 32
// either way and stays on Winograd (2.25x fewer multiplications than the direct path's 24),
// as it was at 32.
constexpr int64_t kWinogradMinChannels = 32;
int64_t padded_channels(int64_t channels) { return (channels + 15) / 16 * 16; }

// The float32 (or float64) path for the geometry: Winograd, blocked or im2col.
conv::Path float_path(const conv::Geometry& g, DType dtype, conv::Pass pass) {
  const conv::Path forced = path_override.load(std::memory_order_relaxed);
  if (forced == conv::Path::im2col) return conv::Path::im2col;
  const bool winograd = conv::winograd_supports(g, dtype, pass) &&
                        (forced == conv::Path::winograd ||
                         (forced == conv::Path::automatic &&
                          std::min(padded_channels(g.c_in), padded_channels(g.c_out)) >= kWinogradMinChannels));
  if (winograd) return conv::Path::winograd;
  return conv::blocked_supports(g, dtype, pass) ? conv::Path::blocked : conv::Path::im2col;
}

// Where the bf16 path is AMX, the passes whose tiles would cover small maps take the float32
// kernels on copies of their inputs rounded to bf16. The tile kernels compute 16-pixel chunks
// of a padded grid, of which a 4 x 4 map fills half and a 2 x 2 map a quarter. Measured on
// ResNet-18's 512-channel 4 x 4 layer (batch 64, 2 threads): forward 10.2 ms on the tiles,
// 10.0 in float32; both gradients 31 ms on the tiles, 22 in float32; its stride-2 256 -> 512
// layer (8 x 8 -> 4 x 4): forward 6.3 ms on the tiles, 9.3 in float32; gradients 25 and 21.
// So the forward pass leaves the tiles below 16 output pixels, the gradients at 16 and below
// (the dy they read, and the grid the weight gradient sums over, are the output map).
// The rounded inputs keep the bf16 contract: a product of two bf16 values is exact in float32
// (8 x 8 significand bits), the sums are float32. (Winograd transforms the rounded values in
// float32 first: an error of order 2^-24 of the values, far inside the bf16 bound of
// docs/algorithm.md#bf16-matrix-products.)
constexpr int64_t kSmallMapPixels = 16;

bool float32_on_bf16_inputs(const conv::Geometry& g, conv::Pass pass) {
  switch (pass) {
    case conv::Pass::forward: return g.out_pixels() < kSmallMapPixels;
    case conv::Pass::backward_input:
    case conv::Pass::backward_weight: return g.out_pixels() <= kSmallMapPixels;
  }
  return false;
}

// How one pass of a convolution runs: on the AMX tiles, or on one of the float kernel paths
// with its float32 inputs first rounded to bf16 where --precision bf16 has a float32 kernel
// multiply them (the products of bf16 values are exact in float32, the sums float32: the
// contract of docs/algorithm.md#bf16-matrix-products).
struct Route {
  bool amx;
  conv::Path path;
  bool round_inputs;
};

Route route(const conv::Geometry& g, DType dtype, conv::Pass pass) {
  const conv::Path float_kernels = float_path(g, dtype, pass);
  if (dtype != DType::f32 || matmul_precision() != Precision::bf16) return {false, float_kernels, false};
  // Forced to im2col (benchmarks of the GEMM): its GEMM is itself a bf16 product
  // (core/cpu/gemm.cpp), on whatever bf16 path the CPU has.
  if (path_override.load(std::memory_order_relaxed) == conv::Path::im2col) return {false, conv::Path::im2col, false};
  const bool amx = conv::amx_supports(g, dtype, pass);
  if (amx && !float32_on_bf16_inputs(g, pass)) return {true, float_kernels, false};
  if (float_kernels == conv::Path::im2col) return {false, conv::Path::im2col, false};
  // Small maps on AMX, and every map on the float32 link (no bf16 vector instructions): the
  // float32 kernels on rounded copies, which is what the link's GEMM does, without an im2col
  // copy and a rounding of the weights per image. The AVX-512 bf16 GEMMs instead take the
  // packed bf16 operands of im2col.
  const bool on_rounded = amx || bf16_path() == Bf16Path::float32;
  return {false, on_rounded ? float_kernels : conv::Path::im2col, on_rounded};
}

void forward_on(const Route& r, const conv::Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias,
                const Tensor& out) {
  if (r.amx) return conv::amx_forward(g, x, weight, bias, out);
  switch (r.path) {
    case conv::Path::winograd: return conv::winograd_forward(g, x, weight, bias, out);
    case conv::Path::blocked: return conv::blocked_forward(g, x, weight, bias, out);
    default: return conv::im2col_forward(g, x, weight, bias, out);
  }
}

void backward_input_on(const Route& r, const conv::Geometry& g, const Tensor& grad_out, const Tensor& weight,
                       const Tensor& grad_x) {
  if (r.amx) return conv::amx_backward_input(g, grad_out, weight, grad_x);
  switch (r.path) {
    case conv::Path::winograd: return conv::winograd_backward_input(g, grad_out, weight, grad_x);
    case conv::Path::blocked: return conv::blocked_backward_input(g, grad_out, weight, grad_x);
    default: return conv::im2col_backward_input(g, grad_out, weight, grad_x);
  }
}

void backward_weight_on(const Route& r, const conv::Geometry& g, const Tensor& grad_out, const Tensor& x,
                        const Tensor& grad_weight) {
  if (r.amx) return conv::amx_backward_weight(g, grad_out, x, grad_weight);
  switch (r.path) {
    case conv::Path::winograd: return conv::winograd_backward_weight(g, grad_out, x, grad_weight);
    case conv::Path::blocked: return conv::blocked_backward_weight(g, grad_out, x, grad_weight);
    default: return conv::im2col_backward_weight(g, grad_out, x, grad_weight);
  }
}

Tensor rounded_through_bf16(const Tensor& t) {
  const Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  const float* from = t.data<float>();
  float* to = out.data<float>();
  constexpr int64_t kBlock = 1 << 14;
  const int64_t blocks = (t.numel() + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b)
    round_through_bf16(from + b * kBlock, to + b * kBlock, std::min(kBlock, t.numel() - b * kBlock));
  return out;
}

// The input as the route's kernel reads it.
Tensor routed(const Route& r, const Tensor& t) { return r.round_inputs ? rounded_through_bf16(t) : t; }

}  // namespace

namespace conv {
void force_path(Path path) { path_override.store(path); }
}  // namespace conv

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out, int64_t stride_h,
                    int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                    int64_t groups) {
  const conv::Geometry g = conv::make_geometry(x.shape(), weight.shape(), out.shape(), stride_h, stride_w, pad_h,
                                               pad_w, dilation_h, dilation_w, groups);
  const Route r = route(g, x.dtype(), conv::Pass::forward);
  forward_on(r, g, routed(r, x), routed(r, weight), bias, out);
}

void conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x, int64_t stride_h,
                           int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                           int64_t groups) {
  const conv::Geometry g = conv::make_geometry(grad_x.shape(), weight.shape(), grad_out.shape(), stride_h,
                                               stride_w, pad_h, pad_w, dilation_h, dilation_w, groups);
  const Route r = route(g, grad_out.dtype(), conv::Pass::backward_input);
  backward_input_on(r, g, routed(r, grad_out), routed(r, weight), grad_x);
}

void conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight, int64_t stride_h,
                            int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                            int64_t groups) {
  const conv::Geometry g = conv::make_geometry(x.shape(), grad_weight.shape(), grad_out.shape(), stride_h,
                                               stride_w, pad_h, pad_w, dilation_h, dilation_w, groups);
  const Route r = route(g, x.dtype(), conv::Pass::backward_weight);
  backward_weight_on(r, g, routed(r, grad_out), routed(r, x), grad_weight);
}

void conv2d_backward_bias(const Tensor& grad_out, const Tensor& grad_bias) {
  const int64_t batch = grad_out.size(0), channels = grad_out.size(1);
  const int64_t pixels = grad_out.size(2) * grad_out.size(3);
  dispatch_float(grad_out.dtype(), "conv2d bias backward", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* g = grad_out.data<scalar_t>();
    scalar_t* out = grad_bias.data<scalar_t>();
#pragma omp parallel for if (batch * channels * pixels > kParallelGrain) schedule(static)
    for (int64_t c = 0; c < channels; ++c) {
      double total = 0;
      for (int64_t n = 0; n < batch; ++n) {
        const scalar_t* plane = g + (n * channels + c) * pixels;
        scalar_t partial = 0;  // one plane in the working precision, planes summed in double
        for (int64_t p = 0; p < pixels; ++p) partial += plane[p];
        total += partial;
      }
      out[c] = static_cast<scalar_t>(total);
    }
  });
}

}  // namespace slab::cpu
