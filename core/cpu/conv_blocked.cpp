// Float32 convolution as direct loops over a channel-blocked layout, with AVX-512
// register-tile micro-kernels: the fast CPU path (the im2col path, conv_im2col.cpp, is the
// reference and covers what this file does not).
//
// Layout. An activation [c, h, w] is copied into [c / cb][rows][cols][cb]: channel blocks of
// cb = 16 (one AVX-512 vector) or, for inputs with few channels (1 or 3), one block of all of
// them; the image sits at (pad_h, pad_w) inside zeros, so the kernels never test bounds, and
// extra zero rows/columns on the far side let a tile run past the last output pixel.
// Weights are packed once per call so the micro-kernel reads them as aligned vectors.
//
// Forward. For a tile of R x U output pixels and B blocks of 16 output channels,
//   acc[pixel][block] (a vector over 16 output channels) +=
//       x[pixel's input position for tap (p, q)][ci] (broadcast) * W[block][ci][p][q] (vector)
// over the reduction K = (input block, p, q, ci). Each step loads B weight vectors and R U
// input scalars for R U B fused multiply-adds; 16 to 24 accumulators stay in registers for
// the whole reduction (the loads are a fraction of the FMAs, so the FMA units set the pace).
//
// Input gradient. dx = the correlation of dy with the kernel flipped in space and with input
// and output channels swapped, padding d (k - 1) - pad: for stride 1 that is the forward
// kernel again. For larger strides the same micro-kernel scatters instead: for each tap, a
// tile of dy pixels times W^T (reduction over output channels) is added onto the input
// positions that tap reads (the adjoint of the forward's gather).
//
// Weight gradient. dW[o][c][p][q] = sum over images and output pixels of dy[o][pixel] x[c][pixel's
// input for (p, q)]: vectors of 16 output channels of dy, broadcasts of T consecutive
// (q, c) entries of x, accumulators dW[T entries][B blocks] kept in registers over a whole
// chunk of images.
//
// Threads (one level, OpenMP): when the weights fit in a core's L2 (about 1 MiB) images are
// split across threads, each converting its images into its own buffers; otherwise the
// output-channel blocks (forward), input-channel blocks (scattered input gradient) or
// (output block, input block) pairs (weight gradient) are split so each thread streams
// only its share of the weights. A small weight gradient is summed from per-thread partials
// in a fixed order. Results are deterministic for a given thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/conv_paths.h"

#if defined(__AVX512F__) && defined(__FMA__)
#include "core/cpu/conv_avx512.h"
#define SLAB_CONV_BLOCKED 1
#else
#define SLAB_CONV_BLOCKED 0
#endif

namespace slab::cpu::conv {

#if SLAB_CONV_BLOCKED

namespace {

using namespace avx512;

// Weights up to this size are read by every thread for every image (they stay in L2).
constexpr int64_t kSmallWeightBytes = 3 << 19;
// Larger weights are split across threads and swept over chunks of images of about this
// size (converted activations), which then stay in L2 for every channel group.
constexpr int64_t kChunkBytes = 1 << 20;

// The NCHW images a path reads its input from: every (step_h, step_w)-th pixel of images
// [channels][height][width] (steps of 1: all of it). A 1x1 convolution with stride s and no
// padding reads only the pixels (i s, j s): it runs as a stride-1 one on that sampled grid.
struct InputImages {
  const float* data;
  int64_t channels, height, width, step_h = 1, step_w = 1;

