// Direct bf16 convolution on the AMX tile units, without an im2col matrix: the forward pass,
// the input gradient as a forward convolution (amx_backward_input) and the weight gradient
// as a product over pixels (amx_backward_weight).
//
// The product. For one image, out[o, p] = bias[o] + sum_{c, kh, kw} w[o, c, kh, kw] x[c, in(p, kh, kw)]
// with bf16(w), bf16(x) and float32 sums (docs/algorithm.md#bf16-matrix-products). One
// TDPBF16PS computes C[16 x 16] += A[16 x 32] B[32 x 16] in float32 with bf16 A and B:
//   A = the weights of 16 output channels at one tap (kh, kw) for 32 input channels, row-major
//       (row o, 32 bf16 of c): packed once per call, zero past c_out and c_in;
//   B = 32 input channels of 16 output pixels at that tap, in the pair layout of a B tile:
//       row q holds (x[2q, pixel j], x[2q + 1, pixel j]) for the 16 pixels j;
//   C = 16 output channels x 16 output pixels, float32: its rows are rows of the NCHW output.
// The sum over taps and channel blocks of 32 stays in the C tiles; bias is loaded into them
// first. Four C tiles (2 blocks of 16 channels x 2 chunks of 16 pixels) take each A and B
// tile twice: 4 loads per 4 products.
//
// The activation layout that makes B a plain tile load. With stride s and padding, output
// pixel (oh, ow) at tap (kh, kw) reads padded input (oh s + kh, ow s + kw). Split the padded
// input into s_h x s_w phases, phase (ry, rx) holding padded positions (qy s_h + ry,
// qx s_w + rx) on a grid of Hq x Wq (Hq = out_h + (k_h - 1) / s_h, Wq = out_w + (k_w - 1) / s_w).
// Then the tap reads phase (kh % s_h, kw % s_w) at grid position (oh + kh / s_h, ow + kw / s_w),
// and in the flattened grid index j = oh Wq + ow the read is j + (kh / s_h) Wq + kw / s_w: 16
// consecutive j are 16 consecutive grid positions for every tap. So each image is repacked
// once (float32 -> bf16 rounding fused into the repack, zeros for the padding and for the
// channels past c_in) as
//     [channel block of 32][phase][channel pair q: 16][grid position j: plane][2] bf16,
// and a B tile is 16 rows of 64 bytes at a stride of one pair plane. Grid columns ow >= out_w
// compute outputs nobody reads; a plane has slack after Hq Wq so a chunk's reads stay inside.
//
// Which 16 j a chunk covers: row chunks (16 consecutive ow of one output row; the tile stores
// straight into the output with a row stride of out_h out_w floats) where they need no more
// tiles than flat chunks (out_w a multiple of 16, for one), else flat chunks (16 consecutive
// j across rows, whose C tile goes through a scratch tile and is scattered to the valid
// pixels). Pixels, not channels, are the tile columns so that a C row is a row of the NCHW
// output (no transpose on the store) and the repack of an NCHW image interleaves two
// channel planes at a time.
//
// The gradients (at amx_backward_input and amx_backward_weight): the input gradient is this
// forward kernel on dy with transposed, rotated weights; the weight gradient makes the
// pixels its reduction, with x as A (any start column, so the taps need no repack) and dy as
// B in pairs of pixels.
//
// The numerics are the bf16 contract of core/precision.h: the same bf16 inputs as the im2col
// path, float32 sums in the tile's own order, within the bound of docs/algorithm.md.
#include <immintrin.h>

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/bf16.h"
#include "core/cpu/conv_paths.h"
#include "core/cpu/gemm_bf16_kernels.h"
#include "core/cpu/matrix_units.h"
#include "core/precision.h"

