// Float32 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin &
// Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), on the channel-blocked
// layout of conv_blocked_kernels.h, vectors of L = 16 (AVX-512) or 8 (AVX2) channels. Each 2x2 output tile is
//   Y = A^T [ sum over c of (G g_c G^T) .* (B^T d_c B) ] A
// for the 4x4 input patch d_c of channel c and the 3x3 kernel g_c, with
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// The sum over channels is, for each of the 16 transform points xi, a matrix product
//   M[xi] (tiles x c_out) = V[xi] (tiles x c_in) U[xi] (c_in x c_out),
// run by the direct path's register-tile micro-kernel (tiles in place of pixels). It costs
// 16 multiply-adds per tile and channel pair where direct convolution costs 36, i.e. 2.25x
// fewer; the transforms are additions only (and halvings of the weights), so the rounding
// error stays within a few units of float32's last place relative to the direct sum.
//
// Any channel count: both channel counts are padded up to multiples of L inside (zero
// channels in the blocked input, zero rows and columns of U, padding channels of the output
// and of dW not written), which adds only exact zeros to every sum.
//
// The input gradient of a stride-1 convolution is itself one (dy with the kernel flipped in
// space and transposed in channels, padding 2 - pad), so it runs through the same code.
//
// Work: when the transformed weights U fit in L2, chunks of images run the whole pipeline
// (transform to V, 16 products to M, transform back) with V and M in L2; otherwise every
// tile is transformed first, the products run one transform point at a time (U read once),
// and the tiles are transformed back. Threads take chunks, images or points dynamically
// (a thread that loses its core on a shared machine then does less instead of holding the
// other up); the weight gradient sums fixed lanes of images in lane order, so results do
// not depend on the thread schedule.
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
using Vec = Isa::Vec;

constexpr int64_t kPoints = 16;                 // 4 x 4 transform points
constexpr int64_t kChunkBudgetBytes = 1 << 20;  // V + M of one chunk, to stay in a 2 MiB L2

// U[xi] = (G g G^T)[xi] for every (o, c), packed for the micro-kernel as
// [xi][c_out / L][c_in][L output channels], both counts padded up to multiples of L with
// zeros. flip_transpose transforms the input-gradient kernel (g'[c][o] = g[o][c] rotated by
// 180 degrees) instead.
void transform_weights(const float* w, int64_t c_out, int64_t c_in, bool flip_transpose, float* u) {
  const int64_t c_out_padded = round_up(c_out, kLanes), c_in_padded = round_up(c_in, kLanes);
  const int64_t point_stride = c_out_padded * c_in_padded;
  // A vector of output channels at a time, one per lane: gathers of the 3x3 taps, the
  // transform in registers, and one aligned store per transform point.
  const Isa::Index lanes = Isa::lane_offsets(static_cast<int32_t>(flip_transpose ? 9 : 9 * c_in));
  const Vec half = Isa::set1(0.5f);
#pragma omp parallel for schedule(static)
  for (int64_t out_block = 0; out_block < c_out_padded / kLanes; ++out_block)
    for (int64_t c = 0; c < c_in_padded; ++c) {
      const int64_t o = out_block * kLanes;
      // The lanes of existing output channels; none for a padding input channel.
      const int64_t present = c < c_in ? std::min<int64_t>(kLanes, c_out - o) : 0;
      const float* base = c >= c_in ? w : flip_transpose ? w + (c * c_out + o) * 9 : w + (o * c_in + c) * 9;
      Vec g[3][3];
      for (int p = 0; p < 3; ++p)
        for (int q = 0; q < 3; ++q) {
          const int tap = flip_transpose ? (2 - p) * 3 + (2 - q) : p * 3 + q;
          g[p][q] = Isa::gather_first(base + tap, lanes, present);
        }
      Vec gg[4][3];  // G g
      for (int q = 0; q < 3; ++q) {
        gg[0][q] = g[0][q];
        gg[1][q] = Isa::mul(half, Isa::add(Isa::add(g[0][q], g[1][q]), g[2][q]));
        gg[2][q] = Isa::mul(half, Isa::add(Isa::sub(g[0][q], g[1][q]), g[2][q]));
        gg[3][q] = g[2][q];
      }
      float* dst = u + (out_block * c_in_padded + c) * kLanes;
      for (int i = 0; i < 4; ++i) {  // (G g) G^T
        const Vec row[4] = {
            gg[i][0], Isa::mul(half, Isa::add(Isa::add(gg[i][0], gg[i][1]), gg[i][2])),
            Isa::mul(half, Isa::add(Isa::sub(gg[i][0], gg[i][1]), gg[i][2])), gg[i][2]};
        for (int j = 0; j < 4; ++j) Isa::store(dst + (i * 4 + j) * point_stride, row[j]);
      }
    }
}

