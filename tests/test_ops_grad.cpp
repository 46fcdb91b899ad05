// Every op of core/ops.h (convolution, pooling and batch norm excepted: tests/test_conv*)
// against float64 central differences (tests/gradcheck.h: random upstream gradient,
// infinity-poisoned buffers, accumulation over two backward calls, kinks skipped), and
// against hand-computed forward values where a consistent-but-wrong forward and backward
// pair could pass a gradient check alone.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/random.h"
#include "tests/gradcheck.h"

using namespace slab;
using slab::testing::check_gradients;
using slab::testing::GradCheckOptions;

namespace {

// A float64 tensor of uniform draws in [low, high); each seed gives a different tensor.
Tensor uniform(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  Generator generator(seed, 17);
  Tensor t = Tensor::empty(shape, DType::f64);
  generator.fill_uniform(t, low, high);
  return t;
}

Tensor values(const std::vector<double>& v, const Shape& shape, DType dtype = DType::f64) {
  return from_vector(v, shape, {dtype});
}

void check_values(const Tensor& actual, const std::vector<double>& expected, const Shape& shape,
                  double tolerance = 1e-12) {
  REQUIRE(actual.shape() == shape);
  const std::vector<double> got = actual.to_vector();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element ", i, ": got ", got[i], ", expected ", expected[i]);
    CHECK(std::abs(got[i] - expected[i]) <= tolerance * std::max(1.0, std::abs(expected[i])));
  }
}

const DType kFloatTypes[] = {DType::f32, DType::f64};

double tolerance_for(DType dtype) { return dtype == DType::f32 ? 1e-6 : 1e-12; }

}  // namespace

// ---- elementwise arithmetic with broadcasting -----------------------------------------

TEST_CASE("add, sub, mul, div: gradients under broadcasting") {
  struct Pair {
    Shape a, b;
  };
  const std::vector<Pair> pairs = {
      {{2, 3}, {2, 3}},       {{2, 3}, {3}},          {{3, 1}, {1, 4}},  {{2, 3, 4}, {4}},
      {{}, {2, 3}},           {{2, 3}, {}},           {{1}, {2, 2}},     {{2, 3, 2, 2}, {1, 3, 1, 1}},
      {{2, 1, 4}, {3, 1}},    {{1, 3, 1}, {2, 1, 5}}, {{2, 2}, {1, 1}},
  };
  uint64_t seed = 1;
  for (const Pair& p : pairs) {
    CAPTURE(p.a);
    CAPTURE(p.b);
    check_gradients([](const std::vector<Tensor>& x) { return add(x[0], x[1]); }, {uniform(p.a, seed++), uniform(p.b, seed++)});
    check_gradients([](const std::vector<Tensor>& x) { return sub(x[0], x[1]); }, {uniform(p.a, seed++), uniform(p.b, seed++)});
    check_gradients([](const std::vector<Tensor>& x) { return mul(x[0], x[1]); }, {uniform(p.a, seed++), uniform(p.b, seed++)});
    // Divisors kept away from zero.
    check_gradients([](const std::vector<Tensor>& x) { return div(x[0], x[1]); },
                    {uniform(p.a, seed++), uniform(p.b, seed++, 0.5, 1.5)});
    check_gradients([](const std::vector<Tensor>& x) { return div(x[0], x[1]); },
                    {uniform(p.a, seed++), uniform(p.b, seed++, -1.5, -0.5)});
  }
}

TEST_CASE("a tensor used twice in one op gets both contributions") {
  check_gradients([](const std::vector<Tensor>& x) { return mul(x[0], x[0]); }, {uniform({3, 2}, 5)});
  check_gradients([](const std::vector<Tensor>& x) { return div(x[0], add(x[0], 3.0)); }, {uniform({4}, 6)});
  check_gradients([](const std::vector<Tensor>& x) { return sub(x[0], x[0]); }, {uniform({4}, 7)});
}

