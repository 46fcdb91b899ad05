// AVX-512 building blocks shared by the float32 convolution paths (conv_blocked.cpp and
// conv_winograd.cpp): the channel-blocked activation layout and its conversions, and the
// two register-tile micro-kernels. Included only where __AVX512F__ and __FMA__ are defined.
#pragma once
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

// GCC 12's AVX-512 shuffles start from _mm512_undefined_ps(), which it then reports as
// used uninitialised once inlined (GCC bug 105593): silenced for that header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace slab::cpu::conv::avx512 {

constexpr int64_t kLanes = 16;
inline int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// The input-channel block of the blocked layout: 16 (one vector) for multiples of 16, the
// whole input for 1 or 3 channels (images), and otherwise the one of 16, 8 and 4 that pads
// the channel count least (ties to the larger block, fewer segments): the missing channels
// of the last block are zeros in the layout and in the packed weights, so they add nothing.
inline int64_t channel_block(int64_t channels) {
  if (channels % kLanes == 0) return kLanes;
  if (channels == 1 || channels == 3) return channels;
  int64_t best = kLanes;
  for (int64_t cb : {int64_t{8}, int64_t{4}})
    if (round_up(channels, cb) < round_up(channels, best)) best = cb;
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

// In-register 16 x 16 transpose: afterwards r[j] holds what was column j (lane i = old r[i]
// lane j). Unpack pairs, then pairs of pairs, then 128-bit lanes twice.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  // r[4 i + j] now holds rows 4i..4i+3 of columns j, 4 + j, 8 + j, 12 + j (one per 128-bit lane).
  for (int j = 0; j < 4; ++j) {
    const __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88), u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
    const __m512 u2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    const __m512 u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
    t[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    t[4 + j] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    t[8 + j] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
    t[12 + j] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// dst[j][i] = src[i][j] for i < rows_in, j < cols_in (both <= 16), and dst[j][i] = 0 for
// rows_in <= i < rows_out (rows_out <= 16: the zero channels that fill up a blocked layout's
// last block).
inline void transpose_block(const float* src, int64_t src_stride, int64_t rows_in, int64_t cols_in, float* dst,
                            int64_t dst_stride, int64_t rows_out) {
  const __mmask16 col_mask = static_cast<__mmask16>((1u << cols_in) - 1);
  const __mmask16 row_mask = static_cast<__mmask16>((1u << rows_out) - 1);
  __m512 r[16];
  for (int i = 0; i < 16; ++i)
    r[i] = i < rows_in ? _mm512_maskz_loadu_ps(col_mask, src + i * src_stride) : _mm512_setzero_ps();
  transpose16(r);
  for (int j = 0; j < cols_in; ++j) _mm512_mask_storeu_ps(dst + j * dst_stride, row_mask, r[j]);
}
inline void transpose_block(const float* src, int64_t src_stride, int64_t rows_in, int64_t cols_in, float* dst,
                            int64_t dst_stride) {
  transpose_block(src, src_stride, rows_in, cols_in, dst, dst_stride, rows_in);
}

// One image [channels][height][width] (NCHW) into the blocked layout, zeros around it.
inline void to_blocked(const float* src, int64_t height, int64_t width, const Blocked& layout, float* dst) {
  const int64_t cb = layout.cb, cols = layout.cols;
  if (cb == kLanes && layout.top == 0 && layout.left == 0 && cols == width) {
    // No padding between rows: the plane is one run of pixels, transposed 16 at a time.
    const int64_t pixels = height * width;
    for (int64_t block = 0; block < layout.blocks; ++block) {
      float* plane = dst + block * layout.plane();
      const float* channels = src + block * kLanes * pixels;
      for (int64_t p = 0; p < pixels; p += kLanes)
        transpose_block(channels + p, pixels, layout.valid(block), std::min(kLanes, pixels - p), plane + p * kLanes,
                        kLanes, kLanes);
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
        // 16 pixels at a time: cb channel rows in, cb lanes per pixel out (zeros past the data).
        for (int64_t w = 0; w < width; w += kLanes)
          transpose_block(line + w, height * width, layout.valid(block), std::min(kLanes, width - w),
                          interior + w * cb, cb, cb);
      } else {  // the whole 1- or 3-channel image
        for (int64_t w = 0; w < width; ++w)
          for (int64_t c = 0; c < cb; ++c) interior[w * cb + c] = line[c * height * width + w];
      }
    }
  }
}

// The pixels (i step_h, j step_w) of one NCHW image [channels][height][width] into the
// blocked layout (16-channel blocks only): the input a 1x1 convolution with that stride and
// no padding reads, so it can run as a stride-1 one on the sampled grid.
inline void to_blocked_sampled(const float* src, int64_t height, int64_t width, int64_t step_h, int64_t step_w,
                               const Blocked& layout, float* dst) {
  const int64_t rows_out = (height + step_h - 1) / step_h, cols_out = (width + step_w - 1) / step_w;
  if (cols_out < kLanes && layout.top == 0 && layout.left == 0 && layout.cols == cols_out) {
    // Short sampled rows back to back in the plane: gather 16 pixels at a time, then transpose.
    const int64_t pixels = rows_out * cols_out;
    alignas(64) float gathered[kLanes * kLanes];
    for (int64_t p = 0; p < pixels; p += kLanes) {
      const int64_t n = std::min(kLanes, pixels - p);
      alignas(64) int32_t offsets[kLanes];
      for (int64_t k = 0; k < kLanes; ++k) {
        const int64_t q = p + std::min(k, n - 1);
        offsets[k] = static_cast<int32_t>((q / cols_out) * step_h * width + (q % cols_out) * step_w);
      }
      const __m512i index = _mm512_load_si512(offsets);
      for (int64_t block = 0; block < layout.blocks; ++block) {
        const float* channels = src + block * kLanes * height * width;
        for (int64_t c = 0; c < kLanes; ++c)
          _mm512_store_ps(gathered + c * kLanes, _mm512_i32gather_ps(index, channels + c * height * width, 4));
        transpose_block(gathered, kLanes, kLanes, n, dst + block * layout.plane() + p * kLanes, kLanes);
      }
    }
    for (int64_t block = 0; block < layout.blocks; ++block)
      std::memset(dst + block * layout.plane() + pixels * kLanes, 0,
                  static_cast<size_t>((layout.rows - rows_out) * layout.cols * kLanes) * sizeof(float));
    return;
  }
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  alignas(64) float gathered[kLanes * kLanes];
  for (int64_t block = 0; block < layout.blocks; ++block) {
    float* plane = dst + block * layout.plane();
    const float* channels = src + block * kLanes * height * width;
    std::memset(plane, 0, static_cast<size_t>(layout.plane()) * sizeof(float));
    for (int64_t i = 0; i < rows_out; ++i) {
      float* interior = plane + ((layout.top + i) * layout.cols + layout.left) * kLanes;
      for (int64_t j = 0; j < cols_out; j += kLanes) {
        const int64_t n = std::min(kLanes, cols_out - j);
        for (int64_t c = 0; c < kLanes; ++c) {
          const float* line = channels + c * height * width + i * step_h * width + j * step_w;
          if (step_w == 2) {  // two loads, keep the even lanes
            const int64_t span = std::min<int64_t>(2 * kLanes, width - j * step_w);
            const __m512 low =
                _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << std::min<int64_t>(span, 16)) - 1), line);
            const __m512 high = span > 16
                                    ? _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (span - 16)) - 1), line + 16)
                                    : _mm512_setzero_ps();
            _mm512_store_ps(gathered + c * kLanes, _mm512_permutex2var_ps(low, even, high));
          } else {
            for (int64_t k = 0; k < n; ++k) gathered[c * kLanes + k] = line[k * step_w];
          }
        }
        transpose_block(gathered, kLanes, kLanes, n, interior + j * kLanes, kLanes);
      }
    }
  }
}