namespace slab::cpu::conv {

namespace {

constexpr int64_t kTile = 16;           // output channels of an A tile, pixels of a B tile
constexpr int64_t kChannelBlock = 32;   // input channels per tile product
constexpr int64_t kPairs = kChannelBlock / 2;
constexpr int64_t kTileElements = kTile * kChannelBlock;

struct Layout {
  int64_t phases_h, phases_w;  // phases a tap can read: min(stride, kernel) per axis
  int64_t grid_h, grid_w;      // Hq, Wq
  int64_t plane;               // grid positions per pair plane (with slack), a multiple of 16
  int64_t channel_blocks;      // ceil(c_in / 32)
  int64_t oc_blocks;           // ceil(c_out / 16)
  bool row_chunks;
  // The input read is a zero-dilated image (the input gradient of a strided layer): the
  // source has source_h x source_w pixels at every dilation-th position of height x width.
  int64_t source_h, source_w, dilation_h = 1, dilation_w = 1;
  std::vector<int64_t> chunk_start;  // j of each chunk's first pixel
  std::vector<int64_t> chunk_dest;   // output pixel of a row chunk's first pixel, -1 for a scattered chunk
  std::vector<int32_t> scatter;      // per chunk, 16 output pixels (-1: not an output)
  // The K slots of the tile products (pair_taps): each slot reads its first tap's phase at
  // its shift; a tap's weights sit in slot tap_slot[t] at K offset tap_offset[t].
  bool paired = false;
  std::vector<int64_t> slot_phase, slot_shift, tap_slot, tap_offset;
  int64_t slots() const { return static_cast<int64_t>(slot_phase.size()); }
  int64_t image_elements() const { return channel_blocks * phases_h * phases_w * kPairs * plane * 2; }
  int64_t phase_elements() const { return kPairs * plane * 2; }
};

Layout make_layout(const Geometry& g, int64_t dilation_h = 1, int64_t dilation_w = 1) {
  Layout l;
  l.dilation_h = dilation_h;
  l.dilation_w = dilation_w;
  l.source_h = (g.height - 1) / dilation_h + 1;
  l.source_w = (g.width - 1) / dilation_w + 1;
  l.phases_h = std::min(g.stride_h, g.kernel_h);
  l.phases_w = std::min(g.stride_w, g.kernel_w);
  l.grid_h = g.out_h + (g.kernel_h - 1) / g.stride_h;
  l.grid_w = g.out_w + (g.kernel_w - 1) / g.stride_w;
  l.channel_blocks = (g.c_in + kChannelBlock - 1) / kChannelBlock;
  l.oc_blocks = (g.c_out + kTile - 1) / kTile;
  const int64_t row_tiles = (g.out_w + kTile - 1) / kTile;
  const int64_t flat_tiles = (g.out_h * l.grid_w + kTile - 1) / kTile;
  l.row_chunks = row_tiles * g.out_h <= flat_tiles;
  if (l.row_chunks) {
    for (int64_t oh = 0; oh < g.out_h; ++oh)
      for (int64_t t = 0; t < row_tiles; ++t) l.chunk_start.push_back(oh * l.grid_w + t * kTile);
  } else {
    for (int64_t t = 0; t < flat_tiles; ++t) l.chunk_start.push_back(t * kTile);
  }
  for (int64_t j0 : l.chunk_start) {
    const int64_t oh0 = j0 / l.grid_w, ow0 = j0 % l.grid_w;
    const bool whole = ow0 + kTile <= g.out_w;  // 16 valid pixels of one output row
    l.chunk_dest.push_back(whole ? oh0 * g.out_w + ow0 : -1);
    for (int64_t i = 0; i < kTile; ++i) {
      const int64_t j = j0 + i, oh = j / l.grid_w, ow = j % l.grid_w;
      l.scatter.push_back(oh < g.out_h && ow < g.out_w ? static_cast<int32_t>(oh * g.out_w + ow) : -1);
    }
  }
  // The furthest position a chunk reads: its last pixel at the furthest tap.
  const int64_t last_read = l.chunk_start.back() + kTile - 1 + (g.kernel_h - 1) / g.stride_h * l.grid_w +
                            (g.kernel_w - 1) / g.stride_w;
  l.plane = (std::max(last_read + 1, l.grid_h * l.grid_w) + kTile - 1) / kTile * kTile;
  // One K slot per tap (pair_taps may pair them).
  for (int64_t kh = 0; kh < g.kernel_h; ++kh)
    for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
      l.tap_slot.push_back(l.slots());
      l.tap_offset.push_back(0);
      l.slot_phase.push_back((kh % g.stride_h) * l.phases_w + kw % g.stride_w);
      l.slot_shift.push_back(kh / g.stride_h * l.grid_w + kw / g.stride_w);
    }
  return l;
}

// Tap pairs for layers of at most 16 input channels, whose tile products would otherwise
// spend half of every 32-channel K on zeros. Taps (kh, kw) and (kh, kw + s_w) read the same
// phase one grid position apart, so the image is packed with a second copy of its 16
// channels, shifted by one position, in pairs 8-15 of the B rows (pack_image), and one
// product takes both taps: K = 16 channels at the first tap, then 16 at its partner. A 3x3
// stride-1 layer then runs 6 products per output tile instead of 9.
void pair_taps(const Geometry& g, Layout& l) {
  if (g.c_in > kPairs || g.kernel_w <= g.stride_w) return;
  l.paired = true;
  l.slot_phase.clear();
  l.slot_shift.clear();
  l.tap_slot.assign(static_cast<size_t>(g.taps()), 0);
  l.tap_offset.assign(static_cast<size_t>(g.taps()), 0);
  for (int64_t kh = 0; kh < g.kernel_h; ++kh)
    for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
      if (kw / g.stride_w % 2 == 1) continue;  // a partner: placed with the tap s_w before it
      const int64_t tap = kh * g.kernel_w + kw, slot = l.slots();
      l.tap_slot[static_cast<size_t>(tap)] = slot;
      if (kw + g.stride_w < g.kernel_w) {
        l.tap_slot[static_cast<size_t>(tap + g.stride_w)] = slot;
        l.tap_offset[static_cast<size_t>(tap + g.stride_w)] = kTile;
      }
      l.slot_phase.push_back((kh % g.stride_h) * l.phases_w + kw % g.stride_w);
      l.slot_shift.push_back(kh / g.stride_h * l.grid_w + kw / g.stride_w);
    }
}

// Weights as A tiles: [oc block][K slot][channel block] tiles of 16 x 32 bf16 (a slot is one
// tap, or a pair of taps: pair_taps). With `flipped`,
// the weights of the input gradient: w is [c_in, c_out, k_h, k_w] of the forward layer whose
// input gradient this geometry computes, read transposed and rotated by 180 degrees.
void pack_weights(const Geometry& g, const Layout& l, const float* w, bool flipped, std::vector<bf16_bits>& packed) {
  const int64_t taps = g.taps(), slots = l.slots();
  packed.assign(static_cast<size_t>(l.oc_blocks * slots * l.channel_blocks * kTileElements), 0);
  bf16_bits* to = packed.data();
  // Weight (o, c, t) is base[c step] with base and step from o and t; 16 c at a time by a
  // gather where the offsets fit its 32-bit indices.
  const int64_t step = flipped ? g.c_out * taps : taps;
  const bool gather = step * g.c_in < (int64_t{1} << 31);
  const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(static_cast<int>(gather ? step : 0)));
#pragma omp parallel for schedule(static) if (g.c_out * g.c_in * taps > (1 << 16))
  for (int64_t o = 0; o < g.c_out; ++o)
    for (int64_t t = 0; t < taps; ++t) {
      bf16_bits* row = to + ((o / kTile * slots + l.tap_slot[static_cast<size_t>(t)]) * l.channel_blocks * kTile + o % kTile) *
                                kChannelBlock +
                       l.tap_offset[static_cast<size_t>(t)];
      const float* base = flipped ? w + o * taps + taps - 1 - t : w + o * g.c_in * taps + t;
      int64_t c = 0;
      if (gather)  // c is a multiple of 16: the 16 stay in one 32-channel row of a tile
        for (; c + kTile <= g.c_in; c += kTile)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + c / kChannelBlock * kTileElements + c % kChannelBlock),
                              _mm512_cvtepi32_epi16(bf16_lanes(_mm512_i32gather_ps(lanes, base + c * step, 4))));
      for (; c < g.c_in; ++c) row[c / kChannelBlock * kTileElements + c % kChannelBlock] = float_to_bf16(base[c * step]);
    }
}

