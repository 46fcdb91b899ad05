// conv2d, max/avg/adaptive pooling and batch_norm: float64 gradient checks of every
// variant, forward values against direct definitions written out here, the float32
// channel-blocked convolution against the float64 reference, PyTorch's running-statistics
// update, and the errors for impossible geometry.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/cpu/conv_paths.h"
#include "core/ops.h"
#include "core/random.h"
#include "tests/gradcheck.h"

using namespace slab;
using slab::testing::check_gradients;

namespace {

TensorOptions f64{DType::f64};

Tensor random64(const Shape& shape, uint64_t seed) {
  Generator generator(seed);
  return randn(shape, generator, f64);
}

// Distinct values (a shuffled ramp, spaced 0.05 apart): max pooling has no ties, and no
// finite-difference step moves one value past another.
Tensor distinct64(const Shape& shape, uint64_t seed) {
  const int64_t count = shape_numel(shape);
  std::vector<double> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[static_cast<size_t>(i)] = 0.05 * static_cast<double>(i - count / 2);
  Generator generator(seed);
  for (int64_t i = count - 1; i > 0; --i)
    std::swap(values[static_cast<size_t>(i)],
              values[static_cast<size_t>(generator.below(static_cast<uint64_t>(i + 1)))]);
  return from_vector(values, shape, f64);
}

// conv2d straight from its definition (six nested loops), in double.
Tensor reference_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o) {
  const int64_t n = x.size(0), c_in = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t c_out = w.size(0), per_group = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t out_per_group = c_out / o.groups;
  const int64_t oh = (h + 2 * o.padding[0] - o.dilation[0] * (kh - 1) - 1) / o.stride[0] + 1;
  const int64_t ow = (wd + 2 * o.padding[1] - o.dilation[1] * (kw - 1) - 1) / o.stride[1] + 1;
  const std::vector<double> xv = x.to_vector(), wv = w.to_vector();
  std::vector<double> out(static_cast<size_t>(n * c_out * oh * ow));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o2 = 0; o2 < c_out; ++o2)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t z = 0; z < ow; ++z) {
          double total = b.defined() ? b.at({o2}) : 0.0;
          const int64_t group = o2 / out_per_group;
          for (int64_t c = 0; c < per_group; ++c)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t iy = y * o.stride[0] + p * o.dilation[0] - o.padding[0];
                const int64_t iz = z * o.stride[1] + q * o.dilation[1] - o.padding[1];
                if (iy < 0 || iy >= h || iz < 0 || iz >= wd) continue;
                const int64_t ci = group * per_group + c;
                total += wv[static_cast<size_t>(((o2 * per_group + c) * kh + p) * kw + q)] *
                         xv[static_cast<size_t>(((i * c_in + ci) * h + iy) * wd + iz)];
              }
          out[static_cast<size_t>(((i * c_out + o2) * oh + y) * ow + z)] = total;
        }
  return from_vector(out, {n, c_out, oh, ow}, f64);
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const std::vector<double> av = a.to_vector(), bv = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    const double difference = std::abs(av[i] - bv[i]);
    if (std::isnan(difference)) return std::numeric_limits<double>::infinity();  // std::max would drop it
    worst = std::max(worst, difference);
  }
  return worst;
}

double max_abs(const Tensor& a) {
  double worst = 0;
  for (double v : a.to_vector()) worst = std::max(worst, std::abs(v));
  return worst;
}

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dOptions options;
  bool bias;
};

Conv2dOptions conv_options(int64_t stride, int64_t pad, int64_t dilation = 1, int64_t groups = 1) {
  Conv2dOptions o;
  o.stride = {stride, stride};
  o.padding = {pad, pad};
  o.dilation = {dilation, dilation};
  o.groups = groups;
  return o;
}

}  // namespace

// ---- convolution ----------------------------------------------------------------------

TEST_CASE("conv2d forward matches the direct definition") {
  Conv2dOptions asymmetric;
  asymmetric.stride = {2, 1};
  asymmetric.padding = {0, 2};
  asymmetric.dilation = {1, 2};
  const std::vector<ConvCase> cases = {
      {"3x3 pad 1", {2, 3, 6, 5}, {4, 3, 3, 3}, conv_options(1, 1), true},
      {"3x3 stride 2", {2, 3, 7, 7}, {5, 3, 3, 3}, conv_options(2, 1), false},
      {"dilation 2", {1, 2, 7, 6}, {3, 2, 3, 3}, conv_options(1, 2, 2), true},
      {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, conv_options(1, 1, 1, 2), true},
      {"depthwise", {2, 3, 5, 4}, {3, 1, 3, 3}, conv_options(1, 1, 1, 3), false},
      {"pointwise", {3, 5, 4, 3}, {2, 5, 1, 1}, conv_options(1, 0), true},
      {"1x1 stride 2", {2, 4, 5, 6}, {3, 4, 1, 1}, conv_options(2, 0), false},
      {"non-square asymmetric", {2, 2, 6, 9}, {3, 2, 2, 3}, asymmetric, true},
  };
  for (const ConvCase& c : cases) {
    INFO(c.name);
    const Tensor x = random64(c.x, 1), w = random64(c.w, 2);
    const Tensor b = c.bias ? random64({c.w[0]}, 3) : Tensor();
    CHECK(max_abs_difference(conv2d(x, w, b, c.options), reference_conv(x, w, b, c.options)) < 1e-12);
  }
}