// The first `channels` channels of blocks [rows][cols][16] of a blocked image (data at
// (top, left), extent height x width) back into NCHW channels [channels][height][width],
// adding bias if given: the zero channels that pad the last block are dropped.
inline void from_blocked_channels(const float* src, int64_t channels, int64_t rows, int64_t cols, int64_t top,
                                  int64_t left, int64_t height, int64_t width, const float* bias, float* dst) {
  const bool flat = top == 0 && left == 0 && cols == width;  // pixels of the plane back to back
  for (int64_t block = 0; block < block_count(channels, kLanes); ++block) {
    const int64_t valid = std::min(kLanes, channels - block * kLanes);
    const float* plane = src + block * rows * cols * kLanes;
    float* out = dst + block * kLanes * height * width;
    for (int64_t h = 0; h < (flat ? 0 : height); ++h) {
      const float* row = plane + ((top + h) * cols + left) * kLanes;
      for (int64_t w = 0; w < width; w += kLanes)
        transpose_block(row + w * kLanes, kLanes, std::min(kLanes, width - w), valid, out + h * width + w,
                        height * width);
    }
    const int64_t pixels = height * width;
    for (int64_t p = 0; p < (flat ? pixels : 0); p += kLanes)
      transpose_block(plane + p * kLanes, kLanes, std::min(kLanes, pixels - p), valid, out + p, pixels);
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
// stride (h w), `block` 16 channel strides, and only the first valid_rows x valid_cols
// pixels (the tile may run past the image) of the first valid_channels channels (the last
// block may be padded with zero weights past the layer's channels) are written, with
// bias[16 b + lane] added.
enum class Epilogue { store_blocked, add_blocked, store_nchw };

struct TileOutput {
  float* out;
  int64_t row, pixel, block;
  int64_t valid_rows = 16, valid_cols = 16;
  const float* bias = nullptr;
  int64_t valid_channels = INT64_MAX;
};

// Output tile of R x U pixels and B blocks of 16 channels:
//   acc[r][u][b] = sum over segments s, c < CB of in[segments[s] + r in_row + u PITCH + c] *
//                  w[s CB 16 + c 16 + b w_block .. + 16]
// then written per the epilogue E.
template <int B, int R, int U, int CB, int PITCH, Epilogue E>
void tile_kernel(const float* in, int64_t in_row, const int64_t* segments, int64_t segment_count, const float* w,
                 int64_t w_block, const TileOutput& o) {
  constexpr int P = R * U;
  static_assert(P <= 16, "a tile holds at most 16 pixels");
  __m512 acc[P * B];
#pragma GCC unroll 32
  for (int i = 0; i < P * B; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t s = 0; s < segment_count; ++s) {
    // One base pointer per tile row; columns and channels are compile-time displacements.
    const float* rows[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) rows[r] = in + segments[s] + r * in_row;
    const float* ws = w + s * (CB * kLanes);
#pragma GCC unroll 16
    for (int c = 0; c < CB; ++c) {
      __m512 wv[B];
#pragma GCC unroll 4
      for (int b = 0; b < B; ++b) wv[b] = _mm512_load_ps(ws + b * w_block + c * kLanes);
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) {
        const __m512 xv = _mm512_set1_ps(rows[p / U][(p % U) * PITCH + c]);
#pragma GCC unroll 4
        for (int b = 0; b < B; ++b) acc[p * B + b] = _mm512_fmadd_ps(xv, wv[b], acc[p * B + b]);
      }
    }
  }
  if constexpr (E == Epilogue::store_nchw) {
    // Pixels x channels -> channels x pixels in registers, then one masked store per channel
    // and tile row (row r's pixels moved down from lanes r U.. to lanes 0..).
    const __mmask16 columns = static_cast<__mmask16>((1u << std::min<int64_t>(o.valid_cols, U)) - 1);
    const int64_t rows = std::min<int64_t>(o.valid_rows, R);
    for (int b = 0; b < B; ++b) {
      const int64_t channels = std::min<int64_t>(o.valid_channels - b * kLanes, kLanes);
      if (channels <= 0) break;
      const __mmask16 present = static_cast<__mmask16>((1u << channels) - 1);
      const __m512 bias = o.bias != nullptr ? _mm512_maskz_loadu_ps(present, o.bias + b * kLanes) : _mm512_setzero_ps();
      __m512 r[16];
#pragma GCC unroll 16
      for (int p = 0; p < 16; ++p) r[p] = p < P ? _mm512_add_ps(acc[p * B + b], bias) : _mm512_setzero_ps();
      transpose16(r);
      float* base = o.out + b * o.block;
      for (int64_t row = 0; row < rows; ++row) {
        const __m512i shift = _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                               _mm512_set1_epi32(static_cast<int32_t>(row * U)));
#pragma GCC unroll 16
        for (int c = 0; c < 16; ++c) {
          const __m512 v = R == 1 ? r[c] : _mm512_permutexvar_ps(shift, r[c]);
          if (c < channels) _mm512_mask_storeu_ps(base + c * o.pixel + row * o.row, columns, v);
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
          _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), acc[p * B + b]));
        else
          _mm512_storeu_ps(out, acc[p * B + b]);
      }
    }
  }
}