// row[q] = src[q stride + offset] for the q < count where that is inside [0, width); the
// other entries are left as they are.
inline void gather_row(const float* src, int64_t width, int64_t stride, int64_t offset, int64_t count, float* row) {
  const int64_t first = std::max<int64_t>(0, (-offset + stride - 1) / stride);
  const int64_t last = std::min<int64_t>(count, (width - offset + stride - 1) / stride);
  if (stride == 1) {
    if (last > first) std::memcpy(row + first, src + first + offset, static_cast<size_t>(last - first) * sizeof(float));
    return;
  }
  for (int64_t q = first; q < last; ++q) row[q] = src[q * stride + offset];
}

// One image into the phase/pair layout. `row0`, `row1`: scratch rows of grid_w floats (+16).
void pack_image(const Geometry& g, const Layout& l, const float* x, bf16_bits* packed, float* row0, float* row1) {
  const int64_t grid_w = l.grid_w, padded_w = (grid_w + kTile - 1) / kTile * kTile;
  const int64_t pixels = l.source_h * l.source_w;
  // Gathers one grid row of one channel of a phase into `row` (zeros outside the image and
  // between the dilated source pixels).
  auto gather = [&](int64_t c, int64_t ry, int64_t rx, int64_t qy, float* row) {
    std::fill_n(row, padded_w, 0.0f);
    const int64_t y = qy * g.stride_h + ry - g.pad_h;
    if (c >= g.c_in || y < 0 || y >= g.height || y % l.dilation_h != 0) return;
    const float* src = x + c * pixels + y / l.dilation_h * l.source_w;
    if (l.dilation_w == 1) {
      gather_row(src, g.width, g.stride_w, rx - g.pad_w, grid_w, row);
      return;
    }
    for (int64_t qx = 0; qx < grid_w; ++qx) {
      const int64_t xx = qx * g.stride_w + rx - g.pad_w;
      if (xx >= 0 && xx < g.width && xx % l.dilation_w == 0) row[qx] = src[xx / l.dilation_w];
    }
  };
  for (int64_t cb = 0; cb < l.channel_blocks; ++cb)
    for (int64_t ry = 0; ry < l.phases_h; ++ry)
      for (int64_t rx = 0; rx < l.phases_w; ++rx) {
        bf16_bits* phase = packed + ((cb * l.phases_h + ry) * l.phases_w + rx) * l.phase_elements();
        for (int64_t q = 0; q < kPairs; ++q) {
          const int64_t c = cb * kChannelBlock + 2 * q;
          uint32_t* plane = reinterpret_cast<uint32_t*>(phase + q * l.plane * 2);
          if (l.paired && q >= kPairs / 2) {  // pair q - 8 one grid position on (pair_taps)
            const uint32_t* first = reinterpret_cast<const uint32_t*>(phase + (q - kPairs / 2) * l.plane * 2);
            std::memcpy(plane, first + 1, static_cast<size_t>(l.plane - 1) * sizeof(uint32_t));
            plane[l.plane - 1] = 0;
            continue;
          }
          if (c >= g.c_in) {
            std::memset(plane, 0, static_cast<size_t>(l.plane) * sizeof(uint32_t));
            continue;
          }
          for (int64_t qy = 0; qy < l.grid_h; ++qy) {
            gather(c, ry, rx, qy, row0);
            gather(c + 1, ry, rx, qy, row1);
            uint32_t* dst = plane + qy * grid_w;
            int64_t qx = 0;
            for (; qx + kTile <= grid_w; qx += kTile) {
              const __m512i even = bf16_lanes(_mm512_loadu_ps(row0 + qx));
              const __m512i odd = bf16_lanes(_mm512_loadu_ps(row1 + qx));
              _mm512_storeu_si512(dst + qx, _mm512_or_si512(even, _mm512_slli_epi32(odd, 16)));
            }
            if (qx < grid_w) {
              const __mmask16 tail = static_cast<__mmask16>((1u << (grid_w - qx)) - 1);
              const __m512i even = bf16_lanes(_mm512_loadu_ps(row0 + qx));
              const __m512i odd = bf16_lanes(_mm512_loadu_ps(row1 + qx));
              _mm512_mask_storeu_epi32(dst + qx, tail, _mm512_or_si512(even, _mm512_slli_epi32(odd, 16)));
            }
          }
          std::memset(plane + l.grid_h * grid_w, 0, static_cast<size_t>(l.plane - l.grid_h * grid_w) * sizeof(uint32_t));
        }
      }
}

struct alignas(64) FloatTile {
  float v[kTile * kTile];
};

constexpr int kTileStride = 64;  // bytes per row of every tile

// GCC's tile intrinsics paste their tile number into the instruction text, so it must be a
// literal: C tile 2 r + c (oc block r, chunk c) is reached through these switches.
void init_c(int tile, const float* bias_tile) {
  if (bias_tile != nullptr) {
    switch (tile) {
      case 0: _tile_loadd(0, bias_tile, kTileStride); break;
      case 1: _tile_loadd(1, bias_tile, kTileStride); break;
      case 2: _tile_loadd(2, bias_tile, kTileStride); break;
      default: _tile_loadd(3, bias_tile, kTileStride); break;
    }
    return;
  }
  switch (tile) {
    case 0: _tile_zero(0); break;
    case 1: _tile_zero(1); break;
    case 2: _tile_zero(2); break;
    default: _tile_zero(3); break;
  }
}