TEST_CASE("conv2d gradients (float64 finite differences)") {
  Conv2dOptions asymmetric;
  asymmetric.stride = {1, 2};
  asymmetric.padding = {2, 1};
  asymmetric.dilation = {2, 1};
  const std::vector<ConvCase> cases = {
      {"3x3 pad 1 with bias", {2, 3, 5, 4}, {4, 3, 3, 3}, conv_options(1, 1), true},
      {"stride 2", {2, 2, 6, 5}, {3, 2, 3, 3}, conv_options(2, 1), true},
      {"dilation 2", {2, 2, 6, 6}, {2, 2, 3, 3}, conv_options(1, 1, 2), false},
      {"groups 2", {2, 4, 4, 4}, {4, 2, 3, 3}, conv_options(1, 1, 1, 2), true},
      {"pointwise", {2, 3, 3, 4}, {4, 3, 1, 1}, conv_options(1, 0), true},
      {"1x1 stride 2 (shortcut)", {2, 3, 5, 5}, {2, 3, 1, 1}, conv_options(2, 0), false},
      {"one image (GEMM threads itself)", {1, 2, 5, 5}, {3, 2, 3, 3}, conv_options(1, 1), true},
      {"non-square asymmetric", {2, 2, 5, 6}, {2, 2, 3, 2}, asymmetric, true},
  };
  for (const ConvCase& c : cases) {
    INFO(c.name);
    std::vector<Tensor> inputs = {random64(c.x, 4), random64(c.w, 5)};
    if (c.bias) inputs.push_back(random64({c.w[0]}, 6));
    check_gradients(
        [&](const std::vector<Tensor>& in) {
          return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), c.options);
        },
        inputs);
  }
}

TEST_CASE("conv2d records only the gradients asked for") {
  const Tensor x = random64({2, 3, 5, 5}, 7), w = random64({4, 3, 3, 3}, 8);
  w.set_requires_grad(true);
  Tensor y = conv2d(x, w, Tensor(), conv_options(1, 1));
  sum(y).backward();
  CHECK(w.grad().defined());
  CHECK_FALSE(x.grad().defined());
  NoGradGuard off;
  CHECK_FALSE(conv2d(x, w, Tensor(), conv_options(1, 1)).requires_grad());
}

