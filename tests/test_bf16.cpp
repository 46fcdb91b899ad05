// bf16 rounding and the bf16 matrix products of every path this CPU has (core/cpu/gemm_bf16.h),
// against a float64 product of the same bf16 inputs, within the bound of
// docs/algorithm.md#bf16-matrix-products.
#include <doctest/doctest.h>

#include <bit>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <limits>
#include <random>
#include <vector>

#include "core/cpu/bf16.h"
#include "core/cpu/conv_paths.h"
#include "core/cpu/gemm_bf16.h"
#include "core/cpu/matrix_units.h"
#include "core/ops.h"
#include "core/precision.h"
#include "core/random.h"
#include "tests/skip.h"

using namespace slab::cpu;

namespace {

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Every CPU has a bf16 path (the float32 link at least), but SLAB_BF16_PATH may name one
// this CPU lacks (the forced ctest runs on every machine): such a run is skipped, visibly.
bool forced_path_runs_here() {
  const char* forced = std::getenv("SLAB_BF16_PATH");
  if (forced == nullptr || *forced == '\0') return true;
  for (Bf16Path p : kBf16Paths)
    if (forced == std::string(bf16_path_name(p)) && cpu_supports(p)) return true;
  slab::testing::skip(std::string("SLAB_BF16_PATH=") + forced + ": this CPU cannot run that bf16 path");
  return false;
}

// Restores the path chosen at start-up when a test case that forced one ends.
struct PathGuard {
  Bf16Path saved = bf16_path();
  ~PathGuard() { force_bf16_path(saved); }
};

std::vector<Bf16Path> supported_paths() {
  std::vector<Bf16Path> paths;
  for (Bf16Path p : kBf16Paths)
    if (cpu_supports(p)) paths.push_back(p);
  return paths;
}

struct Product {
  int64_t m, n, k;
  bool ta, tb, accumulate;
};

// Element (i, j) of a row-major matrix stored as [rows, cols] or, transposed, [cols, rows].
float at(const std::vector<float>& x, bool transposed, int64_t i, int64_t j, int64_t ld) {
  return transposed ? x[j * ld + i] : x[i * ld + j];
}

// Runs one product on the current path and checks every output against the float64 sum of
// the same bf16 inputs: |c - exact| <= gamma (sum |a b| + |c0|), gamma = (k + 1) u / (1 - (k + 1) u),
// u = 2^-24 (float32 sums of k + 1 terms, in any order; the bf16 products themselves are exact).
std::vector<float> check_product(const Product& p, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t lda = p.ta ? p.m + 3 : p.k + 5, ldb = p.tb ? p.k + 2 : p.n + 1, ldc = p.n + 7;
  std::vector<float> a((p.ta ? p.k : p.m) * lda), b((p.tb ? p.n : p.k) * ldb), c(p.m * ldc);
  for (float& x : a) x = normal(rng);
  for (float& x : b) x = normal(rng) * 10.0f;
  for (float& x : c) x = normal(rng);
  const std::vector<float> c0 = c;
  gemm_bf16(p.ta, p.tb, p.m, p.n, p.k, a.data(), lda, b.data(), ldb, c.data(), ldc, p.accumulate);
  const double u = std::ldexp(1.0, -24), terms = static_cast<double>(p.k + 1);
  const double gamma = terms * u / (1.0 - terms * u);
  int64_t failures = 0;
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.n; ++j) {
      double exact = p.accumulate ? c0[i * ldc + j] : 0.0, magnitude = p.accumulate ? std::fabs(c0[i * ldc + j]) : 0.0;
      for (int64_t kk = 0; kk < p.k; ++kk) {
        const double prod = static_cast<double>(bf16_to_float(float_to_bf16(at(a, p.ta, i, kk, lda)))) *
                            bf16_to_float(float_to_bf16(at(b, p.tb, kk, j, ldb)));
        exact += prod;
        magnitude += std::fabs(prod);
      }
      if (std::fabs(c[i * ldc + j] - exact) > gamma * magnitude) ++failures;
    }
  CHECK_MESSAGE(failures == 0, "m=" << p.m << " n=" << p.n << " k=" << p.k << " ta=" << p.ta << " tb=" << p.tb);
  // Padding columns of C stay untouched.
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = p.n; j < ldc; ++j) REQUIRE(c[i * ldc + j] == c0[i * ldc + j]);
  return c;
}