TEST_CASE("scalar variants: add, sub, mul, div and rsub by a number") {
  const auto input = [] { return std::vector<Tensor>{uniform({2, 3}, 11)}; };
  check_gradients([](const std::vector<Tensor>& x) { return add(x[0], 2.5); }, input());
  check_gradients([](const std::vector<Tensor>& x) { return x[0] - 1.5; }, input());
  check_gradients([](const std::vector<Tensor>& x) { return mul(x[0], -1.5); }, input());
  check_gradients([](const std::vector<Tensor>& x) { return 2.0 * x[0]; }, input());
  check_gradients([](const std::vector<Tensor>& x) { return x[0] / 4.0; }, input());
  check_gradients([](const std::vector<Tensor>& x) { return rsub(3.0, x[0]); }, input());

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const Tensor a = values({1, -2, 3.5}, {3}, dtype);
    check_values(add(a, 2.5), {3.5, 0.5, 6}, {3});
    check_values(a - 1.0, {0, -3, 2.5}, {3});
    check_values(mul(a, -2.0), {-2, 4, -7}, {3});
    check_values(a / 4.0, {0.25, -0.5, 0.875}, {3});
    check_values(rsub(1.0, a), {0, 3, -2.5}, {3});
    check_values(-a, {-1, 2, -3.5}, {3});
  }
}

TEST_CASE("broadcasting arithmetic: forward values") {
  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const Tensor m = values({1, 2, 3, 4, 5, 6}, {2, 3}, dtype);
    check_values(add(m, values({10, 20, 30}, {3}, dtype)), {11, 22, 33, 14, 25, 36}, {2, 3});
    check_values(sub(values({1, 2, 3}, {3, 1}, dtype), values({10, 20}, {1, 2}, dtype)),
                 {-9, -19, -8, -18, -7, -17}, {3, 2});
    check_values(mul(m, values({2}, {}, dtype)), {2, 4, 6, 8, 10, 12}, {2, 3});
    check_values(div(values({3}, {}, dtype), values({1, 2, 4, 8}, {2, 2}, dtype)), {3, 1.5, 0.75, 0.375}, {2, 2});
    // [n, c, h, w] + [1, c, 1, 1]: a per-channel bias.
    const Tensor x = values({0, 1, 2, 3, 4, 5, 6, 7}, {2, 2, 1, 2}, dtype);
    check_values(add(x, values({100, 200}, {1, 2, 1, 1}, dtype)), {100, 101, 202, 203, 104, 105, 206, 207},
                 {2, 2, 1, 2});
    // [2, 1, 3] * [2, 1]: both operands broadcast.
    check_values(mul(values({1, 2, 3, 4, 5, 6}, {2, 1, 3}, dtype), values({1, -1}, {2, 1}, dtype)),
                 {1, 2, 3, -1, -2, -3, 4, 5, 6, -4, -5, -6}, {2, 2, 3});
  }
}

// ---- elementwise functions ------------------------------------------------------------

TEST_CASE("elementwise functions: gradients") {
  const Shape shape{3, 4};
  check_gradients([](const std::vector<Tensor>& x) { return neg(x[0]); }, {uniform(shape, 21)});
  check_gradients([](const std::vector<Tensor>& x) { return exp(x[0]); }, {uniform(shape, 22, -2, 2)});
  check_gradients([](const std::vector<Tensor>& x) { return log(x[0]); }, {uniform(shape, 23, 0.2, 3)});
  check_gradients([](const std::vector<Tensor>& x) { return sqrt(x[0]); }, {uniform(shape, 24, 0.2, 3)});
  check_gradients([](const std::vector<Tensor>& x) { return pow(x[0], 2.0); }, {uniform(shape, 25, -2, 2)});
  check_gradients([](const std::vector<Tensor>& x) { return pow(x[0], 3.0); }, {uniform(shape, 26, -2, 2)});
  check_gradients([](const std::vector<Tensor>& x) { return pow(x[0], 0.5); }, {uniform(shape, 27, 0.2, 2)});
  check_gradients([](const std::vector<Tensor>& x) { return pow(x[0], -1.5); }, {uniform(shape, 28, 0.5, 2)});
  check_gradients([](const std::vector<Tensor>& x) { return sigmoid(x[0]); }, {uniform(shape, 29, -4, 4)});
  check_gradients([](const std::vector<Tensor>& x) { return tanh(x[0]); }, {uniform(shape, 30, -3, 3)});

  GradCheckOptions kink_at_zero;
  kink_at_zero.kinks = {0.0};
  check_gradients([](const std::vector<Tensor>& x) { return abs(x[0]); }, {uniform(shape, 31)}, kink_at_zero);
  check_gradients([](const std::vector<Tensor>& x) { return relu(x[0]); }, {uniform(shape, 32)}, kink_at_zero);
  GradCheckOptions clamp_kinks;
  clamp_kinks.kinks = {-0.3, 0.4};
  check_gradients([](const std::vector<Tensor>& x) { return clamp(x[0], -0.3, 0.4); }, {uniform(shape, 33)},
                  clamp_kinks);
}