void store_tile(int tile, float* to, int64_t stride_bytes) {
  switch (tile) {
    case 0: _tile_stored(0, to, stride_bytes); break;
    case 1: _tile_stored(1, to, stride_bytes); break;
    case 2: _tile_stored(2, to, stride_bytes); break;
    default: _tile_stored(3, to, stride_bytes); break;
  }
}

// Stores C tile `Tile` for oc block `ob` (valid_oc rows) and chunk `chunk` of one image.
void store_c(int tile, const Layout& l, int64_t chunk, float* out_block, int64_t out_pixels, int64_t valid_oc, FloatTile& scratch) {
  const int64_t dest = l.chunk_dest[static_cast<size_t>(chunk)];
  if (dest >= 0 && valid_oc == kTile) {
    store_tile(tile, out_block + dest, out_pixels * static_cast<int64_t>(sizeof(float)));
    return;
  }
  store_tile(tile, scratch.v, kTileStride);
  const int32_t* to = l.scatter.data() + chunk * kTile;
  for (int64_t o = 0; o < valid_oc; ++o) {
    float* row = out_block + o * out_pixels;
    const float* from = scratch.v + o * kTile;
    for (int64_t i = 0; i < kTile; ++i)
      if (to[i] >= 0) row[to[i]] = from[i];
  }
}

// OcTiles x PixTiles C tiles (each 1 or 2) of one image, over every tap and channel block.
template <int OcTiles, int PixTiles>
void tile_block(const Geometry& g, const Layout& l, const bf16_bits* weights, const bf16_bits* image, int64_t ob,
                int64_t chunk, const float* bias_tiles, float* out_image, FloatTile& scratch) {
  const int64_t cbs = l.channel_blocks;
  const float* bias0 = bias_tiles == nullptr ? nullptr : bias_tiles + ob * kTile * kTile;
  const float* bias1 = bias_tiles == nullptr ? nullptr : bias0 + kTile * kTile;
  init_c(0, bias0);
  if constexpr (PixTiles == 2) init_c(1, bias0);
  if constexpr (OcTiles == 2) init_c(2, bias1);
  if constexpr (OcTiles == 2 && PixTiles == 2) init_c(3, bias1);
  const int64_t j0 = l.chunk_start[static_cast<size_t>(chunk)];
  const int64_t j1 = PixTiles == 2 ? l.chunk_start[static_cast<size_t>(chunk + 1)] : j0;
  const int64_t b_stride = l.plane * 2 * static_cast<int64_t>(sizeof(bf16_bits));
  const int64_t slots = l.slots();
  const int64_t oc_step = slots * cbs * kTileElements;
  const bf16_bits* w_block = weights + ob * oc_step;
  for (int64_t slot = 0; slot < slots; ++slot) {
    const int64_t phase = l.slot_phase[static_cast<size_t>(slot)];
    const int64_t shift = l.slot_shift[static_cast<size_t>(slot)];
    for (int64_t cb = 0; cb < cbs; ++cb) {
      const bf16_bits* a = w_block + (slot * cbs + cb) * kTileElements;
      const bf16_bits* b = image + (cb * l.phases_h * l.phases_w + phase) * l.phase_elements();
      _tile_loadd(4, a, kTileStride);
      _tile_loadd(6, b + (j0 + shift) * 2, b_stride);
      if constexpr (OcTiles == 2) _tile_loadd(5, a + oc_step, kTileStride);
      if constexpr (PixTiles == 2) _tile_loadd(7, b + (j1 + shift) * 2, b_stride);
      _tile_dpbf16ps(0, 4, 6);
      if constexpr (PixTiles == 2) _tile_dpbf16ps(1, 4, 7);
      if constexpr (OcTiles == 2) _tile_dpbf16ps(2, 5, 6);
      if constexpr (OcTiles == 2 && PixTiles == 2) _tile_dpbf16ps(3, 5, 7);
    }
  }
  const int64_t P = g.out_pixels();
  const int64_t valid0 = std::min<int64_t>(kTile, g.c_out - ob * kTile);
  float* out0 = out_image + ob * kTile * P;
  store_c(0, l, chunk, out0, P, valid0, scratch);
  if constexpr (PixTiles == 2) store_c(1, l, chunk + 1, out0, P, valid0, scratch);
  if constexpr (OcTiles == 2) {
    const int64_t valid1 = std::min<int64_t>(kTile, g.c_out - (ob + 1) * kTile);
    float* out1 = out0 + kTile * P;
    store_c(2, l, chunk, out1, P, valid1, scratch);
    if constexpr (PixTiles == 2) store_c(3, l, chunk + 1, out1, P, valid1, scratch);
  }
}

}  // namespace

bool amx_supports(const Geometry& g, DType dtype, Pass pass) {
  if (dtype != DType::f32 || matmul_precision() != Precision::bf16) return false;
  if (g.groups != 1 || g.dilation_h != 1 || g.dilation_w != 1) return false;
  if (g.batch == 0 || g.c_out == 0 || g.out_h <= 0 || g.out_w <= 0 || g.c_in == 0) return false;
  switch (pass) {
    case Pass::forward: break;
    case Pass::backward_input:  // a forward convolution with padding k - 1 - p >= 0
      if (g.pad_h > g.kernel_h - 1 || g.pad_w > g.kernel_w - 1) return false;
      break;
    case Pass::backward_weight: break;
  }
  return bf16_path() == Bf16Path::amx;
}