const Product kProducts[] = {
    {1, 1, 1, false, false, false},    {16, 16, 32, false, false, false}, {17, 15, 33, false, false, true},
    {33, 47, 100, false, false, false}, {5, 70, 31, true, false, true},   {64, 64, 576, false, true, false},
    {40, 3, 65, true, true, false},    {130, 33, 288, false, false, true}, {2, 300, 9, false, true, false},
};

}  // namespace

TEST_CASE("float_to_bf16 rounds to nearest, ties to even, and keeps NaN and infinity") {
  CHECK(float_to_bf16(1.0f) == 0x3F80);
  CHECK(float_to_bf16(-2.0f) == 0xC000);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even neighbour, 1.
  CHECK(float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);
  // 1 + 3 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  CHECK(float_to_bf16(1.0f + 3.0f * std::ldexp(1.0f, -8)) == 0x3F82);
  CHECK(float_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)) == 0x3F81);
  CHECK(float_to_bf16(std::numeric_limits<float>::infinity()) == 0x7F80);
  CHECK(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isnan(bf16_to_float(float_to_bf16(from_bits(0x7F800001u)))));  // a NaN whose payload would carry
  CHECK(float_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);         // beyond the largest bf16 + half an ulp
  // |bf16(x) - x| <= 2^-8 |x|
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1e6f, 1e6f);
  for (int i = 0; i < 10000; ++i) {
    const float x = uniform(rng);
    CHECK(std::fabs(bf16_to_float(float_to_bf16(x)) - x) <= std::ldexp(std::fabs(x), -8));
  }
}

TEST_CASE("round_to_bf16 and round_through_bf16 equal float_to_bf16 on every bit pattern class, tails included") {
  std::mt19937 rng(5);
  std::vector<float> in(1000);
  for (float& x : in) x = from_bits(static_cast<uint32_t>(rng()));  // NaNs, infinities, subnormals included
  for (int64_t count : {int64_t{997}, int64_t{8}, int64_t{12}}) {  // vector body and tail; whole tails
    INFO("count ", count);
    std::vector<bf16_bits> out(in.size(), 0xABCD);
    round_to_bf16(in.data(), out.data(), count);
    for (int64_t i = 0; i < count; ++i) REQUIRE(out[static_cast<size_t>(i)] == float_to_bf16(in[static_cast<size_t>(i)]));
    CHECK(out[static_cast<size_t>(count)] == 0xABCD);  // nothing past the end
    std::vector<float> through(in.size(), 7.0f);
    round_through_bf16(in.data(), through.data(), count);
    for (int64_t i = 0; i < count; ++i)
      REQUIRE(std::bit_cast<uint32_t>(through[static_cast<size_t>(i)]) ==
              static_cast<uint32_t>(float_to_bf16(in[static_cast<size_t>(i)])) << 16);
    CHECK(through[static_cast<size_t>(count)] == 7.0f);
  }
}

TEST_CASE("the bf16 path is SLAB_BF16_PATH when set, else the fastest this CPU has") {
  if (!forced_path_runs_here()) return;
  const std::vector<Bf16Path> paths = supported_paths();
  const char* forced = std::getenv("SLAB_BF16_PATH");
  CHECK(std::string(bf16_path_name(bf16_path())) == (forced != nullptr ? std::string(forced) : bf16_path_name(paths.front())));
}

TEST_CASE("bf16 products on every path stay within the float32 summation bound") {
  if (!forced_path_runs_here()) return;
  PathGuard guard;
  std::mt19937 rng(7);
  for (Bf16Path path : supported_paths()) {
    CAPTURE(bf16_path_name(path));
    force_bf16_path(path);
    for (const Product& p : kProducts) check_product(p, rng);
  }
}

