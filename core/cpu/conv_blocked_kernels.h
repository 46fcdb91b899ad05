// The building blocks of the float32 convolution paths (conv_blocked.cpp, conv_winograd.cpp),
// written once over the vector instruction set: the channel-blocked activation layout and its
// conversions, and the two register-tile micro-kernels. `V` is the set's primitives
// (core/cpu/conv_avx512.h: 16 lanes, 32 registers; core/cpu/conv_avx2.h: 8 lanes, 16
// registers); the tile shapes that fit its registers are chosen there.
//
// V provides: Vec, kLanes, zero(), load(p) (aligned), loadu(p), store(p, v) (aligned),
// storeu(p, v), set1(x), fmadd(a, b, c) = a b + c, add, sub, mul, load_first(p, n) (lanes < n
// read, the rest 0), store_first(p, n, v) (lanes < n written), transpose(Vec[kLanes]) (in
// place: afterwards r[j] holds what was column j), shift_down(v, k) (lane i takes lane i + k),
// gather_first and scatter_first (lane i at base[index_i]), and kernel_for_tile<CB, PITCH, E>(t),
// the tile_kernel instance for each of its tile shapes.
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

namespace slab::cpu::conv::blocked {

inline int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// The input-channel block of the blocked layout: one vector for multiples of the lane count,
// the whole input for 1 or 3 channels (images), and otherwise the one of a vector, 8 and 4
// that pads the channel count least (ties to the larger block, fewer segments): the missing
// channels of the last block are zeros in the layout and in the packed weights, so they add
// nothing.
template <class V>
int64_t channel_block(int64_t channels) {
  if (channels % V::kLanes == 0) return V::kLanes;
  if (channels == 1 || channels == 3) return channels;
  int64_t best = V::kLanes;
  for (int64_t cb : {int64_t{8}, int64_t{4}})
    if (cb < V::kLanes && round_up(channels, cb) < round_up(channels, best)) best = cb;
  return best;
}
// Channel blocks of `channels` in blocks of cb, the last one padded with zeros.
inline int64_t block_count(int64_t channels, int64_t cb) { return (channels + cb - 1) / cb; }

// ---- layout conversions -----------------------------------------------------------------

// A blocked activation image: [blocks][rows][cols][cb], the data at (top, left); the first
// `channels` of the blocks * cb channel slots hold data, the rest are zeros.
struct Blocked {
  int64_t cb, blocks, rows, cols, top, left, channels;
  // Every field named: a layout without its channel count would silently hold only zeros.
  Blocked(int64_t cb_, int64_t blocks_, int64_t rows_, int64_t cols_, int64_t top_, int64_t left_, int64_t channels_)
      : cb(cb_), blocks(blocks_), rows(rows_), cols(cols_), top(top_), left(left_), channels(channels_) {}
  Blocked() : Blocked(1, 0, 0, 0, 0, 0, 0) {}
  // Channels of block `block` that hold data.
  int64_t valid(int64_t block) const { return std::clamp<int64_t>(channels - block * cb, 0, cb); }
  int64_t plane() const { return rows * cols * cb; }
  int64_t image() const { return blocks * plane(); }
};

// dst[j][i] = src[i][j] for i < rows_in, j < cols_in (both <= kLanes), and dst[j][i] = 0 for
// rows_in <= i < rows_out (rows_out <= kLanes: the zero channels that fill up a blocked
// layout's last block).
template <class V>
void transpose_block(const float* src, int64_t src_stride, int64_t rows_in, int64_t cols_in, float* dst,
                     int64_t dst_stride, int64_t rows_out) {
  typename V::Vec r[V::kLanes];
  for (int i = 0; i < V::kLanes; ++i) r[i] = i < rows_in ? V::load_first(src + i * src_stride, cols_in) : V::zero();
  V::transpose(r);
  for (int j = 0; j < cols_in; ++j) V::store_first(dst + j * dst_stride, rows_out, r[j]);
}
template <class V>
void transpose_block(const float* src, int64_t src_stride, int64_t rows_in, int64_t cols_in, float* dst,
                     int64_t dst_stride) {
  transpose_block<V>(src, src_stride, rows_in, cols_in, dst, dst_stride, rows_in);
}

// One image [channels][height][width] (NCHW) into the blocked layout, zeros around it.
template <class V>
void to_blocked(const float* src, int64_t height, int64_t width, const Blocked& layout, float* dst) {
  constexpr int64_t kLanes = V::kLanes;
  const int64_t cb = layout.cb, cols = layout.cols;
  if (cb == kLanes && layout.top == 0 && layout.left == 0 && cols == width) {
    // No padding between rows: the plane is one run of pixels, transposed a vector at a time.
    const int64_t pixels = height * width;
    for (int64_t block = 0; block < layout.blocks; ++block) {
      float* plane = dst + block * layout.plane();
      const float* channels = src + block * kLanes * pixels;
      for (int64_t p = 0; p < pixels; p += kLanes)
        transpose_block<V>(channels + p, pixels, layout.valid(block), std::min(kLanes, pixels - p),
                           plane + p * kLanes, kLanes, kLanes);
      std::memset(plane + pixels * kLanes, 0,
                  static_cast<size_t>((layout.rows - height) * cols * kLanes) * sizeof(float));
    }
    return;
  }
  for (int64_t block = 0; block < layout.blocks; ++block) {
    float* plane = dst + block * layout.plane();
    const float* channels = src + block * cb * height * width;
    std::memset(plane, 0, static_cast<size_t>(layout.top * cols * cb) * sizeof(float));
    const int64_t bottom = layout.top + height;
    std::memset(plane + bottom * cols * cb, 0, static_cast<size_t>((layout.rows - bottom) * cols * cb) * sizeof(float));
    for (int64_t h = 0; h < height; ++h) {
      float* row = plane + (layout.top + h) * cols * cb;
      std::memset(row, 0, static_cast<size_t>(layout.left * cb) * sizeof(float));
      const int64_t right = layout.left + width;
      std::memset(row + right * cb, 0, static_cast<size_t>((cols - right) * cb) * sizeof(float));
      float* interior = row + layout.left * cb;
      const float* line = channels + h * width;
      if (cb == kLanes || cb == 8 || cb == 4) {
        // A vector of pixels at a time: cb channel rows in, cb lanes per pixel out (zeros past the data).
        for (int64_t w = 0; w < width; w += kLanes)
          transpose_block<V>(line + w, height * width, layout.valid(block), std::min(kLanes, width - w),
                             interior + w * cb, cb, cb);
      } else {  // the whole 1- or 3-channel image
        for (int64_t w = 0; w < width; ++w)
          for (int64_t c = 0; c < cb; ++c) interior[w * cb + c] = line[c * height * width + w];
      }
    }
  }
}

// The pixels (i step_h, j step_w) of one NCHW image [channels][height][width] into the
// blocked layout (channel blocks of one vector only): the input a 1x1 convolution with that
// stride and no padding reads, so it runs as a stride-1 one on the sampled grid. Row by row:
// a vector of sampled pixels of each of the block's channels (V::gather_strided), then
// transposed into place.
template <class V>
void to_blocked_sampled_rows(const float* src, int64_t height, int64_t width, int64_t step_h, int64_t step_w,
                             const Blocked& layout, float* dst) {
  constexpr int64_t kLanes = V::kLanes;
  const int64_t rows_out = (height + step_h - 1) / step_h, cols_out = (width + step_w - 1) / step_w;
  alignas(64) float gathered[kLanes * kLanes];
  for (int64_t block = 0; block < layout.blocks; ++block) {
    float* plane = dst + block * layout.plane();
    const float* channels = src + block * kLanes * height * width;
    std::memset(plane, 0, static_cast<size_t>(layout.plane()) * sizeof(float));
    for (int64_t i = 0; i < rows_out; ++i) {
      float* interior = plane + ((layout.top + i) * layout.cols + layout.left) * kLanes;
      for (int64_t j = 0; j < cols_out; j += kLanes) {
        const int64_t n = std::min(kLanes, cols_out - j);
        for (int64_t c = 0; c < kLanes; ++c)
          V::gather_strided(channels + c * height * width + i * step_h * width + j * step_w, n, step_w,
                            width - j * step_w, gathered + c * kLanes);
        transpose_block<V>(gathered, kLanes, kLanes, n, interior + j * kLanes, kLanes);
      }
    }
  }
}

// The first `channels` channels of blocks [rows][cols][kLanes] of a blocked image (data at
// (top, left), extent height x width) back into NCHW channels [channels][height][width],
// adding bias if given: the zero channels that pad the last block are dropped.
template <class V>
void from_blocked_channels(const float* src, int64_t channels, int64_t rows, int64_t cols, int64_t top, int64_t left,
                           int64_t height, int64_t width, const float* bias, float* dst) {
  constexpr int64_t kLanes = V::kLanes;
  const bool flat = top == 0 && left == 0 && cols == width;  // pixels of the plane back to back
  for (int64_t block = 0; block < block_count(channels, kLanes); ++block) {
    const int64_t valid = std::min(kLanes, channels - block * kLanes);
    const float* plane = src + block * rows * cols * kLanes;
    float* out = dst + block * kLanes * height * width;
    for (int64_t h = 0; h < (flat ? 0 : height); ++h) {
      const float* row = plane + ((top + h) * cols + left) * kLanes;
      for (int64_t w = 0; w < width; w += kLanes)
        transpose_block<V>(row + w * kLanes, kLanes, std::min(kLanes, width - w), valid, out + h * width + w,
                           height * width);
    }
    const int64_t pixels = height * width;
    for (int64_t p = 0; p < (flat ? pixels : 0); p += kLanes)
      transpose_block<V>(plane + p * kLanes, kLanes, std::min(kLanes, pixels - p), valid, out + p, pixels);
    if (bias != nullptr)
      for (int64_t c = 0; c < valid; ++c) {
        const float value = bias[block * kLanes + c];
        float* channel = out + c * height * width;
        for (int64_t i = 0; i < height * width; ++i) channel[i] += value;
      }
  }
}

// ---- the register-tile micro-kernel -----------------------------------------------------

// Where a tile's accumulators go. Blocked layouts (store or add): block b, row r, column u
// at out + b block + r row + u pixel. NCHW (store_nchw): out points at channel 0 of block 0,
// row 0, column 0 of the tile in a [channels][h][w] image; `pixel` is then the channel
// stride (h w), `block` kLanes channel strides, and only the first valid_rows x valid_cols
// pixels (the tile may run past the image) of the first valid_channels channels (the last
// block may be padded with zero weights past the layer's channels) are written, with
// bias[kLanes b + lane] added.
enum class Epilogue { store_blocked, add_blocked, store_nchw };

struct TileOutput {
  float* out;
  int64_t row, pixel, block;
  int64_t valid_rows = INT64_MAX, valid_cols = INT64_MAX;
  const float* bias = nullptr;
  int64_t valid_channels = INT64_MAX;
};

// Output tile of R x U pixels and B blocks of kLanes channels:
//   acc[r][u][b] = sum over segments s, c < CB of in[segments[s] + r in_row + u PITCH + c] *
//                  w[s CB kLanes + c kLanes + b w_block .. + kLanes]
// then written per the epilogue E. Each step of the reduction loads B weight vectors and
// R U input scalars (broadcast) for R U B fused multiply-adds; the R U B accumulators, the B
// weight vectors and one broadcast must fit the register file (the ISA header's tiles do).
template <class V, int B, int R, int U, int CB, int PITCH, Epilogue E>
void tile_kernel(const float* in, int64_t in_row, const int64_t* segments, int64_t segment_count, const float* w,
                 int64_t w_block, const TileOutput& o) {
  using Vec = typename V::Vec;
  constexpr int kLanes = V::kLanes;
  constexpr int P = R * U;
  static_assert(P <= kLanes, "a tile holds at most one vector of pixels");
  Vec acc[P * B];
#pragma GCC unroll 32
  for (int i = 0; i < P * B; ++i) acc[i] = V::zero();
  for (int64_t s = 0; s < segment_count; ++s) {
    // One base pointer per tile row; columns and channels are compile-time displacements.
    const float* rows[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) rows[r] = in + segments[s] + r * in_row;
    const float* ws = w + s * (CB * kLanes);
#pragma GCC unroll 16
    for (int c = 0; c < CB; ++c) {
      Vec wv[B];
#pragma GCC unroll 4
      for (int b = 0; b < B; ++b) wv[b] = V::load(ws + b * w_block + c * kLanes);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        const Vec xv = V::set1(rows[p / U][(p % U) * PITCH + c]);
#pragma GCC unroll 4
        for (int b = 0; b < B; ++b) acc[p * B + b] = V::fmadd(xv, wv[b], acc[p * B + b]);
      }
    }
  }
  if constexpr (E == Epilogue::store_nchw) {
    // Pixels x channels -> channels x pixels in registers, then one masked store per channel
    // and tile row (row r's pixels moved down from lanes r U.. to lanes 0..).
    const int64_t columns = std::min<int64_t>(o.valid_cols, U);
    const int64_t rows = std::min<int64_t>(o.valid_rows, R);
    for (int b = 0; b < B; ++b) {
      const int64_t channels = std::min<int64_t>(o.valid_channels - b * kLanes, kLanes);
      if (channels <= 0) break;
      const Vec bias = o.bias != nullptr ? V::load_first(o.bias + b * kLanes, channels) : V::zero();
      Vec r[kLanes];
#pragma GCC unroll 16
      for (int p = 0; p < kLanes; ++p) r[p] = p < P ? V::add(acc[p * B + b], bias) : V::zero();
      V::transpose(r);
      float* base = o.out + b * o.block;
      for (int64_t row = 0; row < rows; ++row) {
#pragma GCC unroll 16
        for (int c = 0; c < kLanes; ++c) {
          const Vec v = R == 1 ? r[c] : V::shift_down(r[c], static_cast<int>(row * U));
          if (c < channels) V::store_first(base + c * o.pixel + row * o.row, columns, v);
        }
      }
    }
  } else {
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
#pragma GCC unroll 4
      for (int b = 0; b < B; ++b) {
        float* out = o.out + b * o.block + (p / U) * o.row + (p % U) * o.pixel;
        if constexpr (E == Epilogue::add_blocked)
          V::storeu(out, V::add(V::loadu(out), acc[p * B + b]));
        else
          V::storeu(out, acc[p * B + b]);
      }
    }
  }
}