namespace {

// The convolution of every image of x [batch, c_in, height, width] with the packed weights
// into out [batch, c_out, out_h, out_w]; bias [c_out] or null.
void convolve(const Geometry& g, const Layout& l, const float* x, const bf16_bits* packed_weights, const float* bias,
              float* out) {
  // Bias as C tiles: per oc block, 16 rows of one bias value each.
  std::vector<FloatTile> bias_tiles;
  if (bias != nullptr) {
    bias_tiles.resize(static_cast<size_t>(l.oc_blocks + 1));
    for (int64_t o = 0; o < l.oc_blocks * kTile; ++o)
      std::fill_n(bias_tiles[static_cast<size_t>(o / kTile)].v + (o % kTile) * kTile, kTile, o < g.c_out ? bias[o] : 0.0f);
  }
  const float* bias_data = bias != nullptr ? bias_tiles.front().v : nullptr;
  const int64_t image_elements = l.image_elements(), chunks = static_cast<int64_t>(l.chunk_start.size());
  const int64_t row_floats = (l.grid_w + kTile - 1) / kTile * kTile;
#pragma omp parallel if (g.batch > 1)
  {
    bf16_kernels::amx_tiles_begin();
    auto* image = static_cast<bf16_bits*>(thread_scratch(static_cast<size_t>(image_elements) * sizeof(bf16_bits), 1));
    auto* rows = static_cast<float*>(thread_scratch(static_cast<size_t>(2 * row_floats) * sizeof(float), 2));
    FloatTile scratch;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.batch; ++n) {
      pack_image(g, l, x + n * g.c_in * l.source_h * l.source_w, image, rows, rows + row_floats);
      float* out_image = out + n * g.c_out * g.out_pixels();
      for (int64_t ob = 0; ob < l.oc_blocks; ob += 2) {
        const bool two_oc = ob + 1 < l.oc_blocks;
        for (int64_t c = 0; c < chunks; c += 2) {
          const bool two_pix = c + 1 < chunks;
          if (two_oc && two_pix) tile_block<2, 2>(g, l, packed_weights, image, ob, c, bias_data, out_image, scratch);
          else if (two_oc) tile_block<2, 1>(g, l, packed_weights, image, ob, c, bias_data, out_image, scratch);
          else if (two_pix) tile_block<1, 2>(g, l, packed_weights, image, ob, c, bias_data, out_image, scratch);
          else tile_block<1, 1>(g, l, packed_weights, image, ob, c, bias_data, out_image, scratch);
        }
      }
    }
    bf16_kernels::amx_tiles_end();
  }
}

}  // namespace

void amx_forward(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out) {
  Layout l = make_layout(g);
  pair_taps(g, l);
  thread_local std::vector<bf16_bits> packed_weights;
  pack_weights(g, l, weight.data<float>(), false, packed_weights);
  convolve(g, l, x.data<float>(), packed_weights.data(), bias.defined() ? bias.data<float>() : nullptr,
           out.data<float>());
}

