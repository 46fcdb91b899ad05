// Float32 convolution as direct loops over a channel-blocked layout, with register-tile
// micro-kernels written once over the vector width L (core/cpu/conv_blocked_kernels.h): L = 16
// in an AVX-512 build (core/cpu/conv_avx512.h), L = 8 in an AVX2 build (core/cpu/conv_avx2.h).
// The fast CPU path; the im2col path (conv_im2col.cpp) is the reference and covers what this
// file does not.
//
// Layout. An activation [c, h, w] is copied into [ceil(c / cb)][rows][cols][cb]: channel
// blocks of cb = L (one vector), for inputs with 1 or 3 channels one block of all of them,
// and for other counts blocks of L, 8 or 4 whose last one is filled up with zero channels
// (channel_block); the image sits at (pad_h, pad_w) inside zeros, so the kernels never test
// bounds, and extra zero rows/columns on the far side let a tile run past the last output
// pixel. Weights are packed once per call so the micro-kernel reads them as aligned vectors,
// with zeros for the padding channels on both sides.
//
// Any channel count. Output channels are computed L at a time (a vector); a count that is
// not a multiple of L computes its last block with zero weights in the missing lanes and
// does not store them. Input channels are padded up to their block with zeros. Padding adds
// only exact zeros to every sum, so the stored results are those of the unpadded layer; the
// cost is the padded channel product, round_up(c_out, L) round_up(c_in, cb), against
// c_out c_in (with L = 16 at most 16/13 x 16/13 for 13 channels, 32/27 x 28/27 for 27).
//
// Forward. For a tile of R x U output pixels and B blocks of L output channels,
//   acc[pixel][block] (a vector over L output channels) +=
//       x[pixel's input position for tap (p, q)][ci] (broadcast) * W[block][ci][p][q] (vector)
// over the reduction K = (input block, p, q, ci). Each step loads B weight vectors and R U
// input scalars for R U B fused multiply-adds; the R U B accumulators stay in registers for
// the whole reduction (16 to 24 with AVX-512's 32 registers, 8 to 12 with AVX2's 16; the loads
// are a fraction of the FMAs, so the FMA units set the pace), and are transposed in registers
// at the end to be stored straight into the NCHW output.
//
// Input gradient. dx = the correlation of dy with the kernel flipped in space and with input
// and output channels swapped, padding d (k - 1) - pad: for stride 1 that is the forward
// kernel again. With stride s, each of the s^2 output phases of dx (rows s i + r) is such a
// stride-1 correlation over the taps that reach it (phase_input_gradient below).
//
// Weight gradient. dW[o][c][p][q] = sum over images and output pixels of dy[o][pixel] x[c][pixel's
// input for (p, q)]: vectors of L output channels of dy, broadcasts of T consecutive
// (q, c) entries of x, accumulators dW[T entries][B blocks] kept in registers over a whole
// chunk of images.
//
// A 1x1 convolution with stride s and no padding reads only the pixels (i s, j s): it runs as
// a stride-1 one on that sampled grid (and its input gradient is zero elsewhere).
//
// Threads (one level, OpenMP): work items are chunks of images, each converted into the
// taking thread's own buffers (L2-sized) and swept by every channel group; threads take
// items dynamically, so on a shared machine a thread that loses its core does fewer items
// instead of the other waiting for it at the join (with fewer images than threads, ranges
// of channel groups are the items). The weight gradient cuts the images into a fixed number
// of lanes with one partial sum each, added in lane order: results do not depend on the
// thread schedule.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/conv_paths.h"

#if SLAB_CONV_AVX512
#include "core/cpu/conv_avx512.h"
#elif SLAB_CONV_AVX2
#include "core/cpu/conv_avx2.h"
#endif