TEST_CASE("the emulated avx512f path reproduces VDPBF16PS bit for bit") {
  if (!cpu_supports(Bf16Path::avx512_bf16)) {
    slab::testing::skip("this CPU has no AVX512-BF16 to compare the emulation with");
    return;
  }
  PathGuard guard;
  for (const Product& p : kProducts) {
    std::mt19937 rng_a(11), rng_b(11);
    force_bf16_path(Bf16Path::avx512f);
    const std::vector<float> emulated = check_product(p, rng_a);
    force_bf16_path(Bf16Path::avx512_bf16);
    const std::vector<float> native = check_product(p, rng_b);
    REQUIRE(std::memcmp(emulated.data(), native.data(), emulated.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("the bf16 product of float32 inputs is within the bf16 input rounding of the float32 product") {
  if (!forced_path_runs_here()) return;
  // |sum bf16(a) bf16(b) - sum a b| <= (2 u8 + u8^2) sum |a b| with u8 = 2^-8, plus the float32 sum's bound.
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t m = 20, n = 18, k = 200;
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (float& x : a) x = normal(rng);
  for (float& x : b) x = normal(rng);
  gemm_bf16(false, false, m, n, k, a.data(), k, b.data(), n, c.data(), n, false);
  const double u8 = std::ldexp(1.0, -8), u = std::ldexp(1.0, -24);
  const double bound_factor = 2 * u8 + u8 * u8 + (k + 1) * u * (1 + 2 * u8 + u8 * u8);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0, magnitude = 0;
      for (int64_t kk = 0; kk < k; ++kk) {
        exact += static_cast<double>(a[i * k + kk]) * b[kk * n + j];
        magnitude += std::fabs(static_cast<double>(a[i * k + kk]) * b[kk * n + j]);
      }
      REQUIRE(std::fabs(c[i * n + j] - exact) <= bound_factor * magnitude);
    }
}

namespace {

struct ConvGradients {
  slab::Tensor out, grad_x, grad_w;
};

// y = conv2d(x, w) and the gradients of sum(y r) in the current precision; with `magnitudes`
// the same of |x|, |w|, |r| in float32, which gives sum |x w| per output and sum |r w|,
// sum |r x| per gradient element: the magnitudes the bound scales with.
ConvGradients conv_and_gradients(const slab::Tensor& x0, const slab::Tensor& w0, const slab::Tensor& r0,
                                 const slab::Conv2dOptions& options, bool magnitudes) {
  const slab::Tensor x = (magnitudes ? slab::abs(x0) : x0).detach().set_requires_grad();
  const slab::Tensor w = (magnitudes ? slab::abs(w0) : w0).detach().set_requires_grad();
  const slab::Tensor r = magnitudes ? slab::abs(r0) : r0;
  const slab::Tensor y = slab::conv2d(x, w, slab::Tensor(), options);
  slab::sum(slab::mul(y, r)).backward();
  return {y.detach(), x.grad(), w.grad()};
}

// |a - b| <= factor * magnitude, elementwise.
int64_t outside_bound(const slab::Tensor& a, const slab::Tensor& b, const slab::Tensor& magnitude, double factor) {
  const float *pa = a.data<float>(), *pb = b.data<float>(), *pm = magnitude.data<float>();
  int64_t outside = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::fabs(static_cast<double>(pa[i]) - pb[i]) > factor * pm[i]) ++outside;
  return outside;
}

}  // namespace

TEST_CASE("a bf16 convolution and its gradients stay within the bf16 bound of the float32 ones") {
  if (!forced_path_runs_here()) return;
  slab::Generator generator(21);
  const slab::Tensor x = slab::randn({3, 19, 9, 11}, generator), w = slab::randn({13, 19, 3, 3}, generator);
  slab::Conv2dOptions options;
  options.padding = {1, 1};
  const slab::Tensor r = slab::randn({3, 13, 9, 11}, generator);
  const ConvGradients fp32 = conv_and_gradients(x, w, r, options, false);
  const ConvGradients magnitude = conv_and_gradients(x, w, r, options, true);
  slab::set_matmul_precision(slab::Precision::bf16);
  const ConvGradients bf16 = conv_and_gradients(x, w, r, options, false);
  slab::set_matmul_precision(slab::Precision::fp32);
  // Both results are within their own float32 summation bound of the exact sums (at most
  // 3 x 3 x 19 = 171 terms for the output, 3 x 9 x 11 = 297 for a weight gradient), and the
  // bf16 one also carries the input rounding (2 u8 + u8^2): see the docs section.
  const double u8 = std::ldexp(1.0, -8), gamma = 298 * std::ldexp(1.0, -24);
  const double factor = (2 * u8 + u8 * u8) * (1 + gamma) + 2 * gamma;
  CHECK(outside_bound(bf16.out, fp32.out, magnitude.out, factor) == 0);
  CHECK(outside_bound(bf16.grad_x, fp32.grad_x, magnitude.grad_x, factor) == 0);
  CHECK(outside_bound(bf16.grad_w, fp32.grad_w, magnitude.grad_w, factor) == 0);
  // and it is a bf16 result, not the float32 one again
  CHECK(outside_bound(bf16.out, fp32.out, magnitude.out, 1e-6) > 0);
}

namespace {

struct ConvCase {
  int64_t batch, c_in, c_out, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  bool bias;
};

// Odd channel counts (padded to the tiles' 16 and 32; at most 16 input channels pair taps),
// strides 1 and 2, padding, 1x1 and non-square kernels, widths that leave tails of a
// 16-pixel chunk, and whole 16-wide rows.
const ConvCase kConvCases[] = {
    {3, 19, 13, 9, 11, 3, 3, 1, 1, 1, 1, false}, {2, 3, 17, 32, 32, 3, 3, 1, 1, 1, 1, true},
    {2, 33, 40, 16, 16, 3, 3, 2, 2, 1, 1, false}, {1, 64, 48, 8, 8, 1, 1, 2, 2, 0, 0, true},
    {2, 40, 33, 7, 5, 3, 2, 1, 2, 2, 0, false},  {3, 16, 32, 17, 15, 5, 5, 1, 1, 2, 2, true},
    {2, 70, 20, 4, 4, 3, 3, 1, 1, 1, 1, false},  {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, false},
    {2, 96, 64, 32, 32, 1, 1, 1, 1, 0, 0, false}, {2, 8, 24, 33, 33, 3, 3, 2, 2, 0, 0, true},
    {2, 17, 33, 9, 7, 1, 1, 2, 2, 0, 0, false},
    // a 2 x 2 output map: every pass on the float32 kernels with bf16-rounded inputs
    {3, 40, 24, 4, 4, 3, 3, 2, 2, 1, 1, true},
    // strided layers whose input gradient runs phase by phase (rows of 16 pixels and more)
    {2, 19, 21, 32, 34, 3, 3, 2, 2, 1, 1, false}, {1, 9, 18, 35, 36, 5, 5, 2, 2, 2, 2, true},
    // at most 16 output channels: the input gradient's phases pair their taps too
    {2, 24, 12, 32, 33, 3, 3, 2, 2, 1, 1, true},
    // more images than one group of the weight gradient holds (core/cpu/conv_amx.cpp)
    {12, 64, 32, 32, 32, 3, 3, 1, 1, 1, 1, false},
};

}  // namespace

TEST_CASE("a bf16 convolution and its gradients on every bf16 path stay within the bf16 bound of the float32 ones") {
  if (!forced_path_runs_here()) return;
  const PathGuard guard;
  slab::Generator generator(5);
  for (const ConvCase& c : kConvCases) {
    const slab::Tensor x = slab::randn({c.batch, c.c_in, c.height, c.width}, generator);
    const slab::Tensor w = slab::randn({c.c_out, c.c_in, c.kernel_h, c.kernel_w}, generator);
    const slab::Tensor b = c.bias ? slab::randn({c.c_out}, generator) : slab::Tensor();
    slab::Conv2dOptions options;
    options.stride = {c.stride_h, c.stride_w};
    options.padding = {c.pad_h, c.pad_w};
    const slab::Tensor fp32 = slab::conv2d(x, w, b, options);
    const slab::Tensor magnitude =
        slab::conv2d(slab::abs(x), slab::abs(w), c.bias ? slab::abs(b) : slab::Tensor(), options);
    const slab::Tensor r = slab::randn(fp32.shape(), generator);
    const ConvGradients fp32_grads = conv_and_gradients(x, w, r, options, false);
    const ConvGradients grad_magnitudes = conv_and_gradients(x, w, r, options, true);
    // The bound of the test above for a reduction of `terms` products (plus the bias).
    auto bound = [](int64_t terms) {
      const double u8 = std::ldexp(1.0, -8), gamma = static_cast<double>(terms + 2) * std::ldexp(1.0, -24);
      return (2 * u8 + u8 * u8) * (1 + gamma) + 2 * gamma;
    };
    const double factor = bound(c.c_in * c.kernel_h * c.kernel_w);
    const double factor_x = bound(c.c_out * c.kernel_h * c.kernel_w);
    const double factor_w = bound(c.batch * fp32.size(2) * fp32.size(3));
    for (Bf16Path path : supported_paths()) {
      force_bf16_path(path);
      slab::set_matmul_precision(slab::Precision::bf16);
      const slab::cpu::conv::Geometry g{c.batch,    c.c_in,     c.height,   c.width, c.c_out,
                                        c.kernel_h, c.kernel_w, fp32.size(2), fp32.size(3), c.stride_h,
                                        c.stride_w, c.pad_h,    c.pad_w,    1,       1,
                                        1};
      // The direct tile kernel runs exactly where the bf16 path is AMX.
      CHECK(slab::cpu::conv::amx_supports(g, slab::DType::f32, slab::cpu::conv::Pass::forward) ==
            (path == Bf16Path::amx));
      CHECK(slab::cpu::conv::amx_supports(g, slab::DType::f32, slab::cpu::conv::Pass::backward_input) ==
            (path == Bf16Path::amx));
      CHECK(slab::cpu::conv::amx_supports(g, slab::DType::f32, slab::cpu::conv::Pass::backward_weight) ==
            (path == Bf16Path::amx));
      const slab::Tensor bf16 = slab::conv2d(x, w, b, options);
      const ConvGradients bf16_grads = conv_and_gradients(x, w, r, options, false);
      slab::set_matmul_precision(slab::Precision::fp32);
      CHECK(outside_bound(bf16_grads.grad_x, fp32_grads.grad_x, grad_magnitudes.grad_x, factor_x) == 0);
      CHECK(outside_bound(bf16_grads.grad_w, fp32_grads.grad_w, grad_magnitudes.grad_w, factor_w) == 0);
      CHECK_MESSAGE(outside_bound(bf16, fp32, magnitude, factor) == 0,
                    bf16_path_name(path) << " c_in=" << c.c_in << " c_out=" << c.c_out << " " << c.height << "x"
                                         << c.width << " k=" << c.kernel_h << "x" << c.kernel_w << " s=" << c.stride_h
                                         << "," << c.stride_w);
      // bf16 results, not the float32 ones again (on small maps the float32 kernels run, on
      // inputs rounded to bf16: core/cpu/conv.cpp)
      if (c.c_in * c.kernel_h * c.kernel_w > 8) CHECK(outside_bound(bf16, fp32, magnitude, 1e-6) > 0);
      if (c.c_out * c.kernel_h * c.kernel_w > 8)
        CHECK(outside_bound(bf16_grads.grad_x, fp32_grads.grad_x, grad_magnitudes.grad_x, 1e-6) > 0);
      if (c.batch * fp32.size(2) * fp32.size(3) > 8)
        CHECK(outside_bound(bf16_grads.grad_w, fp32_grads.grad_w, grad_magnitudes.grad_w, 1e-6) > 0);
    }
  }
}