using TileKernel = void (*)(const float*, int64_t, const int64_t*, int64_t, const float*, int64_t, const TileOutput&);

// Tile shape: B output blocks x R rows x U columns (16 to 24 accumulators).
struct Tile {
  int B, R, U;
};

inline Tile choose_tile(int64_t out_channels, int64_t out_w) {
  if (out_channels % (2 * kLanes) == 0) return out_w >= 8 ? Tile{2, 1, 8} : Tile{2, 2, 4};
  if (out_w >= 16) return {1, 1, 16};
  if (out_w >= 8) return {1, 2, 8};
  return {1, 4, 4};
}

template <int CB, int PITCH, Epilogue E>
TileKernel kernel_for_tile(const Tile& t) {
  if (t.B == 2) return t.R == 1 ? &tile_kernel<2, 1, 8, CB, PITCH, E> : &tile_kernel<2, 2, 4, CB, PITCH, E>;
  if (t.R == 1) return &tile_kernel<1, 1, 16, CB, PITCH, E>;
  return t.R == 2 ? &tile_kernel<1, 2, 8, CB, PITCH, E> : &tile_kernel<1, 4, 4, CB, PITCH, E>;
}

template <int CB>
TileKernel gather_kernel(const Tile& t, int64_t stride_w) {
  return stride_w == 1 ? kernel_for_tile<CB, CB, Epilogue::store_nchw>(t)
                       : kernel_for_tile<CB, 2 * CB, Epilogue::store_nchw>(t);
}