// The float32 paths (Winograd F(2x2, 3x3), channel-blocked direct, im2col) against the
// float64 im2col reference on the geometries the ResNets use, plus odd sizes that exercise
// the tile tails; each path is forced in turn (a path that does not apply falls back).
TEST_CASE("float32 conv2d paths agree with the float64 reference, forward and backward") {
  using cpu::conv::Path;
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dOptions options;
    bool blocked, winograd;  // the paths expected to support this geometry (forward)
  };
  Conv2dOptions asymmetric_stride;
  asymmetric_stride.stride = {2, 1};
  asymmetric_stride.padding = {0, 0};
  Conv2dOptions stride_2_1_pad_1 = asymmetric_stride;
  stride_2_1_pad_1.padding = {1, 1};
  const std::vector<Case> cases = {
      {"3x3 16->16", {3, 16, 10, 12}, {16, 16, 3, 3}, conv_options(1, 1), true, true},
      {"3x3 32->64 stride 2", {2, 32, 9, 11}, {64, 32, 3, 3}, conv_options(2, 1), true, false},
      {"3x3 16->32 stride 2 even", {2, 16, 8, 8}, {32, 16, 3, 3}, conv_options(2, 1), true, false},
      {"stem 3->32", {2, 3, 11, 7}, {32, 3, 3, 3}, conv_options(1, 1), true, true},
      {"1 channel in", {2, 1, 9, 9}, {16, 1, 3, 3}, conv_options(1, 1), true, true},
      {"1x1 stride 2", {2, 32, 7, 9}, {48, 32, 1, 1}, conv_options(2, 0), true, false},
      {"1x1 stride 1", {2, 16, 5, 5}, {32, 16, 1, 1}, conv_options(1, 0), true, false},
      {"1x1 stride 2 wide", {2, 32, 6, 40}, {32, 32, 1, 1}, conv_options(2, 0), true, false},
      {"1x1 stride (2, 1)", {2, 16, 5, 19}, {16, 16, 1, 1}, asymmetric_stride, true, false},
      {"3x3 64->64 at 4x4", {4, 64, 4, 4}, {64, 64, 3, 3}, conv_options(1, 1), true, true},
      {"3x3 32->48 odd sizes", {3, 32, 7, 5}, {48, 32, 3, 3}, conv_options(1, 1), true, true},
      {"3x3 no padding", {2, 16, 7, 6}, {32, 16, 3, 3}, conv_options(1, 0), true, true},
      {"3x3 padding 2", {2, 32, 5, 6}, {32, 32, 3, 3}, conv_options(1, 2), true, true},
      {"5x5 dilation 2", {2, 16, 12, 12}, {16, 16, 5, 5}, conv_options(1, 3, 2), true, false},
      {"wide 40", {2, 16, 3, 40}, {16, 16, 3, 3}, conv_options(1, 1), true, true},
      {"stride 3 (im2col)", {2, 16, 9, 9}, {16, 16, 3, 3}, conv_options(3, 1), false, false},
      {"3x3 stride (2, 1)", {2, 16, 7, 6}, {32, 16, 3, 3}, stride_2_1_pad_1, true, false},
      {"3x3 padding 3 (input gradient by phases)", {2, 32, 5, 4}, {32, 32, 3, 3}, conv_options(1, 3), true, true},
      {"5x5 dilation 2 stride 2", {2, 16, 13, 12}, {32, 16, 5, 5}, conv_options(2, 2, 2), true, false},
      {"1x1 stride 2 padding 1 (phases without taps)", {2, 16, 6, 7}, {16, 16, 1, 1}, conv_options(2, 1), true, false},
      {"one image", {1, 32, 6, 6}, {32, 32, 3, 3}, conv_options(1, 1), true, true},
      // Weights above 1 MiB: the paths that split channel blocks (not images) across threads.
      {"3x3 256->128 at 4x4", {3, 256, 4, 4}, {128, 256, 3, 3}, conv_options(1, 1), true, true},
      {"3x3 256->128 stride 2", {3, 256, 5, 5}, {128, 256, 3, 3}, conv_options(2, 1), true, false},
  };
  for (const Case& c : cases) {
    const Tensor x64 = random64(c.x, 11), w64 = random64(c.w, 12), b64 = random64({c.w[0]}, 13);
    for (const Tensor& t : {x64, w64, b64}) t.set_requires_grad(true);
    const Tensor y64 = conv2d(x64, w64, b64, c.options);
    const Tensor upstream = random64(y64.shape(), 14);
    y64.backward(upstream);
    const auto g =
        cpu::conv::make_geometry(c.x, c.w, y64.shape(), c.options.stride[0], c.options.stride[1], c.options.padding[0],
                                 c.options.padding[1], c.options.dilation[0], c.options.dilation[1], c.options.groups);
    INFO(c.name);
    // The blocked path is built for AVX-512 and AVX2, Winograd for AVX-512; a forced path that
    // is not built falls back to im2col.
    CHECK(cpu::conv::blocked_supports(g, DType::f32, cpu::conv::Pass::forward) ==
          (c.blocked && cpu::conv::kBlockedPathBuilt));
    CHECK(cpu::conv::winograd_supports(g, DType::f32, cpu::conv::Pass::forward) ==
          (c.winograd && cpu::conv::kWinogradPathBuilt));
    for (Path path : {Path::automatic, Path::im2col, Path::blocked, Path::winograd}) {
      INFO(c.name, ", path ", static_cast<int>(path));
      cpu::conv::force_path(path);
      const Tensor x32 = x64.detach().to(DType::f32), w32 = w64.detach().to(DType::f32),
                   b32 = b64.detach().to(DType::f32);
      for (const Tensor& t : {x32, w32, b32}) t.set_requires_grad(true);
      set_tensor_poisoning(true);  // an output element a kernel forgets to write shows up as infinity
      const Tensor y32 = conv2d(x32, w32, b32, c.options);
      y32.backward(upstream.to(DType::f32));
      set_tensor_poisoning(false);
      cpu::conv::force_path(Path::automatic);
      // float32 sums of K = c_in kh kw products: relative error ~ 1e-6 sqrt(K).
      const double tolerance = 2e-5;
      CHECK(max_abs_difference(y32, y64) <= tolerance * max_abs(y64));
      CHECK(max_abs_difference(x32.grad(), x64.grad()) <= tolerance * max_abs(x64.grad()));
      CHECK(max_abs_difference(w32.grad(), w64.grad()) <= tolerance * max_abs(w64.grad()));
      CHECK(max_abs_difference(b32.grad(), b64.grad()) <= tolerance * max_abs(b64.grad()));
    }
  }
}