namespace slab::cpu::conv {

#if SLAB_CONV_AVX512 || SLAB_CONV_AVX2

namespace {

#if SLAB_CONV_AVX512
using namespace avx512;
#else
using namespace avx2;
#endif

// Images are converted and swept by every channel group a chunk of about this size at a
// time: the chunk stays in L2 while weights too large for it stream once per chunk.
constexpr int64_t kChunkBytes = 1 << 20;

// The NCHW images a path reads its input from: every (step_h, step_w)-th pixel of images
// [channels][height][width] (steps of 1: all of it). A 1x1 convolution with stride s and no
// padding reads only the pixels (i s, j s): it runs as a stride-1 one on that sampled grid.
struct InputImages {
  const float* data;
  int64_t channels, height, width, step_h = 1, step_w = 1;

  void to_blocked(int64_t n, const Blocked& layout, float* dst) const {
    const float* image = data + n * channels * height * width;
    if (step_h == 1 && step_w == 1)
      blocked::to_blocked<Isa>(image, height, width, layout, dst);
    else
      to_blocked_sampled(image, height, width, step_h, step_w, layout, dst);
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

// Input channels of the blocked layout, padding included.
int64_t padded_inputs(int64_t c_in) { return round_up(c_in, channel_block<Isa>(c_in)); }

// Floats of the packed gather weights of a c_out x c_in convolution with `taps` taps.
int64_t packed_gather_size(int64_t c_out, int64_t c_in, int64_t taps) {
  return round_up(c_out, kLanes) * padded_inputs(c_in) * taps;
}

// Weights [c_out][c_in][kh][kw] packed as [ceil(c_out / L)][ceil(c_in / cb)][kh][kw][cb][L],
// the forward's reduction order, zeros for padding channels. flip_transpose packs the
// input-gradient kernel instead: output channel o' = input channel c, input channel c' =
// output channel o, taps mirrored.
void pack_gather_weights(const float* w, int64_t c_out, int64_t c_in, int64_t kh, int64_t kw, bool flip_transpose,
                         float* packed) {
  const int64_t cb = channel_block<Isa>(c_in), taps = kh * kw, blocks_in = block_count(c_in, cb);
  const int64_t out_blocks = block_count(c_out, kLanes), block_floats = blocks_in * cb * taps * kLanes;
  // Written in order; the reads gather L rows (one per output channel of the block).
#pragma omp parallel for schedule(static) if (c_out * c_in * taps > 65536)
  for (int64_t out_block = 0; out_block < out_blocks; ++out_block) {
    float* dst = packed + out_block * block_floats;
    for (int64_t in_block = 0; in_block < blocks_in; ++in_block)
      for (int64_t p = 0; p < kh; ++p)
        for (int64_t q = 0; q < kw; ++q)
          for (int64_t ci = 0; ci < cb; ++ci)
            for (int64_t lane = 0; lane < kLanes; ++lane, ++dst) {
              const int64_t o = out_block * kLanes + lane, c = in_block * cb + ci;
              if (o >= c_out || c >= c_in)
                *dst = 0.0f;
              else
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
  plan.tile = choose_tile(round_up(g.c_out, kLanes), g.out_w);
  plan.out_h_pad = round_up(g.out_h, plan.tile.R);
  plan.out_w_pad = round_up(g.out_w, plan.tile.U);
  const int64_t cb = channel_block<Isa>(g.c_in);
  const int64_t rows =
      std::max(g.height + 2 * g.pad_h, (plan.out_h_pad - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1);
  const int64_t cols =
      std::max(g.width + 2 * g.pad_w, (plan.out_w_pad - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1);
  plan.in = Blocked{cb, block_count(g.c_in, cb), rows, cols, g.pad_h, g.pad_w, g.c_in};
  thread_local std::vector<int64_t> segments;  // reused: no allocation once grown
  segments.clear();
  for (int64_t block = 0; block < plan.in.blocks; ++block)
    for (int64_t p = 0; p < g.kernel_h; ++p)
      for (int64_t q = 0; q < g.kernel_w; ++q)
        segments.push_back(block * plan.in.plane() + (p * g.dilation_h * cols + q * g.dilation_w) * cb);
  plan.segments = segments.data();
  plan.segment_count = static_cast<int64_t>(segments.size());
  plan.kernel = select_gather_kernel<Isa>(plan.tile, cb, g.stride_w);
  return plan;
}

// Output channel blocks [group B, group B + B) of one image, from its blocked input, written
// straight into the NCHW output (with the bias).
void gather_group(const GatherPlan& plan, const float* x_blocked, const float* packed, int64_t group, const float* bias,
                  float* out_image) {
  const Geometry& g = plan.g;
  const Tile& t = plan.tile;
  const int64_t cb = plan.in.cb, cols = plan.in.cols;
  const int64_t segment_count = plan.segment_count;
  const int64_t w_block = segment_count * cb * kLanes;
  const float* w = packed + group * t.B * w_block;
  const int64_t first_channel = group * t.B * kLanes;
  TileOutput o{nullptr, g.out_w, g.out_pixels(), kLanes * g.out_pixels()};
  o.bias = bias != nullptr ? bias + first_channel : nullptr;
  o.valid_channels = g.c_out - first_channel;
  for (int64_t oh = 0; oh < g.out_h; oh += t.R)
    for (int64_t ow = 0; ow < g.out_w; ow += t.U) {
      o.out = out_image + first_channel * g.out_pixels() + oh * g.out_w + ow;
      o.valid_rows = g.out_h - oh;
      o.valid_cols = g.out_w - ow;
      plan.kernel(x_blocked + (oh * g.stride_h * cols + ow * g.stride_w) * cb, g.stride_h * cols * cb, plan.segments,
                  segment_count, w, w_block, o);
    }
}

// How threads split a convolution over images and channel groups. With at least as many
// images as threads, chunks of images are taken dynamically (a thread that loses its core on
// a shared machine then does fewer, instead of the other waiting for it), every chunk with
// all groups. With fewer images, each thread takes a fixed range of groups and all images.
struct WorkSplit {
  int64_t images, groups, chunk;
  bool by_images;

  WorkSplit(int64_t images_, int64_t groups_, int64_t chunk_bytes_limit, int64_t image_bytes)
      : images(images_), groups(groups_) {
    const int threads = omp_get_max_threads();
    by_images = images >= threads;
    // Chunks small enough for L2 and for at least four per thread, to balance.
    chunk = std::clamp<int64_t>(chunk_bytes_limit / std::max<int64_t>(image_bytes, 1), 1,
                                std::max<int64_t>(1, images / (4 * threads)));
    if (!by_images) chunk = std::max<int64_t>(images, 1);
  }
  int64_t items() const { return by_images ? (images + chunk - 1) / chunk : omp_get_max_threads(); }
  // Item i: images [image_begin, image_end) x groups [group_begin, group_end).
  void item(int64_t i, int64_t& image_begin, int64_t& image_end, int64_t& group_begin, int64_t& group_end) const {
    if (by_images) {
      image_begin = i * chunk;
      image_end = std::min(images, image_begin + chunk);
      group_begin = 0;
      group_end = groups;
    } else {
      const int64_t parts = omp_get_max_threads();
      image_begin = 0;
      image_end = images;
      group_begin = groups * i / parts;
      group_end = groups * (i + 1) / parts;
    }
  }
};

// Each work item converts its images (a chunk that stays in L2) and sweeps its channel groups
// over them: weights too large for L2 are read once per chunk, not once per image.
void gather_convolution(const Geometry& g, const InputImages& input, const float* packed, const float* bias,
                        float* out) {
  const GatherPlan plan = plan_gather(g);
  const int64_t image_floats = plan.in.image();
  const WorkSplit split(g.batch, block_count(g.c_out, kLanes) / plan.tile.B, kChunkBytes,
                        image_floats * static_cast<int64_t>(sizeof(float)));
#pragma omp parallel
  {
    float* x_chunk =
        static_cast<float*>(thread_scratch(static_cast<size_t>(split.chunk * image_floats) * sizeof(float), 1));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < split.items(); ++item) {
      int64_t image_begin, image_end, group_begin, group_end;
      split.item(item, image_begin, image_end, group_begin, group_end);
      for (int64_t n = image_begin; n < image_end; ++n)
        input.to_blocked(n, plan.in, x_chunk + (n - image_begin) * image_floats);
      for (int64_t group = group_begin; group < group_end; ++group)
        for (int64_t n = image_begin; n < image_end; ++n)
          gather_group(plan, x_chunk + (n - image_begin) * image_floats, packed, group, bias,
                       out + n * g.c_out * g.out_pixels());
    }
  }
}

// ---- input gradient by output phases (strides above 1) ----------------------------------

// With stride s, input row y = s i + r (phase r < s) is read by tap p exactly when
// r + pad - p d is a multiple of s, from output row i + (r + pad - p d) / s. So each phase
// (r_h, r_w) of dx is a stride-1 correlation of dy with the taps of that phase:
//   dx[c][s_h i + r_h][s_w j + r_w] = sum over o, p in taps(r_h), q in taps(r_w) of
//       W[o][c][p][q] dy[o][i + offset(r_h, p)][j + offset(r_w, q)]
// which the gather micro-kernel computes with vectors over L input channels: every dx
// element written once, no read-modify-write. Phases without taps are zero.
struct PhaseAxis {
  int64_t phases = 1;                               // = stride
  std::vector<std::vector<int64_t>> taps, offsets;  // per phase: its taps and their dy offsets
  int64_t low = 0, high = 0;                        // smallest and largest offset of any phase
  int64_t extent_pad = 0;                           // phase extent rounded up to the tile, max over phases

  // Refills in place: vectors keep their capacity, so a steady state allocates nothing.
  void plan(int64_t stride, int64_t pad, int64_t kernel, int64_t dilation, int64_t extent, int64_t tile) {
    phases = stride;
    taps.resize(static_cast<size_t>(stride));
    offsets.resize(static_cast<size_t>(stride));
    bool first = true;
    extent_pad = 0;
    for (int64_t r = 0; r < stride; ++r) {
      taps[static_cast<size_t>(r)].clear();
      offsets[static_cast<size_t>(r)].clear();
      for (int64_t p = 0; p < kernel; ++p) {
        const int64_t v = r + pad - p * dilation;
        if (((v % stride) + stride) % stride != 0) continue;
        taps[static_cast<size_t>(r)].push_back(p);
        offsets[static_cast<size_t>(r)].push_back(v / stride);
        low = first ? v / stride : std::min(low, v / stride);
        high = first ? v / stride : std::max(high, v / stride);
        first = false;
      }
      extent_pad = std::max(extent_pad, round_up(phase_extent(r, extent), tile));
    }
  }
  int64_t phase_extent(int64_t r, int64_t extent) const { return extent > r ? (extent - r + phases - 1) / phases : 0; }
};

// W [c_out][c_in][kh][kw] packed per phase as [c_in / L][(p, q, o-block) of the phase][L o][L c],
// phases one after the other, both channel counts padded to multiples of L with zeros;
// returns each phase's start in `starts`.
void pack_phase_weights(const float* w, const Geometry& g, const PhaseAxis& rows, const PhaseAxis& cols, float* packed,
                        std::vector<int64_t>& starts) {
  const int64_t c_out_padded = round_up(g.c_out, kLanes), c_in_padded = round_up(g.c_in, kLanes);
  starts.clear();
  int64_t start = 0;
  for (int64_t ry = 0; ry < rows.phases; ++ry)
    for (int64_t rx = 0; rx < cols.phases; ++rx) {
      starts.push_back(start);
      start +=
          static_cast<int64_t>(rows.taps[static_cast<size_t>(ry)].size() * cols.taps[static_cast<size_t>(rx)].size()) *
          c_out_padded * c_in_padded;
    }
  const int64_t phase_count = rows.phases * cols.phases;
#pragma omp parallel for collapse(2) schedule(static) if (g.c_out * g.c_in * g.taps() > 65536)
  for (int64_t phase = 0; phase < phase_count; ++phase)
    for (int64_t in_block = 0; in_block < c_in_padded / kLanes; ++in_block) {
      const auto& taps_y = rows.taps[static_cast<size_t>(phase / cols.phases)];
      const auto& taps_x = cols.taps[static_cast<size_t>(phase % cols.phases)];
      const int64_t segment_floats = c_out_padded * kLanes * static_cast<int64_t>(taps_y.size() * taps_x.size());
      float* dst = packed + starts[static_cast<size_t>(phase)] + in_block * segment_floats;
      for (int64_t p : taps_y)
        for (int64_t q : taps_x)
          for (int64_t o = 0; o < c_out_padded; ++o)
            for (int64_t lane = 0; lane < kLanes; ++lane, ++dst) {
              const int64_t c = in_block * kLanes + lane;
              *dst = o < g.c_out && c < g.c_in ? w[((o * g.c_in + c) * g.kernel_h + p) * g.kernel_w + q] : 0.0f;
            }
    }
}

void phase_input_gradient(const Geometry& g, const float* grad_out, const float* weight, float* grad_x) {
  // Input-channel blocks x phase pixels.
  const Tile t = choose_tile(round_up(g.c_in, kLanes), (g.width + g.stride_w - 1) / g.stride_w);
  thread_local PhaseAxis reusable_rows, reusable_cols;
  PhaseAxis& rows = reusable_rows;  // named references: worker threads read these
  PhaseAxis& cols = reusable_cols;
  rows.plan(g.stride_h, g.pad_h, g.kernel_h, g.dilation_h, g.height, t.R);
  cols.plan(g.stride_w, g.pad_w, g.kernel_w, g.dilation_w, g.width, t.U);
  // dy blocked with zeros around it, so every tap of every phase tile reads inside.
  const int64_t top = std::max<int64_t>(0, -rows.low), left = std::max<int64_t>(0, -cols.low);
  const Blocked dy_layout{kLanes,
                          block_count(g.c_out, kLanes),
                          top + std::max(g.out_h, rows.extent_pad + rows.high),
                          left + std::max(g.out_w, cols.extent_pad + cols.high),
                          top,
                          left,
                          g.c_out};
  // dx blocked without padding, its rows and columns rounded up to whole tiles of every phase.
  const int64_t dx_rows = std::max(g.height, rows.phases * rows.extent_pad);
  const int64_t dx_cols = std::max(g.width, cols.phases * cols.extent_pad);
  const int64_t dx_plane = dx_rows * dx_cols * kLanes, dx_image = block_count(g.c_in, kLanes) * dx_plane;

  Tensor packed = Tensor::empty({round_up(g.c_out, kLanes) * round_up(g.c_in, kLanes) * g.taps()});
  thread_local std::vector<int64_t> reusable_starts, reusable_segments, reusable_phase_segments;
  std::vector<int64_t>& starts = reusable_starts;  // named references: worker threads read these
  std::vector<int64_t>& segments = reusable_segments;
  std::vector<int64_t>& phase_first_segment = reusable_phase_segments;
  pack_phase_weights(weight, g, rows, cols, packed.data<float>(), starts);
  segments.clear();
  phase_first_segment.clear();
  for (int64_t ry = 0; ry < rows.phases; ++ry)
    for (int64_t rx = 0; rx < cols.phases; ++rx) {
      phase_first_segment.push_back(static_cast<int64_t>(segments.size()));
      const auto& oy = rows.offsets[static_cast<size_t>(ry)];
      const auto& ox = cols.offsets[static_cast<size_t>(rx)];
      for (int64_t dy_offset : oy)
        for (int64_t dx_offset : ox)
          for (int64_t block = 0; block < dy_layout.blocks; ++block)
            segments.push_back(block * dy_layout.plane() + (dy_offset * dy_layout.cols + dx_offset) * kLanes);
    }
  phase_first_segment.push_back(static_cast<int64_t>(segments.size()));
  const TileKernel kernel = Isa::kernel_for_tile<kLanes, kLanes, Epilogue::store_blocked>(t);
  const int64_t groups = block_count(g.c_in, kLanes) / t.B;

  // One image's dx planes of input-channel group `group`, phase by phase.
  auto phase_group = [&](const float* dy_blocked, int64_t group, float* dx_blocked) {
    for (int64_t ry = 0; ry < rows.phases; ++ry)
      for (int64_t rx = 0; rx < cols.phases; ++rx) {
        const int64_t phase = ry * cols.phases + rx;
        const int64_t first = phase_first_segment[static_cast<size_t>(phase)];
        const int64_t count = phase_first_segment[static_cast<size_t>(phase) + 1] - first;
        const int64_t height = rows.phase_extent(ry, g.height), width = cols.phase_extent(rx, g.width);
        float* target = dx_blocked + group * t.B * dx_plane + (ry * dx_cols + rx) * kLanes;
        if (count == 0) {  // no tap reads these positions: their gradient is zero
          for (int64_t b = 0; b < t.B; ++b)
            for (int64_t i = 0; i < height; ++i)
              for (int64_t j = 0; j < width; ++j)
                Isa::storeu(target + b * dx_plane + (i * rows.phases * dx_cols + j * cols.phases) * kLanes,
                            Isa::zero());
          continue;
        }
        const float* w =
            packed.data<float>() + starts[static_cast<size_t>(phase)] + group * t.B * count * kLanes * kLanes;
        for (int64_t i = 0; i < height; i += t.R)
          for (int64_t j = 0; j < width; j += t.U) {
            const TileOutput o{target + (i * rows.phases * dx_cols + j * cols.phases) * kLanes,
                               rows.phases * dx_cols * kLanes, cols.phases * kLanes, dx_plane};
            kernel(dy_blocked + ((top + i) * dy_layout.cols + left + j) * kLanes, dy_layout.cols * kLanes,
                   segments.data() + first, count, w, count * kLanes * kLanes, o);
          }
      }
  };
  // Work items: chunks of images with all groups, or (few images) ranges of groups.
  const WorkSplit split(g.batch, groups, kChunkBytes,
                        (dy_layout.image() + dx_image) * static_cast<int64_t>(sizeof(float)));
#pragma omp parallel
  {
    float* dy_chunk =
        static_cast<float*>(thread_scratch(static_cast<size_t>(split.chunk * dy_layout.image()) * sizeof(float), 1));
    float* dx_chunk =
        static_cast<float*>(thread_scratch(static_cast<size_t>(split.chunk * dx_image) * sizeof(float), 2));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < split.items(); ++item) {
      int64_t image_begin, image_end, group_begin, group_end;
      split.item(item, image_begin, image_end, group_begin, group_end);
      const int64_t plane_begin = group_begin * t.B, plane_count = (group_end - group_begin) * t.B;
      for (int64_t n = image_begin; n < image_end; ++n)
        to_blocked<Isa>(grad_out + n * g.c_out * g.out_pixels(), g.out_h, g.out_w, dy_layout,
                   dy_chunk + (n - image_begin) * dy_layout.image());
      for (int64_t group = group_begin; group < group_end; ++group)
        for (int64_t n = image_begin; n < image_end; ++n)
          phase_group(dy_chunk + (n - image_begin) * dy_layout.image(), group, dx_chunk + (n - image_begin) * dx_image);
      for (int64_t n = image_begin; n < image_end; ++n)
        from_blocked_channels<Isa>(dx_chunk + (n - image_begin) * dx_image + plane_begin * dx_plane,
                     std::min(plane_count * kLanes, g.c_in - plane_begin * kLanes), dx_rows, dx_cols, 0, 0, g.height,
                     g.width, nullptr, grad_x + (n * g.c_in + plane_begin * kLanes) * g.in_pixels());
    }
  }
}

// ---- weight gradient ---------------------------------------------------------------------
// One piece of the reduction: `entries` consecutive K' entries from k_begin, reading x at
// x_offset (within the padded image, relative to the output pixel's top-left input).
struct Run {
  int64_t block;     // input channel block
  int64_t k_begin;   // first packed reduction index
  int64_t x_offset;  // floats from the pixel's base in the block's plane
};

void weight_gradient(const Geometry& g, const float* grad_out, const InputImages& input, float* grad_weight) {
  const int64_t cb = channel_block<Isa>(g.c_in);
  const Blocked x_layout{cb,      block_count(g.c_in, cb), g.height + 2 * g.pad_h, g.width + 2 * g.pad_w,
                         g.pad_h, g.pad_w,                 g.c_in};
  // dy's channels padded with zeros to whole vectors: the padding rows of dW are dropped.
  const int64_t c_out_padded = round_up(g.c_out, kLanes);
  const Blocked dy_layout{kLanes, c_out_padded / kLanes, g.out_h, g.out_w, 0, 0, g.c_out};
  const int B = c_out_padded % (2 * kLanes) == 0 ? 2 : 1;
  const int64_t taps = g.taps(), k_total = x_layout.blocks * cb * taps;  // packed reduction length
  // Runs: with dilation 1 the (q, c) entries of one kernel row are consecutive in x.
  const bool row_runs = g.dilation_w == 1;
  const int64_t run_length = row_runs ? g.kernel_w * cb : cb;
  const int64_t chunk = weight_chunk(run_length, B);
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
  const int64_t groups = c_out_padded / kLanes / B;
  const int64_t packed_size = c_out_padded * k_total;

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
    to_blocked<Isa>(grad_out + n * g.c_out * g.out_pixels(), g.out_h, g.out_w, dy_layout, dy_blocked);
  };
  const int threads = omp_get_max_threads();
  const int64_t pairs = groups * x_layout.blocks;
  // The images are cut into a fixed number of lanes, each summing into its own partial; threads
  // take lanes dynamically and the partials are added in lane order below, so the result does
  // not depend on which thread ran what.
  const int64_t lanes = std::min<int64_t>(g.batch, 2 * threads);
  Tensor partials = Tensor::empty({lanes, packed_size});
  // Within a lane, images a chunk at a time, small enough that the runs of one (group, block)
  // pair, which all sweep the same images, find them in L2.
  const int64_t per_image = (x_layout.image() + dy_layout.image()) * static_cast<int64_t>(sizeof(float));
  const int64_t images_per_chunk = std::clamp<int64_t>(kChunkBytes / std::max<int64_t>(per_image, 1), 1, g.batch);
#pragma omp parallel
  {
    float* x_chunk = static_cast<float*>(
        thread_scratch(static_cast<size_t>(images_per_chunk * x_layout.image()) * sizeof(float), 1));
    float* dy_chunk = static_cast<float*>(
        thread_scratch(static_cast<size_t>(images_per_chunk * dy_layout.image()) * sizeof(float), 2));
#pragma omp for schedule(dynamic, 1)
    for (int64_t lane = 0; lane < lanes; ++lane) {
      float* dw = partials.data<float>() + lane * packed_size;
      std::memset(dw, 0, static_cast<size_t>(packed_size) * sizeof(float));
      const int64_t first = g.batch * lane / lanes, last = g.batch * (lane + 1) / lanes;
      for (int64_t begin = first; begin < last; begin += images_per_chunk) {
        const int64_t count = std::min(images_per_chunk, last - begin);
        for (int64_t i = 0; i < count; ++i)
          convert(begin + i, x_chunk + i * x_layout.image(), dy_chunk + i * dy_layout.image());
        for (int64_t pair = 0; pair < pairs; ++pair)
          accumulate(x_chunk, dy_chunk, pair / x_layout.blocks, pair % x_layout.blocks, count, dw);
      }
    }
  }
  // Unpack [c_out / L][k][L] (summing the partials in thread order) into [c_out][c_in][kh][kw],
  // leaving out the padding channels.
  const float* packed = partials.data<float>();
  const int64_t parts = lanes;
#pragma omp parallel for schedule(static) if (packed_size > 65536)
  for (int64_t o = 0; o < g.c_out; ++o) {
    const float* source = packed + (o / kLanes) * k_total * kLanes + o % kLanes;
    float* dst = grad_weight + o * g.c_in * taps;
    for (int64_t block = 0; block < x_layout.blocks; ++block)
      for (int64_t ci = 0; ci < x_layout.valid(block); ++ci)
        for (int64_t tap = 0; tap < taps; ++tap, ++dst) {
          const int64_t index = ((block * taps + tap) * cb + ci) * kLanes;
          float total = 0;
          for (int64_t part = 0; part < parts; ++part) total += source[part * packed_size + index];
          *dst = total;
        }
  }
}

}  // namespace

// Every channel count (padded internally, see the top of this file); every pass.
bool blocked_supports(const Geometry& g, DType dtype, Pass) {
  return dtype == DType::f32 && g.groups == 1 && g.stride_w <= 2;
}

void blocked_forward(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out) {
  Tensor packed = Tensor::empty({packed_gather_size(g.c_out, g.c_in, g.taps())});
  pack_gather_weights(weight.data<float>(), g.c_out, g.c_in, g.kernel_h, g.kernel_w, false, packed.data<float>());
  const InputImages input{x.data<float>(), g.c_in, g.height, g.width, g.stride_h, g.stride_w};
  const bool sampled = strided_pointwise(g);
  gather_convolution(sampled ? sampled_geometry(g) : g,
                     sampled ? input : InputImages{x.data<float>(), g.c_in, g.height, g.width}, packed.data<float>(),
                     bias.defined() ? bias.data<float>() : nullptr, out.data<float>());
}

void blocked_backward_input(const Geometry& g, const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x) {
  Tensor packed = Tensor::empty({packed_gather_size(g.c_in, g.c_out, g.taps())});
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
    const Geometry flipped{g.batch,       g.c_out,      g.out_h,      g.out_w, g.c_in, g.kernel_h,
                           g.kernel_w,    g.height,     g.width,      1,       1,      flipped_pad_h,
                           flipped_pad_w, g.dilation_h, g.dilation_w, 1};
    pack_gather_weights(weight.data<float>(), g.c_in, g.c_out, g.kernel_h, g.kernel_w, true, packed.data<float>());
    gather_convolution(flipped, InputImages{grad_out.data<float>(), g.c_out, g.out_h, g.out_w}, packed.data<float>(),
                       nullptr, grad_x.data<float>());
    return;
  }
  phase_input_gradient(g, grad_out.data<float>(), weight.data<float>(), grad_x.data<float>());
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

#else  // neither AVX-512 nor AVX2: the im2col path does everything

bool blocked_supports(const Geometry&, DType, Pass) { return false; }
void blocked_forward(const Geometry&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  SLAB_FAIL("conv2d: the channel-blocked path needs AVX-512 or AVX2 with FMA");
}
void blocked_backward_input(const Geometry&, const Tensor&, const Tensor&, const Tensor&) {
  SLAB_FAIL("conv2d: the channel-blocked path needs AVX-512 or AVX2 with FMA");
}
void blocked_backward_weight(const Geometry&, const Tensor&, const Tensor&, const Tensor&) {
  SLAB_FAIL("conv2d: the channel-blocked path needs AVX-512 or AVX2 with FMA");
}

#endif

}  // namespace slab::cpu::conv