inline TileKernel select_gather_kernel(const Tile& t, int64_t cb, int64_t stride_w) {
  if (cb == 16) return gather_kernel<16>(t, stride_w);
  if (cb == 8) return gather_kernel<8>(t, stride_w);
  if (cb == 4) return gather_kernel<4>(t, stride_w);
  if (cb == 3) return gather_kernel<3>(t, stride_w);
  return gather_kernel<1>(t, stride_w);
}

// acc[t][b] += x[pixel input + t] (broadcast) * dy[b][pixel] (vector of 16 output channels)
// over `images` images of out_h x out_w pixels; then added to dw[b dw_block + t 16].
template <int B, int T>
void weight_kernel(const float* dy, int64_t dy_block, int64_t dy_image, const float* x, int64_t x_row, int64_t x_pixel,
                   int64_t x_image, int64_t images, int64_t out_h, int64_t out_w, float* dw, int64_t dw_block) {
  __m512 acc[T * B];
#pragma GCC unroll 32
  for (int i = 0; i < T * B; ++i) acc[i] = _mm512_setzero_ps();
  for (int64_t n = 0; n < images; ++n) {
    for (int64_t oh = 0; oh < out_h; ++oh) {
      const float* dy_row = dy + n * dy_image + oh * out_w * kLanes;
      const float* x_at = x + n * x_image + oh * x_row;
      for (int64_t ow = 0; ow < out_w; ++ow, x_at += x_pixel) {
        __m512 dv[B];
#pragma GCC unroll 4
        for (int b = 0; b < B; ++b) dv[b] = _mm512_load_ps(dy_row + b * dy_block + ow * kLanes);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const __m512 xv = _mm512_set1_ps(x_at[t]);
#pragma GCC unroll 4
          for (int b = 0; b < B; ++b) acc[t * B + b] = _mm512_fmadd_ps(xv, dv[b], acc[t * B + b]);
        }
      }
    }
  }
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t)
#pragma GCC unroll 4
    for (int b = 0; b < B; ++b) {
      float* o = dw + b * dw_block + t * kLanes;
      _mm512_store_ps(o, _mm512_add_ps(_mm512_load_ps(o), acc[t * B + b]));
    }
}

using WeightKernel = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                              int64_t, float*, int64_t);

template <int B>
WeightKernel weight_kernel_for(int64_t t) {
  switch (t) {
    case 16:
      return &weight_kernel<B, 16>;
    case 12:
      return &weight_kernel<B, 12>;
    case 9:
      return &weight_kernel<B, 9>;
    case 8:
      return &weight_kernel<B, 8>;
    case 3:
      return &weight_kernel<B, 3>;
    default:
      return &weight_kernel<B, 1>;
  }
}

}  // namespace slab::cpu::conv::avx512