// Channel counts that are not multiples of 16 (what shrinking a pruned network leaves): the
// blocked and Winograd paths pad them internally (zero channels in the blocked layout and the
// packed weights, padding not stored), forward and both backward passes, against the
// float64 reference, each path forced in turn. The counts cover every input block (16, 8, 4
// and the 1- and 3-channel images), output tails of 1 to 15 lanes, one and two output blocks
// per tile, and the strided and phase-split input gradients.
TEST_CASE("float32 conv2d paths take any channel count") {
  using cpu::conv::Path;
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dOptions options;
  };
  const std::vector<Case> cases = {
      {"3x3 13->13", {3, 13, 10, 12}, {13, 13, 3, 3}, conv_options(1, 1)},
      {"3x3 16->13", {2, 16, 9, 9}, {13, 16, 3, 3}, conv_options(1, 1)},
      {"3x3 13->16", {2, 13, 9, 9}, {16, 13, 3, 3}, conv_options(1, 1)},
      {"3x3 27->27", {2, 27, 8, 8}, {27, 27, 3, 3}, conv_options(1, 1)},
      {"3x3 13->27 stride 2", {2, 13, 9, 11}, {27, 13, 3, 3}, conv_options(2, 1)},
      {"3x3 27->45 stride 2 even", {2, 27, 8, 8}, {45, 27, 3, 3}, conv_options(2, 1)},
      {"3x3 45->45", {2, 45, 6, 7}, {45, 45, 3, 3}, conv_options(1, 1)},
      {"3x3 45->45 one image", {1, 45, 8, 8}, {45, 45, 3, 3}, conv_options(1, 1)},
      {"3x3 24->24 (blocks of 8)", {2, 24, 7, 9}, {24, 24, 3, 3}, conv_options(1, 1)},
      {"3x3 12->40 (blocks of 4)", {2, 12, 6, 20}, {40, 12, 3, 3}, conv_options(1, 1)},
      {"3x3 5->7 tiny", {3, 5, 5, 6}, {7, 5, 3, 3}, conv_options(1, 1)},
      {"3x3 24->24 at 3x3 (one output block, rows of fewer than 4)", {2, 24, 3, 3}, {24, 24, 3, 3}, conv_options(1, 1)},
      {"3x3 1->1", {2, 1, 6, 6}, {1, 1, 3, 3}, conv_options(1, 1)},
      {"stem 3->13", {2, 3, 11, 7}, {13, 3, 3, 3}, conv_options(1, 1)},
      {"1x1 27->45 stride 2", {2, 27, 7, 9}, {45, 27, 1, 1}, conv_options(2, 0)},
      {"1x1 32->45 stride 2", {2, 32, 8, 8}, {45, 32, 1, 1}, conv_options(2, 0)},
      {"1x1 13->27 stride 1", {2, 13, 5, 5}, {27, 13, 1, 1}, conv_options(1, 0)},
      {"3x3 45->33 padding 3 (input gradient by phases)", {2, 45, 5, 4}, {33, 45, 3, 3}, conv_options(1, 3)},
      {"5x5 dilation 2 stride 2 13->19", {2, 13, 13, 12}, {19, 13, 5, 5}, conv_options(2, 2, 2)},
      {"3x3 no padding 29->31 wide", {2, 29, 5, 40}, {31, 29, 3, 3}, conv_options(1, 0)},
      {"3x3 200->130 at 4x4 (weights above 1 MiB)", {3, 200, 4, 4}, {130, 200, 3, 3}, conv_options(1, 1)},
  };
  for (const Case& c : cases) {
    const Tensor x64 = random64(c.x, 21), w64 = random64(c.w, 22), b64 = random64({c.w[0]}, 23);
    for (const Tensor& t : {x64, w64, b64}) t.set_requires_grad(true);
    const Tensor y64 = conv2d(x64, w64, b64, c.options);
    const Tensor upstream = random64(y64.shape(), 24);
    y64.backward(upstream);
    const auto g =
        cpu::conv::make_geometry(c.x, c.w, y64.shape(), c.options.stride[0], c.options.stride[1], c.options.padding[0],
                                 c.options.padding[1], c.options.dilation[0], c.options.dilation[1], c.options.groups);
    INFO(c.name);
    for (auto pass : {cpu::conv::Pass::forward, cpu::conv::Pass::backward_input, cpu::conv::Pass::backward_weight})
      CHECK(cpu::conv::blocked_supports(g, DType::f32, pass) == cpu::conv::kBlockedPathBuilt);
    const bool winograd_geometry = g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
                                   g.dilation_h == 1 && g.dilation_w == 1;
    CHECK(cpu::conv::winograd_supports(g, DType::f32, cpu::conv::Pass::forward) ==
          (winograd_geometry && cpu::conv::kWinogradPathBuilt));
    // A float32 sum of K products has a relative error of about 2^-24 sqrt(K) (random
    // rounding); K is the longest reduction of the three passes (c_in kh kw for the output,
    // c_out kh kw for the input gradient, batch out_h out_w for the weight gradient), and the
    // bound allows 50 such units against the largest output.
    const double k = std::max({static_cast<double>(g.c_in * g.taps()), static_cast<double>(g.c_out * g.taps()),
                               static_cast<double>(g.batch * g.out_pixels())});
    const double tolerance = 50 * std::ldexp(1.0, -24) * std::sqrt(k);
    for (Path path : {Path::automatic, Path::im2col, Path::blocked, Path::winograd}) {
      INFO(c.name, ", path ", static_cast<int>(path));
      cpu::conv::force_path(path);
      const Tensor x32 = x64.detach().to(DType::f32), w32 = w64.detach().to(DType::f32),
                   b32 = b64.detach().to(DType::f32);
      for (const Tensor& t : {x32, w32, b32}) t.set_requires_grad(true);
      // The paths' per-thread scratch buffers first hold NaN (a conv of the padded channel
      // counts on NaN inputs): padding lanes the conversions forget to zero would carry it
      // into every sum (NaN x 0 = NaN).
      Shape x_padded = c.x, w_padded = c.w;
      x_padded[1] = w_padded[1] = (c.x[1] + 15) / 16 * 16;
      w_padded[0] = (c.w[0] + 15) / 16 * 16;
      const Tensor x_nan = full(x_padded, std::nan(""), {DType::f32});
      const Tensor w_nan = full(w_padded, std::nan(""), {DType::f32});
      x_nan.set_requires_grad(true);
      w_nan.set_requires_grad(true);
      const Tensor y_nan = conv2d(x_nan, w_nan, Tensor(), c.options);
      y_nan.backward(full(y_nan.shape(), std::nan(""), {DType::f32}));
      set_tensor_poisoning(true);  // an output element a kernel forgets to write shows up as infinity
      const Tensor y32 = conv2d(x32, w32, b32, c.options);
      y32.backward(upstream.to(DType::f32));
      set_tensor_poisoning(false);
      cpu::conv::force_path(Path::automatic);
      CHECK(max_abs_difference(y32, y64) <= tolerance * max_abs(y64));
      CHECK(max_abs_difference(x32.grad(), x64.grad()) <= tolerance * max_abs(x64.grad()));
      CHECK(max_abs_difference(w32.grad(), w64.grad()) <= tolerance * max_abs(w64.grad()));
      CHECK(max_abs_difference(b32.grad(), b64.grad()) <= tolerance * max_abs(b64.grad()));
    }
  }
}