struct WinogradPlan {
  Geometry g;  // the convolution with both channel counts padded up to multiples of L
  int64_t c_in, c_out;  // the layer's own channel counts
  int64_t tiles_h, tiles_w, tiles_per_image;
  Blocked in;                  // one blocked, padded input image
  int64_t out_rows, out_cols;  // one blocked output image: 2 tiles_h x 2 tiles_w
  Tile tile;                   // of the products: B output blocks x U tiles
  TileKernel kernel;
};

WinogradPlan plan_winograd(const Geometry& g) {
  WinogradPlan plan;
  plan.g = g;
  plan.g.c_in = round_up(g.c_in, kLanes);
  plan.g.c_out = round_up(g.c_out, kLanes);
  plan.c_in = g.c_in;
  plan.c_out = g.c_out;
  plan.tiles_h = (g.out_h + 1) / 2;
  plan.tiles_w = (g.out_w + 1) / 2;
  plan.tiles_per_image = plan.tiles_h * plan.tiles_w;
  // Tile (th, tw) reads padded rows 2 th .. 2 th + 3 and columns 2 tw .. 2 tw + 3.
  plan.in = Blocked{kLanes,
                    plan.g.c_in / kLanes,
                    std::max(g.height + 2 * g.pad_h, 2 * plan.tiles_h + 2),
                    std::max(g.width + 2 * g.pad_w, 2 * plan.tiles_w + 2),
                    g.pad_h,
                    g.pad_w,
                    g.c_in};
  plan.out_rows = 2 * plan.tiles_h;
  plan.out_cols = 2 * plan.tiles_w;
  plan.tile = winograd_tile(plan.g.c_out);
  plan.kernel = winograd_kernel(plan.tile);
  return plan;
}

// V[xi][c_in / L][slot][L] for the image's tiles [tile_begin, tile_end) (row-major tile
// index), written from slot `first` on.
void transform_input(const WinogradPlan& plan, const float* x_blocked, int64_t tile_begin, int64_t tile_end,
                     int64_t first, int64_t tiles_stride, float* v) {
  const int64_t cols = plan.in.cols, point_stride = plan.g.c_in * tiles_stride;
  for (int64_t block = 0; block < plan.in.blocks; ++block) {
    const float* plane = x_blocked + block * plan.in.plane();
    float* out = v + (block * tiles_stride + first) * kLanes;
    for (int64_t tile = tile_begin; tile < tile_end; ++tile, out += kLanes) {
      const int64_t th = tile / plan.tiles_w, tw = tile % plan.tiles_w;
      const float* patch = plane + (2 * th * cols + 2 * tw) * kLanes;
      Vec t[4][4];
      for (int j = 0; j < 4; ++j) {  // B^T d, down the columns
        const Vec d0 = Isa::loadu(patch + j * kLanes), d1 = Isa::loadu(patch + (cols + j) * kLanes);
        const Vec d2 = Isa::loadu(patch + (2 * cols + j) * kLanes);
        const Vec d3 = Isa::loadu(patch + (3 * cols + j) * kLanes);
        t[0][j] = Isa::sub(d0, d2);
        t[1][j] = Isa::add(d1, d2);
        t[2][j] = Isa::sub(d2, d1);
        t[3][j] = Isa::sub(d1, d3);
      }
      for (int i = 0; i < 4; ++i) {  // (B^T d) B, along the rows
        Isa::store(out + (i * 4 + 0) * point_stride, Isa::sub(t[i][0], t[i][2]));
        Isa::store(out + (i * 4 + 1) * point_stride, Isa::add(t[i][1], t[i][2]));
        Isa::store(out + (i * 4 + 2) * point_stride, Isa::sub(t[i][2], t[i][1]));
        Isa::store(out + (i * 4 + 3) * point_stride, Isa::sub(t[i][1], t[i][3]));
      }
    }
  }
}