TEST_CASE("elementwise functions: forward values and the gradient at the kinks") {
  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const double tol = tolerance_for(dtype);
    check_values(exp(values({0, 1, -1}, {3}, dtype)), {1, 2.718281828459045, 0.36787944117144233}, {3}, tol);
    check_values(log(values({1, 2.718281828459045, 0.5}, {3}, dtype)), {0, 1, -0.6931471805599453}, {3}, tol);
    check_values(sqrt(values({4, 2, 0}, {3}, dtype)), {2, 1.4142135623730951, 0}, {3}, tol);
    check_values(pow(values({2, -3, 4}, {3}, dtype), 3.0), {8, -27, 64}, {3}, tol);
    check_values(pow(values({4, 9}, {2}, dtype), 0.5), {2, 3}, {2}, tol);
    check_values(abs(values({-3, 0, 2.5}, {3}, dtype)), {3, 0, 2.5}, {3}, tol);
    check_values(clamp(values({-2, 0.1, 5}, {3}, dtype), -1, 1), {-1, 0.1, 1}, {3}, tol);
    check_values(relu(values({-2, 0, 3}, {3}, dtype)), {0, 0, 3}, {3}, tol);
    check_values(sigmoid(values({0, 2, -2, -100}, {4}, dtype)), {0.5, 0.8807970779778823, 0.11920292202211755, 0},
                 {4}, tol);
    check_values(tanh(values({0, 1, -20}, {3}, dtype)), {0, 0.7615941559557649, -1}, {3}, tol);
  }
  // Subgradients at the kinks: relu and abs give 0 at 0; clamp passes the gradient only
  // strictly inside (min, max).
  Tensor x = values({-1, 0, 2}, {3});
  x.set_requires_grad();
  relu(x).backward(ones({3}, {DType::f64}));
  check_values(x.grad(), {0, 0, 1}, {3});
  x.zero_grad();
  abs(x).backward(ones({3}, {DType::f64}));
  check_values(x.grad(), {-1, 0, 1}, {3});
  x.zero_grad();
  clamp(x, 0.0, 2.0).backward(ones({3}, {DType::f64}));
  check_values(x.grad(), {0, 0, 0}, {3});
}

// ---- linear algebra -------------------------------------------------------------------

TEST_CASE("matmul: 2-D, batched, batched x 2-D") {
  const auto mm = [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); };
  check_gradients(mm, {uniform({3, 4}, 41), uniform({4, 5}, 42)});
  check_gradients(mm, {uniform({1, 4}, 43), uniform({4, 1}, 44)});
  check_gradients(mm, {uniform({2, 3, 4}, 45), uniform({2, 4, 5}, 46)});
  check_gradients(mm, {uniform({3, 2, 4}, 47), uniform({4, 5}, 48)});
  // One operand without a gradient.
  const Tensor fixed = uniform({4, 2}, 49);
  check_gradients([fixed](const std::vector<Tensor>& x) { return matmul(x[0], fixed); }, {uniform({3, 4}, 50)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const Tensor a = values({1, 2, 3, 4}, {2, 2}, dtype), b = values({5, 6, 7, 8}, {2, 2}, dtype);
    check_values(matmul(a, b), {19, 22, 43, 50}, {2, 2});
    // [2, 1, 3] x [2, 3, 2] and [2, 1, 3] x [3, 2].
    const Tensor batched = values({1, 0, -1, 2, 1, 0}, {2, 1, 3}, dtype);
    const Tensor rhs = values({1, 2, 3, 4, 5, 6, 1, 0, 0, 1, 1, 1}, {2, 3, 2}, dtype);
    check_values(matmul(batched, rhs), {-4, -4, 2, 1}, {2, 1, 2});
    check_values(matmul(batched, values({1, 2, 3, 4, 5, 6}, {3, 2}, dtype)), {-4, -4, 5, 8}, {2, 1, 2});
  }
}