TEST_CASE("float32 conv2d gradients are bitwise reproducible") {
  // Threads take work dynamically; partial sums are fixed per lane of images and added in
  // lane order, so two runs agree exactly whatever thread ran what.
  for (const Conv2dOptions& options : {conv_options(1, 1), conv_options(2, 1)}) {
    Generator generator(51);
    const Tensor x = randn({8, 32, 9, 9}, generator), w = randn({64, 32, 3, 3}, generator);
    const Tensor upstream = randn(conv2d(x, w, Tensor(), options).shape(), generator);
    std::vector<std::vector<double>> runs;
    for (int run = 0; run < 2; ++run) {
      x.set_requires_grad(true);
      w.set_requires_grad(true);
      x.zero_grad();
      w.zero_grad();
      conv2d(x, w, Tensor(), options).backward(upstream);
      std::vector<double> all = x.grad().to_vector();
      const std::vector<double> dw = w.grad().to_vector();
      all.insert(all.end(), dw.begin(), dw.end());
      runs.push_back(all);
    }
    CHECK(runs[0] == runs[1]);
  }
}

TEST_CASE("conv2d rejects impossible geometry, naming the shapes") {
  const Tensor x = zeros({2, 4, 5, 5});
  CHECK_THROWS_WITH_AS(
      conv2d(x, zeros({3, 4, 7, 7}), Tensor(), conv_options(1, 0)),
      doctest::Contains("kernel [3, 4, 7, 7] (dilated height extent 7) is larger than the padded input [2, 4, 5, 5]"),
      Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({3, 4, 3, 3}), Tensor(), conv_options(1, 0, 3)),
                       doctest::Contains("dilated height extent 7"), Error);
  CHECK_NOTHROW(conv2d(x, zeros({3, 4, 7, 7}), Tensor(), conv_options(1, 1)));  // 5 + 2 = 7 fits
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({3, 1, 3, 3}), Tensor(), conv_options(1, 1, 1, 3)),
                       doctest::Contains("input channels 4 of input [2, 4, 5, 5] are not divisible by groups = 3"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({3, 2, 3, 3}), Tensor(), conv_options(1, 1, 1, 2)),
                       doctest::Contains("output channels 3 of weight [3, 2, 3, 3] are not divisible by groups = 2"),
                       Error);
  CHECK_THROWS_WITH_AS(
      conv2d(x, zeros({3, 3, 3, 3})),
      doctest::Contains(
          "weight [3, 3, 3, 3] expects 3 input channels (3 per group x 1 groups) but the input [2, 4, 5, 5] has 4"),
      Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({4, 5, 5}), zeros({3, 4, 3, 3})),
                       doctest::Contains("input must be [n, c, h, w] (rank 4), got [4, 5, 5]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({3, 4, 3})), doctest::Contains("(rank 4), got [3, 4, 3]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({3, 4, 3, 3}), zeros({4})),
                       doctest::Contains("bias of shape [4] for weight [3, 4, 3, 3] (expected [3])"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({3, 4, 3, 3}), Tensor(), conv_options(0, 1)),
                       doctest::Contains("stride must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({3, 4, 3, 3}, f64)), doctest::Contains("dtype mismatch"), Error);
}

// ---- pooling --------------------------------------------------------------------------