// The adjoint of the output transform for the weight gradient: dM = A dY A^T (2x2 -> 4x4,
// A = [1 0; 1 1; 1 -1; 0 -1]) of the tiles [tile_begin, tile_end) of one image's blocked
// output gradient [c_out / L][out_rows][out_cols][L], into dM[xi][c_out / L][slot][L].
void transform_output_gradient(const WinogradPlan& plan, const float* dy_blocked, int64_t tile_begin, int64_t tile_end,
                               int64_t first, int64_t tiles_stride, float* dm) {
  const int64_t cols = plan.out_cols, point_stride = plan.g.c_out * tiles_stride;
  for (int64_t block = 0; block < plan.g.c_out / kLanes; ++block) {
    const float* plane = dy_blocked + block * plan.out_rows * cols * kLanes;
    float* out = dm + (block * tiles_stride + first) * kLanes;
    for (int64_t tile = tile_begin; tile < tile_end; ++tile, out += kLanes) {
      const int64_t th = tile / plan.tiles_w, tw = tile % plan.tiles_w;
      const float* y = plane + (2 * th * cols + 2 * tw) * kLanes;
      const Vec y00 = Isa::loadu(y), y01 = Isa::loadu(y + kLanes);
      const Vec y10 = Isa::loadu(y + cols * kLanes), y11 = Isa::loadu(y + (cols + 1) * kLanes);
      const Vec zero = Isa::zero();
      const Vec r[4][2] = {{y00, y01},
                              {Isa::add(y00, y10), Isa::add(y01, y11)},
                              {Isa::sub(y00, y10), Isa::sub(y01, y11)},
                              {Isa::sub(zero, y10), Isa::sub(zero, y11)}};
      for (int i = 0; i < 4; ++i) {
        Isa::store(out + (i * 4 + 0) * point_stride, r[i][0]);
        Isa::store(out + (i * 4 + 1) * point_stride, Isa::add(r[i][0], r[i][1]));
        Isa::store(out + (i * 4 + 2) * point_stride, Isa::sub(r[i][0], r[i][1]));
        Isa::store(out + (i * 4 + 3) * point_stride, Isa::sub(zero, r[i][1]));
      }
    }
  }
}

// Y = A^T M A for one image's tiles into its blocked output [c_out / L][out_rows][out_cols][L].
void transform_output(const WinogradPlan& plan, const float* m, int64_t first, int64_t tiles_stride, float* y_blocked) {
  const int64_t point_stride = plan.g.c_out * tiles_stride, cols = plan.out_cols;
  for (int64_t block = 0; block < plan.g.c_out / kLanes; ++block) {
    const float* in = m + (block * tiles_stride + first) * kLanes;
    float* plane = y_blocked + block * plan.out_rows * cols * kLanes;
    for (int64_t th = 0; th < plan.tiles_h; ++th)
      for (int64_t tw = 0; tw < plan.tiles_w; ++tw, in += kLanes) {
        Vec s[2][4];
        for (int j = 0; j < 4; ++j) {  // A^T M, down the columns
          const Vec m0 = Isa::load(in + (0 * 4 + j) * point_stride);
          const Vec m1 = Isa::load(in + (1 * 4 + j) * point_stride);
          const Vec m2 = Isa::load(in + (2 * 4 + j) * point_stride);
          const Vec m3 = Isa::load(in + (3 * 4 + j) * point_stride);
          s[0][j] = Isa::add(Isa::add(m0, m1), m2);
          s[1][j] = Isa::sub(Isa::sub(m1, m2), m3);
        }
        float* out = plane + (2 * th * cols + 2 * tw) * kLanes;
        for (int i = 0; i < 2; ++i) {  // (A^T M) A, along the rows
          Isa::storeu(out + (i * cols + 0) * kLanes, Isa::add(Isa::add(s[i][0], s[i][1]), s[i][2]));
          Isa::storeu(out + (i * cols + 1) * kLanes, Isa::sub(Isa::sub(s[i][1], s[i][2]), s[i][3]));
        }
      }
  }
}