TEST_CASE("linear: with and without bias, 1-D, 2-D and 3-D inputs") {
  const auto with_bias = [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); };
  const auto without_bias = [](const std::vector<Tensor>& x) { return linear(x[0], x[1]); };
  check_gradients(with_bias, {uniform({4, 3}, 51), uniform({5, 3}, 52), uniform({5}, 53)});
  check_gradients(without_bias, {uniform({4, 3}, 54), uniform({5, 3}, 55)});
  check_gradients(with_bias, {uniform({2, 3, 4}, 56), uniform({2, 4}, 57), uniform({2}, 58)});
  check_gradients(with_bias, {uniform({3}, 59), uniform({2, 3}, 60), uniform({2}, 61)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const Tensor x = values({1, 2, 3, 0, -1, 1}, {2, 3}, dtype);
    const Tensor w = values({1, 0, -1, 2, 1, 0}, {2, 3}, dtype);
    const Tensor b = values({0.5, -1}, {2}, dtype);
    check_values(linear(x, w, b), {-1.5, 3, -0.5, -2}, {2, 2});
    check_values(linear(x, w), {-2, 4, -1, -1}, {2, 2});
    check_values(linear(x.reshape({2, 1, 3}), w, b), {-1.5, 3, -0.5, -2}, {2, 1, 2});
  }
}

// ---- reductions -----------------------------------------------------------------------

TEST_CASE("sum and mean: over everything and over sets of dimensions") {
  const Shape shape{2, 3, 4};
  check_gradients([](const std::vector<Tensor>& x) { return sum(x[0]); }, {uniform(shape, 61)});
  check_gradients([](const std::vector<Tensor>& x) { return mean(x[0]); }, {uniform(shape, 62)});
  for (bool keepdim : {false, true}) {
    CAPTURE(keepdim);
    for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{0}, {1}, {2}, {-1}, {0, 2}, {2, 0}, {0, 1, 2}}) {
      CAPTURE(dims);
      check_gradients([dims, keepdim](const std::vector<Tensor>& x) { return sum(x[0], dims, keepdim); },
                      {uniform(shape, 63)});
      check_gradients([dims, keepdim](const std::vector<Tensor>& x) { return mean(x[0], dims, keepdim); },
                      {uniform(shape, 64)});
    }
  }
  check_gradients([](const std::vector<Tensor>& x) { return sum(x[0]); }, {uniform({}, 65)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    // x[i, j, k] = 12 i + 4 j + k.
    const Tensor x = arange(24, {dtype}).reshape({2, 3, 4});
    check_values(sum(x), {276}, {});
    check_values(mean(x), {11.5}, {});
    check_values(sum(x, {0, 2}), {60, 92, 124}, {3});
    check_values(sum(x, {0, 2}, true), {60, 92, 124}, {1, 3, 1});
    check_values(sum(x, {-1}), {6, 22, 38, 54, 70, 86}, {2, 3});
    check_values(mean(x, {1}), {4, 5, 6, 7, 16, 17, 18, 19}, {2, 4});
    check_values(mean(x, {0, 1}, true), {10, 11, 12, 13}, {1, 1, 4});
  }
}