using TileKernel = void (*)(const float*, int64_t, const int64_t*, int64_t, const float*, int64_t, const TileOutput&);

// Tile shape: B output blocks x R rows x U columns.
struct Tile {
  int B, R, U;
};

// The forward kernel for the tile (one of V::kernel_for_tile's shapes), input blocks of cb
// channels (a vector, 8, 4, 3 or 1) and stride_w 1 or 2, storing straight into NCHW.
template <class V, int CB>
TileKernel gather_kernel(const Tile& t, int64_t stride_w) {
  return stride_w == 1 ? V::template kernel_for_tile<CB, CB, Epilogue::store_nchw>(t)
                       : V::template kernel_for_tile<CB, 2 * CB, Epilogue::store_nchw>(t);
}
template <class V>
TileKernel select_gather_kernel(const Tile& t, int64_t cb, int64_t stride_w) {
  if (cb == V::kLanes) return gather_kernel<V, V::kLanes>(t, stride_w);
  if (cb == 8) return gather_kernel<V, 8>(t, stride_w);
  if (cb == 4) return gather_kernel<V, 4>(t, stride_w);
  if (cb == 3) return gather_kernel<V, 3>(t, stride_w);
  return gather_kernel<V, 1>(t, stride_w);
}

// acc[t][b] += x[pixel input + t] (broadcast) * dy[b][pixel] (vector of kLanes output
// channels) over `images` images of out_h x out_w pixels; then added to dw[b dw_block + t kLanes].
// T B accumulators, B dy vectors and one broadcast in registers.
template <class V, int B, int T>
void weight_kernel(const float* dy, int64_t dy_block, int64_t dy_image, const float* x, int64_t x_row, int64_t x_pixel,
                   int64_t x_image, int64_t images, int64_t out_h, int64_t out_w, float* dw, int64_t dw_block) {
  using Vec = typename V::Vec;
  constexpr int kLanes = V::kLanes;
  Vec acc[T * B];
#pragma GCC unroll 32
  for (int i = 0; i < T * B; ++i) acc[i] = V::zero();
  for (int64_t n = 0; n < images; ++n) {
    for (int64_t oh = 0; oh < out_h; ++oh) {
      const float* dy_row = dy + n * dy_image + oh * out_w * kLanes;
      const float* x_at = x + n * x_image + oh * x_row;
      for (int64_t ow = 0; ow < out_w; ++ow, x_at += x_pixel) {
        Vec dv[B];
#pragma GCC unroll 4
        for (int b = 0; b < B; ++b) dv[b] = V::load(dy_row + b * dy_block + ow * kLanes);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const Vec xv = V::set1(x_at[t]);
#pragma GCC unroll 4
          for (int b = 0; b < B; ++b) acc[t * B + b] = V::fmadd(xv, dv[b], acc[t * B + b]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 4
    for (int b = 0; b < B; ++b) {
      float* o = dw + b * dw_block + t * kLanes;
      V::store(o, V::add(V::load(o), acc[t * B + b]));
    }
}

using WeightKernel = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                              int64_t, float*, int64_t);

}  // namespace slab::cpu::conv::blocked