// M[xi] = V[xi] U[xi] for the transform points [point_begin, point_end), over `padded_tiles`
// tiles laid out `tiles_stride` apart (segments: the offsets of V's channel blocks).
void products(const WinogradPlan& plan, const float* v, const float* u, float* m, int64_t tiles_stride,
              int64_t padded_tiles, const int64_t* segments, int64_t point_begin, int64_t point_end) {
  const Geometry& g = plan.g;
  const int64_t groups = g.c_out / kLanes / plan.tile.B, blocks_in = g.c_in / kLanes;
  for (int64_t point = point_begin; point < point_end; ++point) {
    const float* v_point = v + point * g.c_in * tiles_stride;
    const float* u_point = u + point * g.c_out * g.c_in;
    float* m_point = m + point * g.c_out * tiles_stride;
    for (int64_t group = 0; group < groups; ++group)
      for (int64_t t = 0; t < padded_tiles; t += plan.tile.U) {
        const TileOutput o{m_point + (group * plan.tile.B * tiles_stride + t) * kLanes, 0, kLanes,
                           tiles_stride * kLanes};
        plan.kernel(v_point + t * kLanes, 0, segments, blocks_in, u_point + group * plan.tile.B * g.c_in * kLanes,
                    g.c_in * kLanes, o);
      }
  }
}

// Zeros V's tiles [tiles, padded_tiles): the last micro-tile's spare columns.
void zero_spare_tiles(float* v, int64_t c_in, int64_t tiles_stride, int64_t tiles, int64_t padded_tiles) {
  if (padded_tiles == tiles) return;
  for (int64_t point = 0; point < kPoints; ++point)
    for (int64_t block = 0; block < c_in / kLanes; ++block)
      std::memset(v + ((point * (c_in / kLanes) + block) * tiles_stride + tiles) * kLanes, 0,
                  static_cast<size_t>((padded_tiles - tiles) * kLanes) * sizeof(float));
}