TEST_CASE("max_pool2d picks window maxima, with padding as -infinity") {
  const Tensor x = from_vector({1, 5, 2, 0, -3, -1, 4, 8, 7, 6, -2, 3, 9, -4, -5, -6}, {1, 1, 4, 4}, f64);
  Pool2dOptions o;  // 2x2 stride 2
  CHECK(max_pool2d(x, o).to_vector() == std::vector<double>{5, 8, 9, 3});
  o.kernel = {3, 3};
  o.stride = {2, 2};
  o.padding = {1, 1};
  // Windows rows/cols {0,1}, {1,2,3}; all-negative windows stay negative (no zero padding).
  CHECK(max_pool2d(x, o).to_vector() == std::vector<double>{5, 8, 9, 8});
  const Tensor negative = from_vector({-5, -6, -7, -8}, {1, 1, 2, 2}, f64);
  o.kernel = {2, 2};
  o.padding = {1, 1};
  CHECK(max_pool2d(negative, o).to_vector() == std::vector<double>{-5, -6, -7, -8});
}

TEST_CASE("max_pool2d gradients (distinct values, no ties)") {
  Pool2dOptions o;
  check_gradients([&](const std::vector<Tensor>& in) { return max_pool2d(in[0], o); }, {distinct64({2, 3, 6, 6}, 21)});
  o.kernel = {3, 3};
  o.stride = {2, 2};
  o.padding = {1, 1};  // overlapping windows: one input can be the maximum of two
  check_gradients([&](const std::vector<Tensor>& in) { return max_pool2d(in[0], o); }, {distinct64({2, 2, 7, 6}, 22)});
  o.kernel = {2, 3};
  o.stride = {1, 2};
  o.padding = {0, 1};
  check_gradients([&](const std::vector<Tensor>& in) { return max_pool2d(in[0], o); }, {distinct64({1, 2, 5, 5}, 23)});
}

TEST_CASE("avg_pool2d counts the padding, and its gradients") {
  const Tensor x = from_vector({1, 2, 3, 4}, {1, 1, 2, 2}, f64);
  Pool2dOptions o;
  o.kernel = {2, 2};
  o.stride = {1, 1};
  o.padding = {1, 1};
  // 3x3 outputs; the corner window holds one real value and three padding zeros.
  const std::vector<double> y = avg_pool2d(x, o).to_vector();
  CHECK(y[0] == doctest::Approx(0.25));
  CHECK(y[4] == doctest::Approx(2.5));
  check_gradients([&](const std::vector<Tensor>& in) { return avg_pool2d(in[0], o); }, {random64({2, 3, 5, 4}, 24)});
  o.kernel = {3, 3};
  o.stride = {2, 2};
  check_gradients([&](const std::vector<Tensor>& in) { return avg_pool2d(in[0], o); }, {random64({2, 2, 7, 6}, 25)});
}

TEST_CASE("adaptive_avg_pool2d windows, including sizes that do not divide") {
  // 5 inputs into 3 cells: windows [0,2), [1,4), [3,5) (floor start, ceil end).
  const Tensor x = from_vector({1, 2, 3, 4, 5}, {1, 1, 1, 5}, f64);
  const std::vector<double> y = adaptive_avg_pool2d(x, {1, 3}).to_vector();
  CHECK(y[0] == doctest::Approx(1.5));
  CHECK(y[1] == doctest::Approx(3.0));
  CHECK(y[2] == doctest::Approx(4.5));
  const Tensor g = random64({2, 3, 4, 4}, 26);
  CHECK(max_abs_difference(adaptive_avg_pool2d(g, {1, 1}), mean(g, {2, 3}, true)) < 1e-12);
  for (std::array<int64_t, 2> size : {std::array<int64_t, 2>{3, 2}, {1, 1}, {4, 7}, {5, 4}}) {
    INFO("output ", size[0], "x", size[1]);
    check_gradients([&](const std::vector<Tensor>& in) { return adaptive_avg_pool2d(in[0], size); },
                    {random64({2, 2, 7, 5}, 27)});
  }
}