// With stride 1, dx[c, y, x] = sum_{o, kh, kw} dy[o, y + p - kh, x + p - kw] w[o, c, kh, kw]: with
// kh' = k - 1 - kh, a forward convolution of dy by w'[c, o, kh', kw'] = w[o, c, k-1-kh', k-1-kw']
// with padding k - 1 - p, whose output is height x width again.
//
// With stride s > 1, dx splits into s_h x s_w phases by (y mod s_h, x mod s_w), and each phase
// is a stride-1 convolution of dy itself by the taps that reach it (phase_backward_input). In
// one dimension, x[i] is read at tap k by output o when i + p = o s + k, so for i = a + s m,
//   dx[a + s m] = sum_t w[r + s t] dy[m + q - t],   r = (a + p) mod s,  q = (a + p) div s,
// over the T = ceil((k - r) / s) taps t < T. As a correlation, dx_a[m] = sum_t' w'[t'] dy[m + t' - p']
// with w'[t'] = w[r + s (T - 1 - t')] and padding p' = T - 1 - q. The phases together do the
// layer's own flops. They pay where each phase's rows fill the 16 pixels of a tile (the
// phases of a 32-wide map are 16 wide: ResNet-20's 16 -> 32 layer trains 1.2x faster); on
// narrower maps the phases' short rows waste more of each tile than the dilation's zeros
// (ResNet-18's 128 -> 256 layer at 16 x 16 trains 1.2x slower by phases). There, and where
// some p' would be negative (padding near k - 1), dy dilated by s is convolved instead (s - 1 zeros between its pixels, (height + 2p - k) mod s more at the
// end so that the output is height x width; the repack writes the zeros and the tiles
// multiply them, s^2 times the layer's flops). 1x1 strided kernels: pointwise_backward_input.
namespace {

// The phases of the paragraph above, one axis: r, q, T, the padding p' and the phase's
// extent M = ceil((size - a) / s).
struct PhaseAxis {
  int64_t r, q, taps, pad, extent;
};

PhaseAxis phase_axis(int64_t a, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  PhaseAxis axis;
  axis.r = (a + pad) % stride;
  axis.q = (a + pad) / stride;
  axis.taps = axis.r < kernel ? (kernel - axis.r + stride - 1) / stride : 0;
  axis.pad = axis.taps - 1 - axis.q;
  axis.extent = (size - a + stride - 1) / stride;
  return axis;
}

// dx phase by phase; false (nothing written) where some phase would need negative padding
// or has rows of fewer than 16 pixels.
bool phase_backward_input(const Geometry& g, const float* dy, const float* weight, float* dx) {
  std::vector<PhaseAxis> rows, cols;
  for (int64_t a = 0; a < g.stride_h; ++a) rows.push_back(phase_axis(a, g.stride_h, g.pad_h, g.kernel_h, g.height));
  for (int64_t b = 0; b < g.stride_w; ++b) cols.push_back(phase_axis(b, g.stride_w, g.pad_w, g.kernel_w, g.width));
  for (const PhaseAxis& axis : rows)
    if (axis.taps > 0 && axis.pad < 0) return false;
  for (const PhaseAxis& axis : cols)
    if ((axis.taps > 0 && axis.pad < 0) || axis.extent < kTile) return false;
  thread_local std::vector<float> sub_weights, phase_dx;
  thread_local std::vector<bf16_bits> packed_weights;
  const int64_t planes = g.batch * g.c_in;
  for (int64_t a = 0; a < g.stride_h; ++a)
    for (int64_t b = 0; b < g.stride_w; ++b) {
      const PhaseAxis& v = rows[static_cast<size_t>(a)];
      const PhaseAxis& u = cols[static_cast<size_t>(b)];
      if (v.extent <= 0 || u.extent <= 0) continue;
      const int64_t phase_pixels = v.extent * u.extent;
      phase_dx.resize(static_cast<size_t>(planes * phase_pixels));
      if (v.taps == 0 || u.taps == 0) {  // no tap reaches this phase (kernel < stride)
        std::fill(phase_dx.begin(), phase_dx.end(), 0.0f);
      } else {
        const Geometry t{g.batch, g.c_out, g.out_h,  g.out_w, g.c_in, v.taps, u.taps, v.extent,
                         u.extent, 1,      1,        v.pad,   u.pad,  1,      1,      1};
        // w'[c, o, t'h, t'w] = w[o, c, r_h + s_h (T_h - 1 - t'h), r_w + s_w (T_w - 1 - t'w)]
        sub_weights.resize(static_cast<size_t>(g.c_in * g.c_out * t.taps()));
        for (int64_t c = 0; c < g.c_in; ++c)
          for (int64_t o = 0; o < g.c_out; ++o)
            for (int64_t th = 0; th < v.taps; ++th)
              for (int64_t tw = 0; tw < u.taps; ++tw)
                sub_weights[static_cast<size_t>(((c * g.c_out + o) * v.taps + th) * u.taps + tw)] =
                    weight[((o * g.c_in + c) * g.kernel_h + v.r + g.stride_h * (v.taps - 1 - th)) * g.kernel_w + u.r +
                           g.stride_w * (u.taps - 1 - tw)];
        Layout l = make_layout(t);
        pair_taps(t, l);
        pack_weights(t, l, sub_weights.data(), false, packed_weights);
        convolve(t, l, dy, packed_weights.data(), nullptr, phase_dx.data());
      }
      const float* from = phase_dx.data();
#pragma omp parallel for schedule(static) if (planes > 1)
      for (int64_t plane = 0; plane < planes; ++plane) {
        float* to = dx + plane * g.in_pixels();
        const float* src = from + plane * phase_pixels;
        for (int64_t m = 0; m < v.extent; ++m) {
          float* row = to + (a + g.stride_h * m) * g.width + b;
          for (int64_t n = 0; n < u.extent; ++n) row[g.stride_w * n] = src[m * u.extent + n];
        }
      }
    }
  return true;
}

// A 1x1 kernel without padding (a strided shortcut) reads only the pixels (y s, x s): there
// dx = w^T dy, a 1x1 stride-1 convolution of dy, scattered onto that grid, and zero elsewhere.
void pointwise_backward_input(const Geometry& g, const float* dy, const float* weight, float* dx) {
  const Geometry t{g.batch, g.c_out, g.out_h, g.out_w, g.c_in, 1, 1, g.out_h, g.out_w, 1, 1, 0, 0, 1, 1, 1};
  const Layout l = make_layout(t);
  thread_local std::vector<bf16_bits> packed_weights;
  thread_local std::vector<float> sampled;
  pack_weights(t, l, weight, true, packed_weights);
  sampled.resize(static_cast<size_t>(g.batch * g.c_in * g.out_pixels()));
  convolve(t, l, dy, packed_weights.data(), nullptr, sampled.data());
  const float* from = sampled.data();
#pragma omp parallel for schedule(static) if (g.batch * g.c_in > 1)
  for (int64_t plane = 0; plane < g.batch * g.c_in; ++plane) {
    float* to = dx + plane * g.in_pixels();
    std::fill_n(to, g.in_pixels(), 0.0f);
    const float* src = from + plane * g.out_pixels();
    for (int64_t oy = 0; oy < g.out_h; ++oy)
      for (int64_t ox = 0; ox < g.out_w; ++ox) to[oy * g.stride_h * g.width + ox * g.stride_w] = src[oy * g.out_w + ox];
  }
}

}  // namespace

void amx_backward_input(const Geometry& g, const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x) {
  if (g.kernel_h == 1 && g.kernel_w == 1 && g.pad_h == 0 && g.pad_w == 0 && (g.stride_h > 1 || g.stride_w > 1))
    return pointwise_backward_input(g, grad_out.data<float>(), weight.data<float>(), grad_x.data<float>());
  if ((g.stride_h > 1 || g.stride_w > 1) &&
      phase_backward_input(g, grad_out.data<float>(), weight.data<float>(), grad_x.data<float>()))
    return;
  const int64_t dilated_h = (g.out_h - 1) * g.stride_h + 1 + (g.height + 2 * g.pad_h - g.kernel_h) % g.stride_h;
  const int64_t dilated_w = (g.out_w - 1) * g.stride_w + 1 + (g.width + 2 * g.pad_w - g.kernel_w) % g.stride_w;
  const Geometry t{g.batch,     g.c_out,     dilated_h,   dilated_w,   g.c_in,
                   g.kernel_h,  g.kernel_w,  g.height,    g.width,     1,
                   1,           g.kernel_h - 1 - g.pad_h, g.kernel_w - 1 - g.pad_w, 1, 1,
                   1};
  Layout l = make_layout(t, g.stride_h, g.stride_w);
  pair_taps(t, l);
  thread_local std::vector<bf16_bits> packed_weights;
  pack_weights(t, l, weight.data<float>(), true, packed_weights);
  convolve(t, l, grad_out.data<float>(), packed_weights.data(), nullptr, grad_x.data<float>());
}