// x [batch][plan.c_in][h][w] and out [batch][plan.c_out][out_h][out_w] have the layer's own
// channel counts; everything in between is padded (g).
void winograd_convolution(const Geometry& layer, const float* x, const float* u, const float* bias, float* out) {
  const WinogradPlan plan = plan_winograd(layer);
  const Geometry& g = plan.g;
  const int64_t x_image = plan.c_in * g.in_pixels(), out_image = plan.c_out * g.out_pixels();
  const int threads = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(g.batch)));
  const int64_t tile_bytes = kPoints * (g.c_in + g.c_out) * static_cast<int64_t>(sizeof(float));
  const int64_t u_bytes = kPoints * g.c_in * g.c_out * static_cast<int64_t>(sizeof(float));
  const int64_t blocks_in = g.c_in / kLanes;
  // Threads take work items dynamically: on a shared machine a thread that loses its core
  // for a while then does less, instead of the other one waiting for it.
  if (u_bytes <= kChunkBudgetBytes) {
    // U fits in L2: chunks of images each run the whole pipeline with V and M in L2.
    const int64_t images_per_chunk = std::clamp<int64_t>(kChunkBudgetBytes / (tile_bytes * plan.tiles_per_image), 1,
                                                         std::max<int64_t>(1, g.batch / (4 * threads)));
    const int64_t tiles_stride = round_up(images_per_chunk * plan.tiles_per_image, plan.tile.U);
#pragma omp parallel num_threads(threads)
    {
      float* x_blocked = static_cast<float*>(thread_scratch(static_cast<size_t>(plan.in.image()) * sizeof(float), 1));
      float* y_blocked = static_cast<float*>(
          thread_scratch(static_cast<size_t>(g.c_out * plan.out_rows * plan.out_cols) * sizeof(float), 2));
      float* v =
          static_cast<float*>(thread_scratch(static_cast<size_t>(kPoints * g.c_in * tiles_stride) * sizeof(float), 3));
      float* m =
          static_cast<float*>(thread_scratch(static_cast<size_t>(kPoints * g.c_out * tiles_stride) * sizeof(float), 4));
      thread_local std::vector<int64_t> segments;  // this thread's; reused, no allocation once grown
      segments.resize(static_cast<size_t>(blocks_in));
      for (int64_t block = 0; block < blocks_in; ++block)
        segments[static_cast<size_t>(block)] = block * tiles_stride * kLanes;
#pragma omp for schedule(dynamic, 1)
      for (int64_t chunk = 0; chunk < g.batch; chunk += images_per_chunk) {
        const int64_t images = std::min(images_per_chunk, g.batch - chunk);
        const int64_t tiles = images * plan.tiles_per_image, padded_tiles = round_up(tiles, plan.tile.U);
        for (int64_t i = 0; i < images; ++i) {
          to_blocked<Isa>(x + (chunk + i) * x_image, g.height, g.width, plan.in, x_blocked);
          transform_input(plan, x_blocked, 0, plan.tiles_per_image, i * plan.tiles_per_image, tiles_stride, v);
        }
        zero_spare_tiles(v, g.c_in, tiles_stride, tiles, padded_tiles);
        products(plan, v, u, m, tiles_stride, padded_tiles, segments.data(), 0, kPoints);
        for (int64_t i = 0; i < images; ++i) {
          transform_output(plan, m, i * plan.tiles_per_image, tiles_stride, y_blocked);
          from_blocked_channels<Isa>(y_blocked, plan.c_out, plan.out_rows, plan.out_cols, 0, 0, g.out_h, g.out_w, bias,
                       out + (chunk + i) * out_image);
        }
      }
    }
    return;
  }
  // U larger than L2: every tile is transformed once into shared V, the products run one
  // transform point at a time (each point's U read once), then every tile is transformed back.
  const int64_t tiles = g.batch * plan.tiles_per_image, tiles_stride = round_up(tiles, plan.tile.U);
  Tensor v_all = Tensor::empty({kPoints * g.c_in * tiles_stride});
  Tensor m_all = Tensor::empty({kPoints * g.c_out * tiles_stride});
  float* v = v_all.data<float>();
  float* m = m_all.data<float>();
  zero_spare_tiles(v, g.c_in, tiles_stride, tiles, tiles_stride);
  thread_local std::vector<int64_t> reusable_segments;
  std::vector<int64_t>& segments = reusable_segments;  // a named reference: workers read this thread's vector
  segments.resize(static_cast<size_t>(blocks_in));
  for (int64_t block = 0; block < blocks_in; ++block)
    segments[static_cast<size_t>(block)] = block * tiles_stride * kLanes;
#pragma omp parallel num_threads(threads)
  {
    float* x_blocked = static_cast<float*>(thread_scratch(static_cast<size_t>(plan.in.image()) * sizeof(float), 1));
    float* y_blocked = static_cast<float*>(
        thread_scratch(static_cast<size_t>(g.c_out * plan.out_rows * plan.out_cols) * sizeof(float), 2));
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < g.batch; ++n) {
      to_blocked<Isa>(x + n * x_image, g.height, g.width, plan.in, x_blocked);
      transform_input(plan, x_blocked, 0, plan.tiles_per_image, n * plan.tiles_per_image, tiles_stride, v);
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t point = 0; point < kPoints; ++point)
      products(plan, v, u, m, tiles_stride, tiles_stride, segments.data(), point, point + 1);
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < g.batch; ++n) {
      transform_output(plan, m, n * plan.tiles_per_image, tiles_stride, y_blocked);
      from_blocked_channels<Isa>(y_blocked, plan.c_out, plan.out_rows, plan.out_cols, 0, 0, g.out_h, g.out_w, bias,
                   out + n * out_image);
    }
  }
}