TEST_CASE("pooling rejects impossible geometry") {
  const Tensor x = zeros({1, 2, 4, 4});
  Pool2dOptions o;
  o.kernel = {5, 5};
  CHECK_THROWS_WITH_AS(max_pool2d(x, o), doctest::Contains("kernel 5 is larger than the padded input [1, 2, 4, 4]"),
                       Error);
  o.kernel = {2, 2};
  o.padding = {2, 2};
  CHECK_THROWS_WITH_AS(avg_pool2d(x, o), doctest::Contains("padding 2 must be at most half the kernel 2"), Error);
  o.padding = {0, 0};
  o.stride = {0, 1};
  CHECK_THROWS_WITH_AS(max_pool2d(x, o), doctest::Contains("stride must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(zeros({2, 4, 4}), Pool2dOptions{}),
                       doctest::Contains("input must be [n, c, h, w] (rank 4), got [2, 4, 4]"), Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(x, {0, 2}), doctest::Contains("output size must be >= 1"), Error);
}

// ---- batch normalisation --------------------------------------------------------------

TEST_CASE("batch_norm training normalises with the batch statistics") {
  const Tensor x = random64({4, 3, 2, 5}, 31) * 3.0 + 7.0;
  const Tensor weight = from_vector({1.0, 2.0, -0.5}, {3}, f64), bias = from_vector({0.0, 1.0, 3.0}, {3}, f64);
  const Tensor running_mean = zeros({3}, f64), running_var = ones({3}, f64);
  const Tensor y = batch_norm(x, weight, bias, running_mean, running_var, true, 0.1, 1e-5);
  const std::vector<double> xv = x.to_vector(), yv = y.to_vector();
  for (int64_t c = 0; c < 3; ++c) {
    double m = 0, v = 0;
    int count = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 10; ++i) m += xv[static_cast<size_t>((n * 3 + c) * 10 + i)], ++count;
    m /= count;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 10; ++i) v += std::pow(xv[static_cast<size_t>((n * 3 + c) * 10 + i)] - m, 2);
    v /= count;  // biased
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < 10; ++i) {
        const size_t k = static_cast<size_t>((n * 3 + c) * 10 + i);
        CHECK(yv[k] ==
              doctest::Approx((xv[k] - m) / std::sqrt(v + 1e-5) * weight.at({c}) + bias.at({c})).epsilon(1e-12));
      }
  }
}

TEST_CASE("batch_norm training updates the running statistics by PyTorch's formula") {
  for (const Shape& shape : {Shape{6, 4}, Shape{3, 4, 2, 3}}) {
    INFO("input ", shape);
    const Tensor x = random64(shape, 32) * 2.0 - 1.0;
    Generator generator(34);
    const Tensor running_mean = random64({4}, 33), running_var = rand({4}, generator, f64) + 0.5;
    const std::vector<double> mean_before = running_mean.to_vector(), var_before = running_var.to_vector();
    const double momentum = 0.3;
    batch_norm(x, Tensor(), Tensor(), running_mean, running_var, true, momentum, 1e-5);
    const std::vector<double> xv = x.to_vector();
    const int64_t inner = shape.size() == 4 ? shape[2] * shape[3] : 1, count = shape[0] * inner;
    for (int64_t c = 0; c < 4; ++c) {
      double m = 0, ss = 0;
      for (int64_t n = 0; n < shape[0]; ++n)
        for (int64_t i = 0; i < inner; ++i) m += xv[static_cast<size_t>((n * 4 + c) * inner + i)];
      m /= static_cast<double>(count);
      for (int64_t n = 0; n < shape[0]; ++n)
        for (int64_t i = 0; i < inner; ++i) ss += std::pow(xv[static_cast<size_t>((n * 4 + c) * inner + i)] - m, 2);
      const double unbiased = ss / static_cast<double>(count - 1);
      CHECK(running_mean.at({c}) == doctest::Approx((1 - momentum) * mean_before[c] + momentum * m).epsilon(1e-13));
      CHECK(running_var.at({c}) ==
            doctest::Approx((1 - momentum) * var_before[c] + momentum * unbiased).epsilon(1e-13));
    }
  }
}

TEST_CASE("batch_norm evaluation uses the running statistics and leaves them alone") {
  const Tensor x = random64({5, 2, 3, 3}, 35);
  const Tensor running_mean = from_vector({0.5, -1.0}, {2}, f64), running_var = from_vector({4.0, 0.25}, {2}, f64);
  const Tensor weight = from_vector({2.0, 3.0}, {2}, f64), bias = from_vector({-1.0, 0.5}, {2}, f64);
  const Tensor y = batch_norm(x, weight, bias, running_mean, running_var, false, 0.1, 1e-3);
  CHECK(running_mean.to_vector() == std::vector<double>{0.5, -1.0});
  CHECK(running_var.to_vector() == std::vector<double>{4.0, 0.25});
  const int64_t k = (2 * 2 + 1) * 9 + 4;  // image 2, channel 1, pixel 4
  CHECK(y.to_vector()[k] == doctest::Approx((x.to_vector()[k] + 1.0) / std::sqrt(0.25 + 1e-3) * 3.0 + 0.5));
}

TEST_CASE("batch_norm gradients (training and evaluation, 2-D and 4-D, with and without affine)") {
  for (const Shape& shape : {Shape{6, 3}, Shape{3, 2, 3, 2}}) {
    for (bool training : {true, false}) {
      INFO("input ", shape, (training ? " training" : " evaluation"));
      const Tensor running_mean = random64({shape[1]}, 41) * 0.1;
      Generator generator(42);
      const Tensor running_var = rand({shape[1]}, generator, f64) + 0.5;
      // affine
      check_gradients(
          [&](const std::vector<Tensor>& in) {
            return batch_norm(in[0], in[1], in[2], running_mean, running_var, training, 0.1, 1e-5);
          },
          {random64(shape, 43), random64({shape[1]}, 44), random64({shape[1]}, 45)});
      // no affine
      check_gradients(
          [&](const std::vector<Tensor>& in) {
            return batch_norm(in[0], Tensor(), Tensor(), running_mean, running_var, training, 0.1, 1e-5);
          },
          {random64(shape, 46)});
    }
  }
}