namespace {

// The weight gradient. For tap (kh, kw), dW[o, c, kh, kw] = sum_{n, j} dy[n, o, j] x[n, c, j + shift(kh, kw)]
// over the valid grid positions j of every image (the phase grid of the forward pass), a
// product with the pixels as its reduction: C[16 c x 16 o] += A[16 c x 32 j] B[32 j x 16 o] with
//   A = x of 16 channels at 32 consecutive grid positions (each channel's phase plane a row:
//       any start, so the tap's shift needs no repacking);
//   B = dy of 16 output channels at 32 grid positions in pairs of positions (row q holds
//       (dy[o, 2q], dy[o, 2q + 1]) for the 16 o), zero at the grid positions that are no
//       output pixel, so the reads of x there add nothing.
// Images are laid end to end in one grid (each takes grid_h x grid_w positions; a valid
// position's shifted read stays in its own image), so small layers still give long
// reductions; a thread takes a run of images in groups that fit in L2 and keeps its C tiles
// in a float32 partial dW, [tap][c block][o block] tiles of 16 x 16, summed over threads at
// the end.
struct WeightGradLayout {
  const Layout& l;
  int64_t c_blocks, o_blocks;  // of 16
  int64_t segment;             // grid positions per image
  int64_t group;               // images per group
  int64_t span;                // grid positions of a group, a multiple of 32
  int64_t plane;               // x positions per channel row, span + the furthest shift + slack
};

constexpr int64_t kPixelChunk = 32;

void load_tile(int tile, const float* from) {
  switch (tile) {
    case 0: _tile_loadd(0, from, kTileStride); break;
    case 1: _tile_loadd(1, from, kTileStride); break;
    case 2: _tile_loadd(2, from, kTileStride); break;
    default: _tile_loadd(3, from, kTileStride); break;
  }
}

// x of `count` images (from image `first`) into [phase][c block row][plane] bf16 rows.
void pack_x_rows(const Geometry& g, const WeightGradLayout& w, const float* x, int64_t count, bf16_bits* packed,
                 float* row) {
  const Layout& l = w.l;
  const int64_t channels = w.c_blocks * kTile, pixels = g.in_pixels();
  for (int64_t ry = 0; ry < l.phases_h; ++ry)
    for (int64_t rx = 0; rx < l.phases_w; ++rx)
      for (int64_t c = 0; c < channels; ++c) {
        bf16_bits* dst = packed + ((ry * l.phases_w + rx) * channels + c) * w.plane;
        std::memset(dst, 0, static_cast<size_t>(w.plane) * sizeof(bf16_bits));
        if (c >= g.c_in) continue;
        for (int64_t n = 0; n < count; ++n)
          for (int64_t qy = 0; qy < l.grid_h; ++qy) {
            const int64_t y = qy * g.stride_h + ry - g.pad_h;
            if (y < 0 || y >= g.height) continue;
            const float* src = x + (n * g.c_in + c) * pixels + y * g.width;
            bf16_bits* to = dst + n * w.segment + qy * l.grid_w;
            const int64_t offset = rx - g.pad_w;
            if (g.stride_w == 1) {  // a shifted copy: rounded straight into the zeroed plane
              const int64_t begin = std::max<int64_t>(0, -offset), end = std::min(l.grid_w, g.width - offset);
              if (end > begin) round_to_bf16(src + begin + offset, to + begin, end - begin);
              continue;
            }
            std::fill_n(row, l.grid_w, 0.0f);
            gather_row(src, g.width, g.stride_w, offset, l.grid_w, row);
            round_to_bf16(row, to, l.grid_w);
          }
      }
}

// dy of `count` images into [o block][position pair][16 o][2] bf16, zero off the outputs.
// `plain`: scratch of 16 x span bf16.
void pack_dy_pairs(const Geometry& g, const WeightGradLayout& w, const float* dy, int64_t count, bf16_bits* packed,
                   bf16_bits* plain) {
  const Layout& l = w.l;
  const int64_t P = g.out_pixels(), pairs = w.span / 2;
  for (int64_t ob = 0; ob < w.o_blocks; ++ob) {
    std::memset(plain, 0, static_cast<size_t>(kTile * w.span) * sizeof(bf16_bits));
    for (int64_t i = 0; i < kTile; ++i) {
      const int64_t o = ob * kTile + i;
      if (o >= g.c_out) break;
      for (int64_t n = 0; n < count; ++n)
        for (int64_t oh = 0; oh < g.out_h; ++oh)
          round_to_bf16(dy + (n * g.c_out + o) * P + oh * g.out_w, plain + i * w.span + n * w.segment + oh * l.grid_w,
                        g.out_w);
    }
    // [16 o][span] -> [span / 2][16 o][2]: 32-bit pairs of positions, one gather of the 16 o
    // per pair (the offsets i pairs fit the gather's 32-bit indices: a group is about 1 MiB).
    const auto* from = reinterpret_cast<const int*>(plain);
    auto* to = reinterpret_cast<uint32_t*>(packed + ob * w.span * kTile);
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(static_cast<int>(pairs)));
    for (int64_t q = 0; q < pairs; ++q) _mm512_storeu_si512(to + q * kTile, _mm512_i32gather_epi32(rows, from + q, 4));
  }
}

// CTiles x OTiles C tiles (each 1 or 2) of one tap over the packed group.
template <int CTiles, int OTiles>
void weight_tiles(const WeightGradLayout& w, const bf16_bits* x_rows, const bf16_bits* dy_pairs, int64_t cb, int64_t ob,
                  float* partial_tap) {
  float* c0 = partial_tap + (cb * w.o_blocks + ob) * kTile * kTile;
  float* c1 = c0 + w.o_blocks * kTile * kTile;  // the next c block
  const int64_t tile_floats = kTile * kTile;
  load_tile(0, c0);
  if constexpr (OTiles == 2) load_tile(1, c0 + tile_floats);
  if constexpr (CTiles == 2) load_tile(2, c1);
  if constexpr (CTiles == 2 && OTiles == 2) load_tile(3, c1 + tile_floats);
  const bf16_bits* a = x_rows + cb * kTile * w.plane;
  const int64_t a_stride = w.plane * static_cast<int64_t>(sizeof(bf16_bits));
  const bf16_bits* b = dy_pairs + ob * w.span * kTile;
  const int64_t b_step = w.span * kTile;
  for (int64_t j0 = 0; j0 < w.span; j0 += kPixelChunk) {
    _tile_loadd(4, a + j0, a_stride);
    _tile_loadd(6, b + j0 * kTile, kTileStride);
    if constexpr (CTiles == 2) _tile_loadd(5, a + kTile * w.plane + j0, a_stride);
    if constexpr (OTiles == 2) _tile_loadd(7, b + b_step + j0 * kTile, kTileStride);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (OTiles == 2) _tile_dpbf16ps(1, 4, 7);
    if constexpr (CTiles == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (CTiles == 2 && OTiles == 2) _tile_dpbf16ps(3, 5, 7);
  }
  store_tile(0, c0, kTileStride);
  if constexpr (OTiles == 2) store_tile(1, c0 + tile_floats, kTileStride);
  if constexpr (CTiles == 2) store_tile(2, c1, kTileStride);
  if constexpr (CTiles == 2 && OTiles == 2) store_tile(3, c1 + tile_floats, kTileStride);
}

constexpr int64_t kGroupBytes = 1 << 20;  // the packed x and dy of one group

}  // namespace