// dW = G^T dU G for every (o, c) (dU [xi][c_out / L][c_in][L], both counts padded up to
// multiples of L, summed over `parts` partials spaced part_stride apart), written to
// grad_weight [c_out][c_in][3][3] without the padding channels.
void transform_weight_gradient(const float* du, int64_t parts, int64_t part_stride, int64_t c_out, int64_t c_in,
                               float* grad_weight) {
  const int64_t c_out_padded = round_up(c_out, kLanes), c_in_padded = round_up(c_in, kLanes);
  const int64_t point_stride = c_out_padded * c_in_padded;
  const Isa::Index lanes = Isa::lane_offsets(static_cast<int32_t>(9 * c_in));
  const Vec half = Isa::set1(0.5f);
  // G^T applied to the 4 values along one axis: [u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3].
  auto reduce = [&](Vec u0, Vec u1, Vec u2, Vec u3, Vec out[3]) {
    const Vec sum = Isa::mul(half, Isa::add(u1, u2));
    out[0] = Isa::add(u0, sum);
    out[1] = Isa::mul(half, Isa::sub(u1, u2));
    out[2] = Isa::add(sum, u3);
  };
#pragma omp parallel for schedule(static)
  for (int64_t out_block = 0; out_block < c_out_padded / kLanes; ++out_block)
    for (int64_t c = 0; c < c_in; ++c) {
      const int64_t present = std::min<int64_t>(kLanes, c_out - out_block * kLanes);
      const float* src = du + (out_block * c_in_padded + c) * kLanes;
      Vec d[4][4];
      for (int xi = 0; xi < 16; ++xi) {
        Vec total = Isa::load(src + xi * point_stride);
        for (int64_t part = 1; part < parts; ++part)
          total = Isa::add(total, Isa::load(src + part * part_stride + xi * point_stride));
        d[xi / 4][xi % 4] = total;
      }
      Vec rows[3][4];  // G^T dU
      for (int j = 0; j < 4; ++j) {
        Vec column[3];
        reduce(d[0][j], d[1][j], d[2][j], d[3][j], column);
        for (int p = 0; p < 3; ++p) rows[p][j] = column[p];
      }
      float* dst = grad_weight + (out_block * kLanes * c_in + c) * 9;
      for (int p = 0; p < 3; ++p) {  // (G^T dU) G
        Vec taps[3];
        reduce(rows[p][0], rows[p][1], rows[p][2], rows[p][3], taps);
        for (int q = 0; q < 3; ++q) Isa::scatter_first(dst + p * 3 + q, lanes, present, taps[q]);
      }
    }
}

// dU[xi] (c_out x c_in) = sum over tiles of dM[xi][tile] (x) V[xi][tile]: vectors of L output
// channels of dM times broadcast input channels of V, by the weight-gradient micro-kernel.
void accumulate_products(const WinogradPlan& plan, const float* dm, const float* v, int64_t tiles, int64_t tiles_stride,
                         int64_t point_begin, int64_t point_end, float* du) {
  const Geometry& g = plan.g;
  const int B = g.c_out % (2 * kLanes) == 0 ? 2 : 1;
  const int64_t chunk = winograd_weight_chunk(B);
  const WeightKernel kernel = B == 2 ? weight_kernel_for<2>(chunk) : weight_kernel_for<1>(chunk);
  for (int64_t point = point_begin; point < point_end; ++point) {
    const float* dm_point = dm + point * g.c_out * tiles_stride;
    const float* v_point = v + point * g.c_in * tiles_stride;
    float* du_point = du + point * g.c_out * g.c_in;
    for (int64_t group = 0; group < g.c_out / kLanes / B; ++group)
      for (int64_t block = 0; block < g.c_in / kLanes; ++block)
        for (int64_t e = 0; e < kLanes; e += chunk)
          kernel(dm_point + group * B * tiles_stride * kLanes, tiles_stride * kLanes, 0,
                 v_point + block * tiles_stride * kLanes + e, 0, kLanes, 0, 1, 1, tiles,
                 du_point + (group * B * g.c_in + block * kLanes + e) * kLanes, g.c_in * kLanes);
  }
}