TEST_CASE("batch_norm_relu gradients (training and evaluation, 2-D and 4-D)") {
  // 4-D maps of 32 pixels or more take the fused kernels on the CPU (core/ops_batchnorm.cpp).
  for (const Shape& shape : {Shape{6, 3}, Shape{3, 2, 6, 6}}) {
    for (bool training : {true, false}) {
      INFO("input ", shape, (training ? " training" : " evaluation"));
      const Tensor running_mean = random64({shape[1]}, 51) * 0.1;
      Generator generator(52);
      const Tensor running_var = rand({shape[1]}, generator, f64) + 0.5;
      check_gradients(
          [&](const std::vector<Tensor>& in) {
            return batch_norm_relu(in[0], in[1], in[2], running_mean, running_var, training, 0.1, 1e-5);
          },
          {random64(shape, 53), random64({shape[1]}, 54), random64({shape[1]}, 55)});
    }
  }
}

// The fused op promises relu(batch_norm(...)) exactly: the same expression forward, the
// same masked gradient backward. Rows of 1, 35 and 256 values per image take the fused
// kernels' vector bodies and tails; 3 x 7 maps take the two ops.
TEST_CASE("batch_norm_relu equals relu(batch_norm) in values, gradients and running statistics") {
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const Shape& shape : {Shape{6, 3}, Shape{4, 5, 5, 7}, Shape{2, 3, 16, 16}, Shape{4, 5, 3, 7}}) {
      for (bool training : {true, false}) {
        INFO(dtype_name(dtype), " input ", shape, (training ? " training" : " evaluation"));
        Generator generator(61);
        const TensorOptions options{dtype};
        const Tensor x0 = randn(shape, generator, options), upstream = randn(shape, generator, options);
        const Tensor w0 = randn({shape[1]}, generator, options), b0 = randn({shape[1]}, generator, options);
        const Tensor mean0 = randn({shape[1]}, generator, options) * 0.1;
        const Tensor var0 = rand({shape[1]}, generator, options) + 0.5;
        struct Run {
          Tensor y, dx, dw, db, mean, var;
        };
        auto run = [&](bool fused) {
          const Tensor x = x0.clone(), w = w0.clone(), b = b0.clone(), mean = mean0.clone(), var = var0.clone();
          for (const Tensor& t : {x, w, b}) t.set_requires_grad(true);
          const Tensor y = fused ? batch_norm_relu(x, w, b, mean, var, training)
                                 : relu(batch_norm(x, w, b, mean, var, training));
          y.backward(upstream);
          return Run{y.detach(), x.grad(), w.grad(), b.grad(), mean, var};
        };
        const Run fused = run(true), separate = run(false);
        CHECK(fused.y.to_vector() == separate.y.to_vector());
        CHECK(fused.dx.to_vector() == separate.dx.to_vector());
        CHECK(fused.dw.to_vector() == separate.dw.to_vector());
        CHECK(fused.db.to_vector() == separate.db.to_vector());
        CHECK(fused.mean.to_vector() == separate.mean.to_vector());
        CHECK(fused.var.to_vector() == separate.var.to_vector());
        // Not vacuous: the ReLU zeroed some outputs and passed others.
        const std::vector<double> y = fused.y.to_vector();
        CHECK(std::count(y.begin(), y.end(), 0.0) > 0);
        CHECK(std::count_if(y.begin(), y.end(), [](double v) { return v > 0; }) > 0);
      }
    }
  }
}

TEST_CASE("batch_norm rejects bad input") {
  const Tensor rm = zeros({3}), rv = ones({3});
  CHECK_THROWS_WITH_AS(batch_norm(zeros({2, 3, 4}), Tensor(), Tensor(), rm, rv, true),
                       doctest::Contains("input must be [n, c] or [n, c, h, w], got [2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(zeros({2, 3}), zeros({4}), Tensor(), rm, rv, true),
                       doctest::Contains("weight of shape [4] for input [2, 3] (expected [3])"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(zeros({2, 3}), Tensor(), Tensor(), zeros({2}), rv, true),
                       doctest::Contains("running_mean of shape [2]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(zeros({1, 3}), Tensor(), Tensor(), rm, rv, true),
                       doctest::Contains("more than one value per channel, got input [1, 3]"), Error);
  CHECK_NOTHROW(batch_norm(zeros({1, 3}), Tensor(), Tensor(), rm, rv, false));
  // The fused op takes the same checks.
  CHECK_THROWS_WITH_AS(batch_norm_relu(zeros({2, 3, 4}), Tensor(), Tensor(), rm, rv, true),
                       doctest::Contains("input must be [n, c] or [n, c, h, w], got [2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm_relu(zeros({2, 3, 8, 8}), zeros({4}), Tensor(), rm, rv, true),
                       doctest::Contains("weight of shape [4] for input [2, 3, 8, 8] (expected [3])"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(zeros({2, 3}), Tensor(), Tensor(), Tensor(), Tensor(), false),
                       doctest::Contains("evaluation needs running_mean and running_var"), Error);
}