void amx_backward_weight(const Geometry& g, const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight) {
  const Layout l = make_layout(g);
  WeightGradLayout w{l, (g.c_in + kTile - 1) / kTile, l.oc_blocks, l.grid_h * l.grid_w, 1, 0, 0};
  const int64_t phases = l.phases_h * l.phases_w;
  const int64_t max_shift = (g.kernel_h - 1) / g.stride_h * l.grid_w + (g.kernel_w - 1) / g.stride_w;
  const int64_t image_bytes = (phases * w.c_blocks + w.o_blocks) * kTile * w.segment * 2;
  const int threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), g.batch)));
  const int64_t per_thread = (g.batch + threads - 1) / threads;
  w.group = std::clamp<int64_t>(kGroupBytes / std::max<int64_t>(image_bytes, 1), 1, per_thread);
  w.span = (w.group * w.segment + kPixelChunk - 1) / kPixelChunk * kPixelChunk;
  w.plane = w.span + max_shift + kPixelChunk;
  const int64_t taps = g.taps(), tile_floats = kTile * kTile;
  const int64_t partial_floats = taps * w.c_blocks * w.o_blocks * tile_floats;
  std::vector<float> partials(static_cast<size_t>(partial_floats * threads), 0.0f);
  const float* xd = x.data<float>();
  const float* dyd = grad_out.data<float>();
  int team = 1;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int thread = omp_get_thread_num();
#pragma omp single
    team = omp_get_num_threads();
    const int64_t first = g.batch * thread / team, last = g.batch * (thread + 1) / team;
    bf16_kernels::amx_tiles_begin();
    auto* x_rows = static_cast<bf16_bits*>(
        thread_scratch(static_cast<size_t>(phases * w.c_blocks * kTile * w.plane) * sizeof(bf16_bits), 1));
    auto* dy_pairs =
        static_cast<bf16_bits*>(thread_scratch(static_cast<size_t>(w.o_blocks * kTile * w.span) * sizeof(bf16_bits), 2));
    auto* plain = static_cast<bf16_bits*>(thread_scratch(static_cast<size_t>(kTile * w.span) * sizeof(bf16_bits), 3));
    auto* row = static_cast<float*>(thread_scratch(static_cast<size_t>(l.grid_w) * sizeof(float), 4));
    float* partial = partials.data() + thread * partial_floats;
    for (int64_t n0 = first; n0 < last; n0 += w.group) {
      const int64_t count = std::min(w.group, last - n0);
      pack_x_rows(g, w, xd + n0 * g.c_in * g.in_pixels(), count, x_rows, row);
      pack_dy_pairs(g, w, dyd + n0 * g.c_out * g.out_pixels(), count, dy_pairs, plain);
      for (int64_t kh = 0; kh < g.kernel_h; ++kh)
        for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
          const int64_t tap = kh * g.kernel_w + kw;
          const int64_t phase = (kh % g.stride_h) * l.phases_w + kw % g.stride_w;
          const int64_t shift = kh / g.stride_h * l.grid_w + kw / g.stride_w;
          const bf16_bits* a = x_rows + phase * w.c_blocks * kTile * w.plane + shift;
          float* partial_tap = partial + tap * w.c_blocks * w.o_blocks * tile_floats;
          for (int64_t cb = 0; cb < w.c_blocks; cb += 2) {
            const bool two_c = cb + 1 < w.c_blocks;
            for (int64_t ob = 0; ob < w.o_blocks; ob += 2) {
              const bool two_o = ob + 1 < w.o_blocks;
              if (two_c && two_o) weight_tiles<2, 2>(w, a, dy_pairs, cb, ob, partial_tap);
              else if (two_c) weight_tiles<2, 1>(w, a, dy_pairs, cb, ob, partial_tap);
              else if (two_o) weight_tiles<1, 2>(w, a, dy_pairs, cb, ob, partial_tap);
              else weight_tiles<1, 1>(w, a, dy_pairs, cb, ob, partial_tap);
            }
          }
        }
    }
    bf16_kernels::amx_tiles_end();
  }
  // dW[o, c, tap] = sum over threads of tile (tap, c / 16, o / 16) at row c % 16, column o % 16.
  float* dw = grad_weight.data<float>();
#pragma omp parallel for schedule(static) if (g.c_out * g.c_in * taps > (1 << 16))
  for (int64_t o = 0; o < g.c_out; ++o)
    for (int64_t c = 0; c < g.c_in; ++c)
      for (int64_t t = 0; t < taps; ++t) {
        const int64_t at = ((t * w.c_blocks + c / kTile) * w.o_blocks + o / kTile) * tile_floats + c % kTile * kTile + o % kTile;
        float total = partials[static_cast<size_t>(at)];
        for (int th = 1; th < team; ++th) total += partials[static_cast<size_t>(th * partial_floats + at)];
        dw[(o * g.c_in + c) * taps + t] = total;
      }
}

}  // namespace slab::cpu::conv