void winograd_weight_gradient(const Geometry& layer, const float* grad_out, const float* x, float* grad_weight) {
  const WinogradPlan plan = plan_winograd(layer);
  const Geometry& g = plan.g;  // padded; x and grad_out have the layer's channel counts
  const int64_t x_image = plan.c_in * g.in_pixels(), dy_image = plan.c_out * g.out_pixels();
  const Blocked dy_layout{kLanes, g.c_out / kLanes, plan.out_rows, plan.out_cols, 0, 0, plan.c_out};
  const int64_t du_size = kPoints * g.c_out * g.c_in;
  const int64_t tile_floats = kPoints * (g.c_in + g.c_out);
  const int threads = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(g.batch)));
  if (du_size * static_cast<int64_t>(sizeof(float)) <= kChunkBudgetBytes) {
    // dU fits in L2. The images are cut into a fixed number of lanes, each summing its
    // images, a few tiles at a time, into its own dU; threads take lanes dynamically and the
    // lanes are added in lane order, so the result does not depend on which thread ran what.
    const int64_t lanes = std::min<int64_t>(g.batch, 2 * threads);
    const int64_t tiles_per_chunk =
        std::max<int64_t>(8, kChunkBudgetBytes / 2 / (tile_floats * static_cast<int64_t>(sizeof(float))));
    Tensor partials = Tensor::empty({lanes, du_size});
#pragma omp parallel num_threads(threads)
    {
      float* x_blocked = static_cast<float*>(thread_scratch(static_cast<size_t>(plan.in.image()) * sizeof(float), 1));
      float* dy_blocked =
          static_cast<float*>(thread_scratch(static_cast<size_t>(dy_layout.image()) * sizeof(float), 2));
      float* v = static_cast<float*>(
          thread_scratch(static_cast<size_t>(kPoints * g.c_in * tiles_per_chunk) * sizeof(float), 3));
      float* dm = static_cast<float*>(
          thread_scratch(static_cast<size_t>(kPoints * g.c_out * tiles_per_chunk) * sizeof(float), 4));
#pragma omp for schedule(dynamic, 1)
      for (int64_t lane = 0; lane < lanes; ++lane) {
        float* du = partials.data<float>() + lane * du_size;
        std::memset(du, 0, static_cast<size_t>(du_size) * sizeof(float));
        for (int64_t n = g.batch * lane / lanes; n < g.batch * (lane + 1) / lanes; ++n) {
          to_blocked<Isa>(x + n * x_image, g.height, g.width, plan.in, x_blocked);
          to_blocked<Isa>(grad_out + n * dy_image, g.out_h, g.out_w, dy_layout, dy_blocked);
          for (int64_t begin = 0; begin < plan.tiles_per_image; begin += tiles_per_chunk) {
            const int64_t end = std::min(begin + tiles_per_chunk, plan.tiles_per_image);
            transform_input(plan, x_blocked, begin, end, 0, tiles_per_chunk, v);
            transform_output_gradient(plan, dy_blocked, begin, end, 0, tiles_per_chunk, dm);
            accumulate_products(plan, dm, v, end - begin, tiles_per_chunk, 0, kPoints, du);
          }
        }
      }
    }
    transform_weight_gradient(partials.data<float>(), lanes, du_size, plan.c_out, plan.c_in, grad_weight);
    return;
  }
  // A large dU: every tile transformed once into shared V and dM, the 16 products taken by
  // transform point (each writes its own dU[xi], no partials).
  const int64_t tiles = g.batch * plan.tiles_per_image;
  Tensor v_all = Tensor::empty({kPoints * g.c_in * tiles});
  Tensor dm_all = Tensor::empty({kPoints * g.c_out * tiles});
  Tensor du_all = Tensor::empty({du_size});
  float* v = v_all.data<float>();
  float* dm = dm_all.data<float>();
  float* du = du_all.data<float>();