TEST_CASE("max: over a dimension (values and first-maximum indices) and over everything") {
  check_gradients([](const std::vector<Tensor>& x) { return max(x[0], 1).values; }, {uniform({3, 4, 2}, 71)});
  check_gradients([](const std::vector<Tensor>& x) { return max(x[0], 0, true).values; }, {uniform({3, 4}, 72)});
  check_gradients([](const std::vector<Tensor>& x) { return max(x[0], -1).values; }, {uniform({2, 5}, 73)});
  check_gradients([](const std::vector<Tensor>& x) { return max(x[0]); }, {uniform({3, 4}, 74)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const Tensor x = values({1, 5, 3, 7, 2, 7}, {2, 3}, dtype);
    MaxResult over_columns = max(x, 1);
    check_values(over_columns.values, {5, 7}, {2});
    CHECK(over_columns.indices.dtype() == DType::i64);
    check_values(over_columns.indices, {1, 0}, {2});
    MaxResult over_rows = max(x, 0, true);
    check_values(over_rows.values, {7, 5, 7}, {1, 3});
    check_values(over_rows.indices, {1, 0, 1}, {1, 3});
    check_values(max(x), {7}, {});
    check_values(argmax(x, 1), {1, 0}, {2});
  }
  // Ties: the whole gradient goes to the first maximum.
  Tensor x = values({7, 2, 7}, {1, 3});
  x.set_requires_grad();
  max(x, 1).values.backward(full({1}, 2.0, {DType::f64}));
  check_values(x.grad(), {2, 0, 0}, {1, 3});
}

TEST_CASE("sum_to and broadcast_to") {
  check_gradients([](const std::vector<Tensor>& x) { return sum_to(x[0], {3, 1}); }, {uniform({2, 3, 4}, 81)});
  check_gradients([](const std::vector<Tensor>& x) { return sum_to(x[0], {1, 3, 4}); }, {uniform({2, 3, 4}, 82)});
  check_gradients([](const std::vector<Tensor>& x) { return sum_to(x[0], {4}); }, {uniform({2, 3, 4}, 83)});
  check_gradients([](const std::vector<Tensor>& x) { return sum_to(x[0], {}); }, {uniform({2, 3}, 84)});
  check_gradients([](const std::vector<Tensor>& x) { return sum_to(x[0], {2, 3}); }, {uniform({2, 3}, 85)});
  check_gradients([](const std::vector<Tensor>& x) { return broadcast_to(x[0], {2, 3, 4}); }, {uniform({3, 1}, 86)});
  check_gradients([](const std::vector<Tensor>& x) { return broadcast_to(x[0], {2, 2}); }, {uniform({}, 87)});
  check_gradients([](const std::vector<Tensor>& x) { return broadcast_to(x[0], {3, 4}); }, {uniform({4}, 88)});
  check_gradients([](const std::vector<Tensor>& x) { return broadcast_to(x[0], {2, 3}); }, {uniform({2, 3}, 89)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const Tensor m = values({1, 2, 3, 4, 5, 6}, {2, 3}, dtype);
    check_values(sum_to(m, {3}), {5, 7, 9}, {3});
    check_values(sum_to(m, {2, 1}), {6, 15}, {2, 1});
    check_values(sum_to(m, {1, 3}), {5, 7, 9}, {1, 3});
    check_values(sum_to(m, {}), {21}, {});
    check_values(broadcast_to(values({1, 2}, {2, 1}, dtype), {2, 3}), {1, 1, 1, 2, 2, 2}, {2, 3});
    check_values(broadcast_to(values({1, 2, 3}, {3}, dtype), {2, 3}), {1, 2, 3, 1, 2, 3}, {2, 3});
  }
}

// ---- shape ----------------------------------------------------------------------------

TEST_CASE("reshape, flatten, transpose, permute") {
  const Shape shape{2, 3, 4};
  check_gradients([](const std::vector<Tensor>& x) { return reshape(x[0], {6, 4}); }, {uniform(shape, 91)});
  check_gradients([](const std::vector<Tensor>& x) { return x[0].reshape({4, -1}); }, {uniform(shape, 92)});
  check_gradients([](const std::vector<Tensor>& x) { return flatten(x[0]); }, {uniform(shape, 93)});
  check_gradients([](const std::vector<Tensor>& x) { return flatten(x[0], 0, 1); }, {uniform(shape, 94)});
  check_gradients([](const std::vector<Tensor>& x) { return flatten(x[0], 0); }, {uniform(shape, 95)});
  check_gradients([](const std::vector<Tensor>& x) { return transpose(x[0], 0, 2); }, {uniform(shape, 96)});
  check_gradients([](const std::vector<Tensor>& x) { return transpose(x[0], -1, -2); }, {uniform(shape, 97)});
  check_gradients([](const std::vector<Tensor>& x) { return permute(x[0], {2, 0, 1}); }, {uniform(shape, 98)});
  check_gradients([](const std::vector<Tensor>& x) { return permute(x[0], {1, 2, 0}); }, {uniform(shape, 99)});
  check_gradients([](const std::vector<Tensor>& x) { return permute(x[0], {1, 0}); }, {uniform({3, 5}, 100)});

  // Composite: a permute whose inverse is not itself, then a reshape of the result.
  check_gradients([](const std::vector<Tensor>& x) { return flatten(permute(x[0], {2, 0, 1}), 1); },
                  {uniform(shape, 101)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    check_values(transpose(arange(6, {dtype}).reshape({2, 3}), 0, 1), {0, 3, 1, 4, 2, 5}, {3, 2});
    // out[k, i, j] = x[i, j, k] with x[i, j, k] = 12 i + 4 j + k.
    const Tensor p = permute(arange(24, {dtype}).reshape({2, 3, 4}), {2, 0, 1});
    REQUIRE(p.shape() == Shape{4, 2, 3});
    for (int64_t k = 0; k < 4; ++k)
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 3; ++j) CHECK(p.at({k, i, j}) == 12 * i + 4 * j + k);
    CHECK(flatten(arange(24, {dtype}).reshape({2, 3, 4})).shape() == Shape{2, 12});
    CHECK(flatten(arange(24, {dtype}).reshape({2, 3, 4}), 0, 1).shape() == Shape{6, 4});
  }
}

TEST_CASE("cat, narrow, slice") {
  const auto cat0 = [](const std::vector<Tensor>& x) { return cat(x, 0); };
  const auto cat1 = [](const std::vector<Tensor>& x) { return cat(x, 1); };
  const auto cat_last = [](const std::vector<Tensor>& x) { return cat(x, -1); };
  check_gradients(cat0, {uniform({1, 3}, 111), uniform({2, 3}, 112), uniform({3, 3}, 113)});
  check_gradients(cat1, {uniform({2, 1, 2}, 114), uniform({2, 3, 2}, 115)});
  check_gradients(cat_last, {uniform({2, 2}, 116), uniform({2, 1}, 117), uniform({2, 3}, 118)});
  check_gradients(cat0, {uniform({4}, 119)});
  // The same tensor twice.
  check_gradients([](const std::vector<Tensor>& x) { return cat({x[0], x[0]}, 1); }, {uniform({2, 3}, 120)});

  check_gradients([](const std::vector<Tensor>& x) { return narrow(x[0], 1, 1, 2); }, {uniform({2, 4, 3}, 121)});
  check_gradients([](const std::vector<Tensor>& x) { return narrow(x[0], 0, 2, 1); }, {uniform({3, 2}, 122)});
  check_gradients([](const std::vector<Tensor>& x) { return slice(x[0], -1, 0, 2); }, {uniform({2, 4, 3}, 123)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const Tensor a = values({1, 2, 3, 4}, {2, 2}, dtype), b = values({5, 6}, {2, 1}, dtype);
    check_values(cat({a, b}, 1), {1, 2, 5, 3, 4, 6}, {2, 3});
    check_values(cat({a, values({7, 8}, {1, 2}, dtype)}, 0), {1, 2, 3, 4, 7, 8}, {3, 2});
    const Tensor x = arange(12, {dtype}).reshape({3, 4});
    check_values(narrow(x, 1, 1, 2), {1, 2, 5, 6, 9, 10}, {3, 2});
    check_values(slice(x, 0, 1, 3), {4, 5, 6, 7, 8, 9, 10, 11}, {2, 4});
    check_values(narrow(x, 0, 1, 0), {}, {0, 4});
  }
}

// ---- probabilities and losses ---------------------------------------------------------

TEST_CASE("softmax and log_softmax over each dimension") {
  for (int64_t dim : {0, 1, 2, -1}) {
    CAPTURE(dim);
    check_gradients([dim](const std::vector<Tensor>& x) { return softmax(x[0], dim); }, {uniform({2, 3, 4}, 131, -3, 3)});
    check_gradients([dim](const std::vector<Tensor>& x) { return log_softmax(x[0], dim); },
                    {uniform({2, 3, 4}, 132, -3, 3)});
  }
  // Large logits: the max subtraction keeps everything finite.
  check_gradients([](const std::vector<Tensor>& x) { return log_softmax(x[0], 1); }, {uniform({2, 3}, 133, 500, 502)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const double tol = tolerance_for(dtype);
    const std::vector<double> p = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219};
    const std::vector<double> lp = {-2.40760596444438, -1.40760596444438, -0.40760596444438};
    check_values(softmax(values({1, 2, 3}, {3}, dtype), 0), p, {3}, tol);
    check_values(log_softmax(values({1, 2, 3}, {3}, dtype), 0), lp, {3}, tol);
    check_values(softmax(values({1001, 1002, 1003}, {3}, dtype), 0), p, {3}, tol);  // shift-invariant
    check_values(log_softmax(values({-1000, -999, -998}, {3}, dtype), -1), lp, {3}, tol);
    // Over dim 0 of a [3, 2] tensor: the columns.
    check_values(softmax(values({1, 0, 2, 0, 3, 0}, {3, 2}, dtype), 0), {p[0], 1.0 / 3, p[1], 1.0 / 3, p[2], 1.0 / 3},
                 {3, 2}, tol);
  }
}

TEST_CASE("cross_entropy") {
  const Tensor targets = labels_from_vector({0, 3, 4, 1});
  check_gradients([targets](const std::vector<Tensor>& x) { return cross_entropy(x[0], targets); },
                  {uniform({4, 5}, 141, -2, 2)});
  const Tensor one = labels_from_vector({2});
  check_gradients([one](const std::vector<Tensor>& x) { return cross_entropy(x[0], one); }, {uniform({1, 3}, 142)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const double tol = tolerance_for(dtype);
    check_values(cross_entropy(values({0, 0}, {1, 2}, dtype), labels_from_vector({1})), {0.6931471805599453}, {}, tol);
    // Rows [1, 2, 3]: -log softmax is 2.4076 for class 0 and 0.4076 for class 2.
    check_values(cross_entropy(values({1, 2, 3, 1, 2, 3}, {2, 3}, dtype), labels_from_vector({2, 0})),
                 {1.40760596444438}, {}, tol);
    check_values(cross_entropy(values({1000, 0, 0, 1000}, {2, 2}, dtype), labels_from_vector({0, 1})), {0}, {}, tol);
  }
  // d loss / d logits = (softmax - onehot) / n.
  Tensor logits = values({1, 2, 3, 1, 2, 3}, {2, 3});
  logits.set_requires_grad();
  cross_entropy(logits, labels_from_vector({2, 0})).backward();
  check_values(logits.grad(),
               {0.09003057317038046 / 2, 0.24472847105479764 / 2, (0.6652409557748219 - 1) / 2,
                (0.09003057317038046 - 1) / 2, 0.24472847105479764 / 2, 0.6652409557748219 / 2},
               {2, 3});
}

TEST_CASE("mse_loss") {
  check_gradients([](const std::vector<Tensor>& x) { return mse_loss(x[0], x[1]); },
                  {uniform({3, 4}, 151), uniform({3, 4}, 152)});
  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    check_values(mse_loss(values({1, 2}, {2}, dtype), values({3, 5}, {2}, dtype)), {6.5}, {});
  }
}

TEST_CASE("binary_cross_entropy_with_logits, including logits exactly 0") {
  Tensor logits = uniform({3, 4}, 161, -3, 3);
  logits.set({0, 0}, 0.0);
  logits.set({2, 3}, 0.0);
  check_gradients([](const std::vector<Tensor>& x) { return binary_cross_entropy_with_logits(x[0], x[1]); },
                  {logits, uniform({3, 4}, 162, 0, 1)});
  // Extreme logits stay finite (the stable form).
  check_gradients([](const std::vector<Tensor>& x) { return binary_cross_entropy_with_logits(x[0], x[1]); },
                  {values({-60, 60, -30, 30}, {4}), uniform({4}, 163, 0, 1)});

  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    const double tol = tolerance_for(dtype);
    // log 2; 2 + log(1 + e^-2); 3 + log(1 + e^-3); mean of the three.
    check_values(binary_cross_entropy_with_logits(values({0, 2, -3}, {3}, dtype), values({1, 0, 1}, {3}, dtype)),
                 {(0.6931471805599453 + 2.1269280110429727 + 3.048587351573742) / 3}, {}, tol);
    check_values(binary_cross_entropy_with_logits(values({-200, 200}, {2}, dtype), values({0, 1}, {2}, dtype)), {0},
                 {}, tol);
  }
  // At logit 0 the gradient is (sigmoid(0) - y) / n = (0.5 - y) / n, in both arguments'
  // conventions: d/dx = (sigmoid(x) - y) / n, d/dy = -x / n = 0.
  Tensor x = zeros({4}, {DType::f64});
  Tensor y = values({0, 0.25, 0.5, 1}, {4});
  x.set_requires_grad();
  y.set_requires_grad();
  binary_cross_entropy_with_logits(x, y).backward();
  check_values(x.grad(), {0.125, 0.0625, 0, -0.125}, {4});
  check_values(y.grad(), {0, 0, 0, 0}, {4});
}

TEST_CASE("dropout: a fixed generator seed gives the same mask on every call") {
  const double p = 0.3;
  const auto with_fixed_mask = [p](const std::vector<Tensor>& x) {
    Generator generator(9, 1);  // re-created each call: the same mask every time
    return dropout(x[0], p, true, generator);
  };
  check_gradients(with_fixed_mask, {uniform({4, 5}, 171)});

  // Forward: kept elements are scaled by 1 / (1 - p), dropped ones are exactly 0.
  Tensor x = uniform({2000}, 172, 1, 2);
  Generator generator(9, 1);
  const Tensor y = dropout(x, p, true, generator);
  const std::vector<double> xv = x.to_vector(), yv = y.to_vector();
  int64_t kept = 0;
  bool scaled = true;
  for (size_t i = 0; i < xv.size(); ++i) {
    if (yv[i] == 0.0) continue;
    ++kept;
    scaled &= std::abs(yv[i] - xv[i] / (1 - p)) < 1e-12;
  }
  CHECK(scaled);
  CHECK(std::abs(kept - 1400) < 120);  // expected 1400 kept, standard deviation 20
  // The same seed, the same mask; another stream, another mask.
  Generator same(9, 1), other(9, 2);
  CHECK(dropout(x, p, true, same).to_vector() == yv);
  CHECK(dropout(x, p, true, other).to_vector() != yv);
  // Evaluation mode and p = 0 are the identity.
  CHECK(dropout(x, p, false, generator).to_vector() == xv);
  CHECK(dropout(x, 0.0, true, generator).to_vector() == xv);
}

TEST_CASE("a small network-shaped composite: linear, tanh, linear, log_softmax, mean") {
  check_gradients(
      [](const std::vector<Tensor>& x) {
        const Tensor hidden = tanh(linear(x[0], x[1], x[2]));
        return mean(log_softmax(linear(hidden, x[3]), 1), {1});
      },
      {uniform({3, 4}, 181), uniform({5, 4}, 182), uniform({5}, 183), uniform({2, 5}, 184)});
}

// ---- in-place updates without history -------------------------------------------------

TEST_CASE("add_ and mul_ update in place and record nothing") {
  for (DType dtype : kFloatTypes) {
    INFO("dtype ", dtype_name(dtype));
    Tensor dst = values({1, 2, 3}, {3}, dtype);
    const void* storage = dst.raw_data();
    add_(dst, values({10, 20, 30}, {3}, dtype), -0.5);
    check_values(dst, {-4, -8, -12}, {3});
    mul_(dst, -0.25);
    check_values(dst, {1, 2, 3}, {3});
    CHECK(dst.raw_data() == storage);
  }
  Tensor parameter = values({1, 2}, {2});
  parameter.set_requires_grad();
  add_(parameter, values({1, 1}, {2}), 1.0);
  mul_(parameter, 2.0);
  CHECK(parameter.is_leaf());  // an optimizer step leaves no history behind
  check_values(parameter, {4, 6}, {2});
}

// ---- the checker itself can fail ------------------------------------------------------
// Ops with deliberately wrong backwards, built with record_op: each of these cases must
// fail (doctest::should_fail), proving that gradcheck.h catches the defect it claims to.

namespace {

// y = x^2 with a backward of g x instead of 2 g x.
Tensor square_with_half_gradient(const Tensor& x) {
  Tensor out;
  {
    NoGradGuard raw;
    out = mul(x, x);
  }
  record_op(out, "square_with_half_gradient", {x},
            [x = x.detach()](const Tensor& g) { return std::vector<Tensor>{mul(g, x)}; });
  return out;
}

// The identity whose backward forgets to write element 0 of its output buffer.
Tensor identity_with_unwritten_gradient(const Tensor& x) {
  Tensor out = x.clone();
  record_op(out, "identity_with_unwritten_gradient", {x}, [](const Tensor& g) {
    Tensor grad = Tensor::empty(g.shape(), g.dtype());
    for (int64_t i = 1; i < g.numel(); ++i) grad.data<double>()[i] = g.data<double>()[i];
    return std::vector<Tensor>{grad};
  });
  return out;
}

}  // namespace

TEST_CASE("self-test: a wrong gradient fails the check" * doctest::should_fail()) {
  check_gradients([](const std::vector<Tensor>& x) { return square_with_half_gradient(x[0]); }, {uniform({3}, 191)});
}

TEST_CASE("self-test: an unwritten gradient element fails the check" * doctest::should_fail()) {
  check_gradients([](const std::vector<Tensor>& x) { return identity_with_unwritten_gradient(x[0]); },
                  {uniform({3}, 192)});
}