  void to_blocked(int64_t n, const Blocked& layout, float* dst) const {
    const float* image = data + n * channels * height * width;
    if (step_h == 1 && step_w == 1) avx512::to_blocked(image, height, width, layout, dst);
    else to_blocked_sampled(image, height, width, step_h, step_w, layout, dst);
  }
};

bool strided_pointwise(const Geometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.pad_h == 0 && g.pad_w == 0 && (g.stride_h > 1 || g.stride_w > 1) &&
         g.c_in % kLanes == 0;
}

// The stride-1 pointwise geometry on the sampled grid.
Geometry sampled_geometry(const Geometry& g) {
  Geometry s = g;
  s.height = g.out_h;
  s.width = g.out_w;
  s.stride_h = s.stride_w = 1;
  return s;
}

// ---- forward (also the stride-1 input gradient) ------------------------------------------

// Weights [c_out][c_in][kh][kw] packed as [c_out / 16][c_in / cb][kh][kw][cb][16], the
// forward's reduction order. flip_transpose packs the input-gradient kernel instead: output
// channel o' = input channel c, input channel c' = output channel o, taps mirrored.
void pack_gather_weights(const float* w, int64_t c_out, int64_t c_in, int64_t kh, int64_t kw, bool flip_transpose,
                         float* packed) {
  const int64_t cb = channel_block(c_in), taps = kh * kw, blocks_in = c_in / cb;
  // Written in order; the reads gather 16 rows (one per output channel of the block).
#pragma omp parallel for schedule(static) if (c_out * c_in * taps > 65536)
  for (int64_t out_block = 0; out_block < c_out / kLanes; ++out_block) {
    float* dst = packed + out_block * c_in * taps * kLanes;
    for (int64_t in_block = 0; in_block < blocks_in; ++in_block)
      for (int64_t p = 0; p < kh; ++p)
        for (int64_t q = 0; q < kw; ++q)
          for (int64_t ci = 0; ci < cb; ++ci)
            for (int64_t lane = 0; lane < kLanes; ++lane, ++dst) {
              const int64_t o = out_block * kLanes + lane, c = in_block * cb + ci;
              *dst = flip_transpose ? w[((c * c_out + o) * kh + (kh - 1 - p)) * kw + (kw - 1 - q)]
                                    : w[((o * c_in + c) * kh + p) * kw + q];
            }
  }
}

struct GatherPlan {
  Geometry g;
  Tile tile;
  Blocked in;
  int64_t out_h_pad, out_w_pad;
  const int64_t* segments;  // input offset of each (input block, p, q)
  int64_t segment_count;
  TileKernel kernel;
};

GatherPlan plan_gather(const Geometry& g) {
  GatherPlan plan;
  plan.g = g;
  plan.tile = choose_tile(g.c_out, g.out_w);
  plan.out_h_pad = round_up(g.out_h, plan.tile.R);
  plan.out_w_pad = round_up(g.out_w, plan.tile.U);
  const int64_t cb = channel_block(g.c_in);
  const int64_t rows = std::max(g.height + 2 * g.pad_h, (plan.out_h_pad - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1);
  const int64_t cols = std::max(g.width + 2 * g.pad_w, (plan.out_w_pad - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1);
  plan.in = Blocked{cb, g.c_in / cb, rows, cols, g.pad_h, g.pad_w};
  thread_local std::vector<int64_t> segments;  // reused: no allocation once grown
  segments.clear();
  for (int64_t block = 0; block < plan.in.blocks; ++block)
    for (int64_t p = 0; p < g.kernel_h; ++p)
      for (int64_t q = 0; q < g.kernel_w; ++q)
        segments.push_back(block * plan.in.plane() + (p * g.dilation_h * cols + q * g.dilation_w) * cb);
  plan.segments = segments.data();
  plan.segment_count = static_cast<int64_t>(segments.size());
  plan.kernel = select_gather_kernel(plan.tile, cb, g.stride_w);
  return plan;
}

// Output channel blocks [group B, group B + B) of one image, from its blocked input.
void gather_group(const GatherPlan& plan, const float* x_blocked, const float* packed, int64_t group, float* tile_out,
                  const float* bias, float* out_image) {
  const Geometry& g = plan.g;
  const Tile& t = plan.tile;
  const int64_t cb = plan.in.cb, cols = plan.in.cols;
  const int64_t segment_count = plan.segment_count;
  const int64_t w_block = segment_count * cb * kLanes;
  const int64_t out_block = plan.out_h_pad * plan.out_w_pad * kLanes;
  const float* w = packed + group * t.B * w_block;
  for (int64_t oh = 0; oh < plan.out_h_pad; oh += t.R)
    for (int64_t ow = 0; ow < plan.out_w_pad; ow += t.U)
      plan.kernel(x_blocked + (oh * g.stride_h * cols + ow * g.stride_w) * cb, g.stride_h * cols * cb,
                  plan.segments, segment_count, w, w_block, tile_out + (oh * plan.out_w_pad + ow) * kLanes,
                  plan.out_w_pad * kLanes, kLanes, out_block);
  const int64_t first_channel = group * t.B * kLanes;
  from_blocked(tile_out, t.B, plan.out_h_pad, plan.out_w_pad, 0, 0, g.out_h, g.out_w,
               bias != nullptr ? bias + first_channel : nullptr, out_image + first_channel * g.out_pixels());
}

void gather_convolution(const Geometry& g, const InputImages& input, const float* packed, const float* bias,
                        float* out) {
  const GatherPlan plan = plan_gather(g);
  const int64_t groups = g.c_out / kLanes / plan.tile.B;
  const size_t tile_out_bytes = static_cast<size_t>(plan.tile.B * plan.out_h_pad * plan.out_w_pad * kLanes) * sizeof(float);
  const int64_t weight_bytes = g.c_out * g.c_in * g.taps() * static_cast<int64_t>(sizeof(float));
  if (weight_bytes <= kSmallWeightBytes || g.batch == 1) {
    // Images across threads; each converts its image once and computes every channel group.
#pragma omp parallel for schedule(static) if (g.batch > 1)
    for (int64_t n = 0; n < g.batch; ++n) {
      float* x_blocked = static_cast<float*>(thread_scratch(static_cast<size_t>(plan.in.image()) * sizeof(float), 1));
      float* tile_out = static_cast<float*>(thread_scratch(tile_out_bytes, 2));
      input.to_blocked(n, plan.in, x_blocked);
      for (int64_t group = 0; group < groups; ++group)
        gather_group(plan, x_blocked, packed, group, tile_out, bias, out + n * g.c_out * g.out_pixels());
    }
    return;
  }
  // Channel groups across threads, images a chunk at a time: every thread converts part of
  // the chunk, then streams only its share of the weights over all of it.
  const int64_t chunk = std::clamp<int64_t>(kChunkBytes / (plan.in.image() * static_cast<int64_t>(sizeof(float))), 1, g.batch);
  Tensor blocked = Tensor::empty({chunk, plan.in.image()});
  float* x_blocked = blocked.data<float>();
#pragma omp parallel
  {
    float* tile_out = static_cast<float*>(thread_scratch(tile_out_bytes, 2));
    for (int64_t first = 0; first < g.batch; first += chunk) {
      const int64_t count = std::min(chunk, g.batch - first);
#pragma omp for schedule(static)
      for (int64_t i = 0; i < count; ++i)
        input.to_blocked(first + i, plan.in, x_blocked + i * plan.in.image());
#pragma omp for schedule(static)
      for (int64_t item = 0; item < groups * count; ++item) {
        const int64_t group = item / count, i = item % count;
        gather_group(plan, x_blocked + i * plan.in.image(), packed, group, tile_out, bias,
                     out + (first + i) * g.c_out * g.out_pixels());
      }
    }
  }
}

// ---- input gradient by scattering (strides above 1) -------------------------------------

// W [c_out][c_in][kh][kw] packed as [c_in / 16][kh kw][c_out][16 input channels].
void pack_scatter_weights(const float* w, int64_t c_out, int64_t c_in, int64_t taps, float* packed) {
#pragma omp parallel for schedule(static) if (c_out * c_in * taps > 65536)
  for (int64_t in_block = 0; in_block < c_in / kLanes; ++in_block) {
    float* dst = packed + in_block * taps * c_out * kLanes;
    for (int64_t tap = 0; tap < taps; ++tap)
      for (int64_t o = 0; o < c_out; ++o)
        for (int64_t lane = 0; lane < kLanes; ++lane, ++dst) *dst = w[(o * c_in + in_block * kLanes + lane) * taps + tap];
  }
}

void scatter_input_gradient(const Geometry& g, const float* grad_out, const float* packed, float* grad_x) {
  const Tile t = choose_tile(g.c_in, g.out_w);  // blocks of input channels, tiles of dy pixels
  const int64_t out_h_pad = round_up(g.out_h, t.R), out_w_pad = round_up(g.out_w, t.U);
  const Blocked dy_layout{kLanes, g.c_out / kLanes, out_h_pad, out_w_pad, 0, 0};
  const int64_t rows = std::max(g.height + 2 * g.pad_h, (out_h_pad - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1);
  const int64_t cols = std::max(g.width + 2 * g.pad_w, (out_w_pad - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1);
  const Blocked dx_layout{kLanes, g.c_in / kLanes, rows, cols, g.pad_h, g.pad_w};
  // Reused (no allocation once grown). A named reference: the worker threads below must see
  // this thread's vector, not their own thread_local instance.
  thread_local std::vector<int64_t> reusable_segments;
  std::vector<int64_t>& segments = reusable_segments;
  segments.clear();
  for (int64_t block = 0; block < dy_layout.blocks; ++block) segments.push_back(block * dy_layout.plane());
  const int64_t segment_count = static_cast<int64_t>(segments.size());
  const TileKernel kernel = kernel_for_tile<16, 16, true>(t);
  const int64_t taps = g.taps(), w_block = taps * g.c_out * kLanes;
  const int64_t groups = g.c_in / kLanes / t.B;

  // Adds one image's contributions for input-channel group `group` into dx_blocked.
  auto scatter_group = [&](const float* dy_blocked, int64_t group, float* dx_blocked) {
    for (int64_t p = 0; p < g.kernel_h; ++p)
      for (int64_t q = 0; q < g.kernel_w; ++q) {
        const float* w = packed + (group * t.B * taps + p * g.kernel_w + q) * g.c_out * kLanes;
        float* target = dx_blocked + group * t.B * dx_layout.plane() +
                        (p * g.dilation_h * cols + q * g.dilation_w) * kLanes;
        for (int64_t oh = 0; oh < out_h_pad; oh += t.R)
          for (int64_t ow = 0; ow < out_w_pad; ow += t.U)
            kernel(dy_blocked + (oh * out_w_pad + ow) * kLanes, out_w_pad * kLanes, segments.data(), segment_count, w,
                   w_block, target + (oh * g.stride_h * cols + ow * g.stride_w) * kLanes,
                   g.stride_h * cols * kLanes, g.stride_w * kLanes, dx_layout.plane());
      }
  };
  auto zero = [](float* p, int64_t count) { std::memset(p, 0, static_cast<size_t>(count) * sizeof(float)); };
  const int64_t weight_bytes = g.c_out * g.c_in * taps * static_cast<int64_t>(sizeof(float));
  if (weight_bytes <= kSmallWeightBytes || g.batch == 1) {
#pragma omp parallel for schedule(static) if (g.batch > 1)
    for (int64_t n = 0; n < g.batch; ++n) {
      float* dy_blocked = static_cast<float*>(thread_scratch(static_cast<size_t>(dy_layout.image()) * sizeof(float), 1));
      float* dx_blocked = static_cast<float*>(thread_scratch(static_cast<size_t>(dx_layout.image()) * sizeof(float), 2));
      to_blocked(grad_out + n * g.c_out * g.out_pixels(), g.out_h, g.out_w, dy_layout, dy_blocked);
      zero(dx_blocked, dx_layout.image());
      for (int64_t group = 0; group < groups; ++group) scatter_group(dy_blocked, group, dx_blocked);
      from_blocked(dx_blocked, dx_layout.blocks, rows, cols, g.pad_h, g.pad_w, g.height, g.width, nullptr,
                   grad_x + n * g.c_in * g.in_pixels());
    }
    return;
  }
  // Input-channel groups across threads (disjoint planes of dx), images a chunk at a time.
  const int64_t per_image = (dy_layout.image() + dx_layout.image()) * static_cast<int64_t>(sizeof(float));
  const int64_t chunk = std::clamp<int64_t>(kChunkBytes / per_image, 1, g.batch);
  Tensor dy_chunk = Tensor::empty({chunk, dy_layout.image()});
  Tensor dx_chunk = Tensor::empty({chunk, dx_layout.image()});
  float* dy_blocked = dy_chunk.data<float>();
  float* dx_blocked = dx_chunk.data<float>();
#pragma omp parallel
  for (int64_t first = 0; first < g.batch; first += chunk) {
    const int64_t count = std::min(chunk, g.batch - first);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < count; ++i) {
      to_blocked(grad_out + (first + i) * g.c_out * g.out_pixels(), g.out_h, g.out_w, dy_layout,
                 dy_blocked + i * dy_layout.image());
      zero(dx_blocked + i * dx_layout.image(), dx_layout.image());
    }
#pragma omp for schedule(static)
    for (int64_t item = 0; item < groups * count; ++item) {
      const int64_t group = item / count, i = item % count;
      scatter_group(dy_blocked + i * dy_layout.image(), group, dx_blocked + i * dx_layout.image());
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < count; ++i)
      from_blocked(dx_blocked + i * dx_layout.image(), dx_layout.blocks, rows, cols, g.pad_h, g.pad_w, g.height,
                   g.width, nullptr, grad_x + (first + i) * g.c_in * g.in_pixels());
  }
}

// ---- weight gradient ---------------------------------------------------------------------
// Entries of a run of `length` consecutive reduction entries handled per kernel call.
int64_t run_chunk(int64_t length, int blocks) {
  if (blocks == 1 && length % 16 == 0) return 16;
  for (int64_t t : {12, 8, 9, 3})
    if (length % t == 0) return t;
  return 1;
}

// One piece of the reduction: `entries` consecutive K' entries from k_begin, reading x at
// x_offset (within the padded image, relative to the output pixel's top-left input).
struct Run {
  int64_t block;     // input channel block
  int64_t k_begin;   // first packed reduction index
  int64_t x_offset;  // floats from the pixel's base in the block's plane
};

void weight_gradient(const Geometry& g, const float* grad_out, const InputImages& input, float* grad_weight) {
  const int64_t cb = channel_block(g.c_in);
  const Blocked x_layout{cb, g.c_in / cb, g.height + 2 * g.pad_h, g.width + 2 * g.pad_w, g.pad_h, g.pad_w};
  const Blocked dy_layout{kLanes, g.c_out / kLanes, g.out_h, g.out_w, 0, 0};
  const int B = g.c_out % (2 * kLanes) == 0 ? 2 : 1;
  const int64_t taps = g.taps(), k_total = g.c_in * taps;  // packed reduction length
  // Runs: with dilation 1 the (q, c) entries of one kernel row are consecutive in x.
  const bool row_runs = g.dilation_w == 1;
  const int64_t run_length = row_runs ? g.kernel_w * cb : cb;
  const int64_t chunk = run_chunk(run_length, B);
  const WeightKernel kernel = B == 2 ? weight_kernel_for<2>(chunk) : weight_kernel_for<1>(chunk);
  // Reused (no allocation once grown). A named reference: the worker threads below must see
  // this thread's vector, not their own thread_local instance.
  thread_local std::vector<Run> reusable_runs;
  std::vector<Run>& runs = reusable_runs;
  runs.clear();
  for (int64_t block = 0; block < x_layout.blocks; ++block)
    for (int64_t p = 0; p < g.kernel_h; ++p)
      for (int64_t q = 0; q < (row_runs ? 1 : g.kernel_w); ++q)
        for (int64_t e = 0; e < run_length; e += chunk)
          runs.push_back(Run{block, (block * taps + p * g.kernel_w + q) * cb + e,
                             p * g.dilation_h * x_layout.cols * cb + q * g.dilation_w * cb + e});
  const int64_t groups = g.c_out / kLanes / B;
  const int64_t packed_size = g.c_out * k_total;

  // Adds the runs of (channel group, input block) over `count` images of the blocked chunk
  // buffers into dw.
  auto accumulate = [&](const float* x_blocked, const float* dy_blocked, int64_t group, int64_t block, int64_t count,
                        float* dw) {
    for (const Run& run : runs) {
      if (run.block != block) continue;
      kernel(dy_blocked + group * B * dy_layout.plane(), dy_layout.plane(), dy_layout.image(),
             x_blocked + block * x_layout.plane() + run.x_offset, g.stride_h * x_layout.cols * cb, g.stride_w * cb,
             x_layout.image(), count, g.out_h, g.out_w, dw + (group * B * k_total + run.k_begin) * kLanes,
             k_total * kLanes);
    }
  };
  auto convert = [&](int64_t n, float* x_blocked, float* dy_blocked) {
    input.to_blocked(n, x_layout, x_blocked);
    to_blocked(grad_out + n * g.c_out * g.out_pixels(), g.out_h, g.out_w, dy_layout, dy_blocked);
  };
  const int threads = omp_get_max_threads();
  const int64_t pairs = groups * x_layout.blocks;
  const bool split_pairs = pairs >= 2 * threads && packed_size * static_cast<int64_t>(sizeof(float)) > (256 << 10);
  Tensor partials = Tensor::empty({split_pairs ? 1 : threads, packed_size});
  // Images are converted a chunk at a time, small enough that the runs of one pair, which
  // all sweep the same images, find them in L2.
  const int64_t per_image = (x_layout.image() + dy_layout.image()) * static_cast<int64_t>(sizeof(float));
  const int64_t images_per_chunk = std::clamp<int64_t>((1 << 20) / std::max<int64_t>(per_image, 1), 1, g.batch);
  int team = 1;
  if (split_pairs) {
    // (channel group, input block) pairs across threads, every chunk converted by both.
    Tensor x_chunk = Tensor::empty({images_per_chunk, x_layout.image()});
    Tensor dy_chunk = Tensor::empty({images_per_chunk, dy_layout.image()});
    float* dw = partials.data<float>();
    std::memset(dw, 0, static_cast<size_t>(packed_size) * sizeof(float));
#pragma omp parallel
    for (int64_t first = 0; first < g.batch; first += images_per_chunk) {
      const int64_t count = std::min(images_per_chunk, g.batch - first);
#pragma omp for schedule(static)
      for (int64_t i = 0; i < count; ++i)
        convert(first + i, x_chunk.data<float>() + i * x_layout.image(), dy_chunk.data<float>() + i * dy_layout.image());
#pragma omp for schedule(static)
      for (int64_t pair = 0; pair < pairs; ++pair)
        accumulate(x_chunk.data<float>(), dy_chunk.data<float>(), pair / x_layout.blocks, pair % x_layout.blocks,
                   count, dw);
    }
  } else {
    // Images across threads, each converting its own chunks and summing into its own partial.
#pragma omp parallel
    {
#pragma omp single
      team = omp_get_num_threads();
      const int64_t thread = omp_get_thread_num();
      float* dw = partials.data<float>() + thread * packed_size;
      std::memset(dw, 0, static_cast<size_t>(packed_size) * sizeof(float));
      float* x_chunk = static_cast<float*>(thread_scratch(static_cast<size_t>(images_per_chunk * x_layout.image()) * sizeof(float), 1));
      float* dy_chunk = static_cast<float*>(thread_scratch(static_cast<size_t>(images_per_chunk * dy_layout.image()) * sizeof(float), 2));
      const int64_t first = g.batch * thread / team, last = g.batch * (thread + 1) / team;
      for (int64_t begin = first; begin < last; begin += images_per_chunk) {
        const int64_t count = std::min(images_per_chunk, last - begin);
        for (int64_t i = 0; i < count; ++i)
          convert(begin + i, x_chunk + i * x_layout.image(), dy_chunk + i * dy_layout.image());
        for (int64_t pair = 0; pair < pairs; ++pair)
          accumulate(x_chunk, dy_chunk, pair / x_layout.blocks, pair % x_layout.blocks, count, dw);
      }
    }
  }
  // Unpack [c_out / 16][k][16] (summing the partials in thread order) into [c_out][c_in][kh][kw].
  const float* packed = partials.data<float>();
  const int64_t parts = split_pairs ? 1 : team;
#pragma omp parallel for schedule(static) if (packed_size > 65536)
  for (int64_t o = 0; o < g.c_out; ++o) {
    const float* source = packed + (o / kLanes) * k_total * kLanes + o % kLanes;
    float* dst = grad_weight + o * g.c_in * taps;
    for (int64_t block = 0; block < x_layout.blocks; ++block)
      for (int64_t ci = 0; ci < cb; ++ci)
        for (int64_t tap = 0; tap < taps; ++tap, ++dst) {
          const int64_t index = ((block * taps + tap) * cb + ci) * kLanes;
          float total = 0;
          for (int64_t part = 0; part < parts; ++part) total += source[part * packed_size + index];
          *dst = total;
        }
  }
}

}  // namespace

bool blocked_supports(const Geometry& g, DType dtype, Pass pass) {
  if (dtype != DType::f32 || g.groups != 1 || g.stride_w > 2) return false;
  switch (pass) {
    case Pass::forward:
      return g.c_out % kLanes == 0 && supported_channel_block(g.c_in);
    case Pass::backward_input:
      return g.c_out % kLanes == 0 && g.c_in % kLanes == 0;
    case Pass::backward_weight:
      return g.c_out % kLanes == 0 && supported_channel_block(g.c_in);
  }
  return false;
}

void blocked_forward(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out) {
  Tensor packed = Tensor::empty({g.c_out * g.c_in * g.taps()});
  pack_gather_weights(weight.data<float>(), g.c_out, g.c_in, g.kernel_h, g.kernel_w, false, packed.data<float>());
  const InputImages input{x.data<float>(), g.c_in, g.height, g.width, g.stride_h, g.stride_w};
  const bool sampled = strided_pointwise(g);
  gather_convolution(sampled ? sampled_geometry(g) : g, sampled ? input : InputImages{x.data<float>(), g.c_in, g.height, g.width},
                     packed.data<float>(), bias.defined() ? bias.data<float>() : nullptr, out.data<float>());
}

void blocked_backward_input(const Geometry& g, const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x) {
  Tensor packed = Tensor::empty({g.c_out * g.c_in * g.taps()});
  if (strided_pointwise(g)) {
    // dx is W^T dy at the sampled pixels and zero elsewhere.
    const Geometry flipped{g.batch, g.c_out, g.out_h, g.out_w, g.c_in, 1, 1, g.out_h, g.out_w, 1, 1, 0, 0, 1, 1, 1};
    pack_gather_weights(weight.data<float>(), g.c_in, g.c_out, 1, 1, true, packed.data<float>());
    Tensor sampled = Tensor::empty({g.batch, g.c_in, g.out_h, g.out_w});
    gather_convolution(flipped, InputImages{grad_out.data<float>(), g.c_out, g.out_h, g.out_w}, packed.data<float>(),
                       nullptr, sampled.data<float>());
    const float* src = sampled.data<float>();
    float* dst = grad_x.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < g.batch * g.c_in; ++plane) {
      float* dx = dst + plane * g.in_pixels();
      std::memset(dx, 0, static_cast<size_t>(g.in_pixels()) * sizeof(float));
      const float* from = src + plane * g.out_pixels();
      for (int64_t i = 0; i < g.out_h; ++i)
        for (int64_t j = 0; j < g.out_w; ++j) dx[i * g.stride_h * g.width + j * g.stride_w] = from[i * g.out_w + j];
    }
    return;
  }
  const int64_t flipped_pad_h = g.dilation_h * (g.kernel_h - 1) - g.pad_h;
  const int64_t flipped_pad_w = g.dilation_w * (g.kernel_w - 1) - g.pad_w;
  if (g.stride_h == 1 && g.stride_w == 1 && flipped_pad_h >= 0 && flipped_pad_w >= 0) {
    // dx = conv(dy, flipped and transposed W, padding d (k - 1) - pad), stride 1.
    const Geometry flipped{g.batch,  g.c_out,       g.out_h,       g.out_w,      g.c_in,       g.kernel_h,
                           g.kernel_w, g.height,    g.width,       1,            1,            flipped_pad_h,
                           flipped_pad_w, g.dilation_h, g.dilation_w, 1};
    pack_gather_weights(weight.data<float>(), g.c_in, g.c_out, g.kernel_h, g.kernel_w, true, packed.data<float>());
    gather_convolution(flipped, InputImages{grad_out.data<float>(), g.c_out, g.out_h, g.out_w}, packed.data<float>(),
                       nullptr, grad_x.data<float>());
    return;
  }
  pack_scatter_weights(weight.data<float>(), g.c_out, g.c_in, g.taps(), packed.data<float>());
  scatter_input_gradient(g, grad_out.data<float>(), packed.data<float>(), grad_x.data<float>());
}

void blocked_backward_weight(const Geometry& g, const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight) {
  if (strided_pointwise(g)) {
    weight_gradient(sampled_geometry(g), grad_out.data<float>(),
                    InputImages{x.data<float>(), g.c_in, g.height, g.width, g.stride_h, g.stride_w},
                    grad_weight.data<float>());
    return;
  }
  weight_gradient(g, grad_out.data<float>(), InputImages{x.data<float>(), g.c_in, g.height, g.width},
                  grad_weight.data<float>());
}

#else  // no AVX-512: the im2col path does everything

bool blocked_supports(const Geometry&, DType, Pass) { return false; }
void blocked_forward(const Geometry&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  SLAB_FAIL("conv2d: the channel-blocked path needs AVX-512");
}
void blocked_backward_input(const Geometry&, const Tensor&, const Tensor&, const Tensor&) {
  SLAB_FAIL("conv2d: the channel-blocked path needs AVX-512");
}
void blocked_backward_weight(const Geometry&, const Tensor&, const Tensor&, const Tensor&) {
  SLAB_FAIL("conv2d: the channel-blocked path needs AVX-512");
}

#endif

}  // namespace slab::cpu::conv