#pragma omp parallel num_threads(threads)
  {
    float* x_blocked = static_cast<float*>(thread_scratch(static_cast<size_t>(plan.in.image()) * sizeof(float), 1));
    float* dy_blocked = static_cast<float*>(thread_scratch(static_cast<size_t>(dy_layout.image()) * sizeof(float), 2));
#pragma omp for schedule(dynamic, 1)
    for (int64_t n = 0; n < g.batch; ++n) {
      to_blocked<Isa>(x + n * x_image, g.height, g.width, plan.in, x_blocked);
      to_blocked<Isa>(grad_out + n * dy_image, g.out_h, g.out_w, dy_layout, dy_blocked);
      transform_input(plan, x_blocked, 0, plan.tiles_per_image, n * plan.tiles_per_image, tiles, v);
      transform_output_gradient(plan, dy_blocked, 0, plan.tiles_per_image, n * plan.tiles_per_image, tiles, dm);
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t point = 0; point < kPoints; ++point) {
      std::memset(du + point * g.c_out * g.c_in, 0, static_cast<size_t>(g.c_out * g.c_in) * sizeof(float));
      accumulate_products(plan, dm, v, tiles, tiles, point, point + 1, du);
    }
  }
  transform_weight_gradient(du, 1, du_size, plan.c_out, plan.c_in, grad_weight);
}

bool winograd_geometry(const Geometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 &&
         g.dilation_w == 1 && g.groups == 1;
}

}  // namespace

bool winograd_supports(const Geometry& g, DType dtype, Pass pass) {
  return dtype == DType::f32 && winograd_geometry(g) &&
         (pass != Pass::backward_input || (g.pad_h <= 2 && g.pad_w <= 2));
}

void winograd_forward(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out) {
  Tensor u = Tensor::empty({kPoints * round_up(g.c_out, kLanes) * round_up(g.c_in, kLanes)});
  transform_weights(weight.data<float>(), g.c_out, g.c_in, false, u.data<float>());
  winograd_convolution(g, x.data<float>(), u.data<float>(), bias.defined() ? bias.data<float>() : nullptr,
                       out.data<float>());
}

void winograd_backward_input(const Geometry& g, const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x) {
  // dx = conv(dy, kernel flipped and transposed, padding 2 - pad), stride 1.
  const Geometry flipped{g.batch, g.c_out, g.out_h, g.out_w,     g.c_in,      3, 3, g.height,
                         g.width, 1,       1,       2 - g.pad_h, 2 - g.pad_w, 1, 1, 1};
  Tensor u = Tensor::empty({kPoints * round_up(g.c_out, kLanes) * round_up(g.c_in, kLanes)});
  transform_weights(weight.data<float>(), g.c_in, g.c_out, true, u.data<float>());
  winograd_convolution(flipped, grad_out.data<float>(), u.data<float>(), nullptr, grad_x.data<float>());
}

void winograd_backward_weight(const Geometry& g, const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight) {
  winograd_weight_gradient(g, grad_out.data<float>(), x.data<float>(), grad_weight.data<float>());
}

#else

bool winograd_supports(const Geometry&, DType, Pass) { return false; }
void winograd_backward_weight(const Geometry&, const Tensor&, const Tensor&, const Tensor&) {
  SLAB_FAIL("conv2d: the Winograd path needs AVX-512 or AVX2 with FMA");
}
void winograd_forward(const Geometry&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  SLAB_FAIL("conv2d: the Winograd path needs AVX-512 or AVX2 with FMA");
}
void winograd_backward_input(const Geometry&, const Tensor&, const Tensor&, const Tensor&) {
  SLAB_FAIL("conv2d: the Winograd path needs AVX-512 or AVX2 with FMA");
}

#endif

}  // namespace slab::cpu::conv
