// The autograd engine (core/autograd.h): ordering, accumulation, grad mode, detaching,
// errors, deep graphs and freeing the graph.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/allocator.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "core/random.h"
#include "tests/gradcheck.h"

using namespace slab;

namespace {

Tensor values(const std::vector<double>& v, const Shape& shape) { return from_vector(v, shape, {DType::f64}); }

Tensor leaf(const std::vector<double>& v, const Shape& shape) {
  Tensor t = values(v, shape);
  t.set_requires_grad();
  return t;
}

void check_close(const Tensor& actual, const std::vector<double>& expected, double tolerance = 1e-12) {
  REQUIRE(actual.defined());
  const std::vector<double> got = actual.to_vector();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element ", i, ": got ", got[i], ", expected ", expected[i]);
    CHECK(std::abs(got[i] - expected[i]) <= tolerance * std::max(1.0, std::abs(expected[i])));
  }
}

// The identity with a backward that counts its calls and runs a check when it does.
Tensor observed_identity(const Tensor& x, int& calls, std::function<void()> on_backward = {}) {
  Tensor out = x.clone();
  record_op(out, "observed_identity", {x}, [&calls, on_backward](const Tensor& g) {
    ++calls;
    if (on_backward) on_backward();
    return std::vector<Tensor>{g};
  });
  return out;
}

}  // namespace

TEST_CASE("diamonds: shared subexpressions get every contribution before they propagate") {
  // a = 3x; y = a * a + a:  dy/dx = 3 (2a + 1).
  Tensor x = leaf({0.5, -1, 2}, {3});
  Tensor a = mul(x, 3.0);
  sum(add(mul(a, a), a)).backward();
  check_close(x.grad(), {3 * (2 * 1.5 + 1), 3 * (2 * -3 + 1), 3 * (2 * 6 + 1)});

  // Two paths of different lengths from a: a -> 2a -> 2a + 1 -> exp(2a + 1), and a -> 5a.
  // y = sum(exp(2a + 1) + 5a), a = 3x:  dy/dx = 3 (2 exp(6x + 1) + 5).
  x.zero_grad();
  int calls = 0;
  Tensor shared = observed_identity(mul(x, 3.0), calls);
  Tensor long_path = exp(add(mul(shared, 2.0), 1.0));
  Tensor short_path = mul(shared, 5.0);
  sum(add(long_path, short_path)).backward();
  CHECK(calls == 1);  // the shared node ran once, with the summed gradient
  std::vector<double> expected;
  for (double v : {0.5, -1.0, 2.0}) expected.push_back(3 * (2 * std::exp(6 * v + 1) + 5));
  check_close(x.grad(), expected);

  // A ladder of diamonds: each level uses the previous level twice, y = x^(2^levels).
  Tensor z = leaf({1.01}, {1});
  Tensor level = z;
  for (int i = 0; i < 6; ++i) level = mul(level, level);
  level.backward(ones({1}, {DType::f64}));
  check_close(z.grad(), {64 * std::pow(1.01, 63)});
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
  Tensor x = leaf({1, -2, 3}, {3});
  sum(mul(x, x)).backward();
  check_close(x.grad(), {2, -4, 6});
  sum(mul(x, x)).backward();
  check_close(x.grad(), {4, -8, 12});
  sum(mul(x, 10.0)).backward();
  check_close(x.grad(), {14, 2, 22});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  sum(x).backward();
  check_close(x.grad(), {1, 1, 1});
  // set_grad replaces, and the next backward adds to it.
  x.set_grad(values({10, 20, 30}, {3}));
  sum(x).backward();
  check_close(x.grad(), {11, 21, 31});
}

TEST_CASE("a leaf's gradient never shares storage with another tensor") {
  // add hands its upstream gradient to both operands; the caller's gradient would become
  // the root's .grad when the root is a leaf. An in-place update of one .grad (weight
  // decay, clipping) must leave the others alone.
  Tensor a = leaf({1, 2}, {2}), b = leaf({3, 4}, {2});
  Tensor upstream = values({1, 1}, {2});
  add(a, b).backward(upstream);
  mul_(a.grad(), 0.5);
  check_close(a.grad(), {0.5, 0.5});
  check_close(b.grad(), {1, 1});
  check_close(upstream, {1, 1});

  Tensor c = leaf({5}, {1});
  Tensor seed = values({2}, {1});
  c.backward(seed);
  check_close(c.grad(), {2});
  mul_(c.grad(), 10.0);
  check_close(seed, {2});

  // A reshape's gradient is a view of its upstream gradient.
  Tensor d = leaf({1, 2, 3, 4}, {2, 2});
  Tensor flat = d.reshape({4});
  Tensor g = values({1, 1, 1, 1}, {4});
  flat.backward(g);
  mul_(d.grad(), 3.0);
  check_close(g, {1, 1, 1, 1});
}

TEST_CASE("NoGradGuard turns recording off, nests, restores, and is per thread") {
  Tensor x = leaf({1, 2}, {2});
  CHECK(grad_mode_enabled());
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_mode_enabled());
    Tensor y = mul(x, x);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    CHECK(x.reshape({2, 1}).grad_fn() == nullptr);
    {
      NoGradGuard inner;
      CHECK_FALSE(grad_mode_enabled());
    }
    CHECK_FALSE(grad_mode_enabled());  // the inner guard restores "off", not "on"
    // Another thread keeps its own mode.
    bool other_thread_records = false;
    std::thread worker([&] { other_thread_records = grad_mode_enabled() && mul(x, x).requires_grad(); });
    worker.join();
    CHECK(other_thread_records);
  }
  CHECK(grad_mode_enabled());
  CHECK(mul(x, x).requires_grad());
  // The guard is restored when an exception leaves its scope.
  try {
    NoGradGuard guard;
    (void)add(x, values({1, 2, 3}, {3}));
  } catch (const Error&) {
  }
  CHECK(grad_mode_enabled());
  // Backward itself runs without recording: the gradient has no history.
  sum(mul(x, x)).backward();
  CHECK(x.grad().grad_fn() == nullptr);
  CHECK_FALSE(x.grad().requires_grad());
}

TEST_CASE("requires_grad and detach") {
  Tensor x = leaf({1, 2, 3}, {3});
  Tensor constant = values({4, 5, 6}, {3});
  CHECK(x.requires_grad());
  CHECK(x.is_leaf());
  CHECK_FALSE(constant.requires_grad());

  Tensor y = mul(x, constant);
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  CHECK(std::string(y.grad_fn()->op_name) == "mul");
  sum(y).backward();
  check_close(x.grad(), {4, 5, 6});
  CHECK_FALSE(constant.grad().defined());  // no gradient for what does not ask for one

  // A detached tensor shares the storage but has no history and asks for no gradient.
  Tensor z = mul(x, 2.0);
  Tensor cut = z.detach();
  CHECK(cut.raw_data() == z.raw_data());
  CHECK_FALSE(cut.requires_grad());
  CHECK(cut.is_leaf());
  CHECK_FALSE(mul(cut, cut).requires_grad());
  // The gradient stops at the cut: only the direct path reaches x.
  x.zero_grad();
  sum(add(mul(cut, x), x)).backward();
  check_close(x.grad(), {3, 5, 7});  // cut + 1 = 2x + 1

  // No input requires a gradient: nothing is recorded.
  CHECK(mul(constant, constant).grad_fn() == nullptr);
  // Turning it off again.
  Tensor w = leaf({1}, {1});
  w.set_requires_grad(false);
  CHECK_FALSE(mul(w, w).requires_grad());
  CHECK_THROWS_WITH_AS(labels_from_vector({1, 2}).set_requires_grad(), doctest::Contains("int64"), Error);
}

TEST_CASE("backward errors name the shapes") {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = mul(x, 2.0);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("[2, 3]"), Error);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("not a scalar"), Error);
  // A gradient of the wrong shape names both shapes.
  CHECK_THROWS_WITH_AS(y.backward(values({1, 2, 3}, {3})), doctest::Contains("[3]"), Error);
  CHECK_THROWS_WITH_AS(y.backward(values({1, 2, 3}, {3})), doctest::Contains("[2, 3]"), Error);
  // A tensor with no gradient history.
  CHECK_THROWS_WITH_AS(values({1}, {1}).backward(), doctest::Contains("does not require a gradient"), Error);
  // A one-element tensor of any rank is a valid implicit root.
  sum(y, {0, 1}, true).backward();
  check_close(x.grad(), {2, 2, 2, 2, 2, 2});
}

TEST_CASE("a second backward through a freed graph throws") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = sum(exp(x));
  y.backward();
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already freed"), Error);
  // Building on a freed result and going back through it also throws, naming the op.
  Tensor z = mul(y, 2.0);
  CHECK_THROWS_WITH_AS(z.backward(), doctest::Contains("sum"), Error);
  // A fresh forward pass works again.
  x.zero_grad();
  sum(exp(x)).backward();
  check_close(x.grad(), {std::exp(1.0), std::exp(2.0)});
}

TEST_CASE("a 2000-op chain: backward without recursion, and the graph is freed") {
  Tensor x = leaf({1, 2}, {2});
  Tensor y = x;
  std::weak_ptr<TensorImpl> early_saved;
  for (int i = 0; i < 1000; ++i) {
    y = add(tanh(y), 0.001);  // two ops per step; tanh's closure saves its output
    if (i == 10) early_saved = y.impl_ptr();
  }
  // The graph keeps no tensor itself: early_saved (an add output) is gone, its storage
  // lives on only through the next tanh's closure, which saved what backward reads.
  CHECK(early_saved.expired());
  std::weak_ptr<Storage> early_storage;
  std::weak_ptr<Storage> late_storage;
  {
    Tensor a = tanh(y);
    early_storage = a.impl()->storage;
    for (int i = 0; i < 100; ++i) a = tanh(a);
    late_storage = a.impl()->storage;
    y = a;
  }
  CHECK_FALSE(early_storage.expired());  // a closure saved it
  y.backward(ones({2}, {DType::f64}));
  CHECK(early_storage.expired());  // freed with the closure that saved it
  CHECK_FALSE(late_storage.expired());  // the root's own storage belongs to the caller
  // The root is still alive, its history is not.
  CHECK(y.grad_fn()->released);
  CHECK(y.grad_fn()->edges.empty());
  // x.grad is the product of tanh' along the chain: recompute it in doubles.
  std::vector<double> expected = {1, 1};
  for (size_t k = 0; k < 2; ++k) {
    double h = k == 0 ? 1.0 : 2.0, slope = 1.0;
    for (int i = 0; i < 1000; ++i) {
      h = std::tanh(h);
      slope *= 1 - h * h;
      h += 0.001;
    }
    for (int i = 0; i < 101; ++i) {
      h = std::tanh(h);
      slope *= 1 - h * h;
    }
    expected[k] = slope;
  }
  const std::vector<double> got = x.grad().to_vector();
  for (size_t k = 0; k < 2; ++k) CHECK(std::abs(got[k] - expected[k]) <= 1e-10 * std::abs(expected[k]));

  // A much deeper chain still runs (the ordering uses an explicit stack).
  Tensor z = leaf({1}, {1});
  Tensor w = z;
  for (int i = 0; i < 20000; ++i) w = add(w, 0.0);
  w.backward(ones({1}, {DType::f64}));
  check_close(z.grad(), {1});

  // A graph dropped without backward frees what its closures saved too.
  std::weak_ptr<Storage> dropped;
  {
    Tensor v = x;
    for (int i = 0; i < 2000; ++i) {
      v = exp(mul(v, 1e-3));
      if (i == 5) dropped = v.impl()->storage;
    }
    CHECK_FALSE(dropped.expired());
  }
  CHECK(dropped.expired());
}

TEST_CASE("a very deep graph dropped without backward is freed without recursion") {
  // Dropping the last handle frees node after node; done recursively, 300000 nested
  // destructors would overflow an 8 MiB stack.
  Tensor x = leaf({1}, {1});
  std::weak_ptr<Node> first;
  {
    Tensor y = add(x, 1.0);
    first = y.grad_fn();
    for (int i = 0; i < 300000; ++i) y = add(y, 1.0);
    CHECK_FALSE(first.expired());
  }
  CHECK(first.expired());
}

TEST_CASE("edges keep only what backward needs: producers, leaves, and the input's shape") {
  Tensor w = leaf({1, 2, 3}, {3});
  Tensor data = values({4, 5, 6}, {3});  // no gradient
  std::weak_ptr<TensorImpl> hidden_impl;
  std::weak_ptr<Storage> hidden_storage;
  Tensor out;
  {
    Tensor hidden = add(w, 1.0);
    hidden_impl = hidden.impl_ptr();
    hidden_storage = hidden.impl()->storage;
    out = add(hidden, data);  // add saves neither operand
  }
  // Neither the intermediate nor its storage is held by the graph.
  CHECK(hidden_impl.expired());
  CHECK(hidden_storage.expired());
  const std::shared_ptr<Node>& node = out.grad_fn();
  REQUIRE(node != nullptr);
  REQUIRE(node->edges.size() == 2);
  const Edge& from_hidden = node->edges[0];
  CHECK(from_hidden.producer != nullptr);
  CHECK(std::string(from_hidden.producer->op_name) == "add_scalar");
  CHECK(from_hidden.leaf == nullptr);
  CHECK(from_hidden.shape == Shape{3});
  CHECK(from_hidden.dtype == DType::f64);
  CHECK(node->needs_grad(0));
  const Edge& from_data = node->edges[1];
  CHECK(from_data.defined);
  CHECK_FALSE(from_data.requires_grad());
  CHECK(from_data.leaf == nullptr);  // a tensor not requiring a gradient is not kept
  CHECK(from_data.shape == Shape{3});
  CHECK_FALSE(node->needs_grad(1));
  REQUIRE(from_hidden.producer->edges.size() == 1);
  CHECK(from_hidden.producer->edges[0].leaf == w.impl_ptr());  // a leaf is reached directly
  sum(out).backward();
  check_close(w.grad(), {1, 1, 1});
}

TEST_CASE("activations are released during backward, not only at its end") {
  // x -> a (observed) -> b = exp(a) -> c = sum(b). When a's backward runs (last), b has
  // been used by every consumer, so nothing may still hold it.
  Tensor x = leaf({0.5, 1.5}, {2});
  std::weak_ptr<TensorImpl> b_impl;
  bool b_released_in_time = false;
  int calls = 0;
  Tensor c;
  {
    Tensor a = observed_identity(x, calls, [&] { b_released_in_time = b_impl.expired(); });
    Tensor b = exp(a);
    b_impl = b.impl_ptr();
    c = sum(b);
  }
  c.backward();
  CHECK(calls == 1);
  CHECK(b_released_in_time);
  check_close(x.grad(), {std::exp(0.5), std::exp(1.5)});
}

TEST_CASE("a 110-block residual chain: correct gradients, no stack overflow, no leak") {
  // h <- h + 0.1 tanh(h * w_i + b_i), 110 times, then mean(h^2): a ResNet-110-shaped
  // chain of adds and muls with a parameter pair per block.
  const int blocks = 110;
  Generator generator(3, 0);
  std::vector<Tensor> weights, biases;
  for (int i = 0; i < blocks; ++i) {
    Tensor w = Tensor::empty({4}, DType::f64), b = Tensor::empty({4}, DType::f64);
    generator.fill_uniform(w, -1, 1);
    generator.fill_uniform(b, -0.5, 0.5);
    weights.push_back(w);
    biases.push_back(b);
  }
  Tensor input = Tensor::empty({2, 4}, DType::f64);
  generator.fill_uniform(input, -1, 1);
  const auto network = [&](const Tensor& x) {
    Tensor h = x;
    for (int i = 0; i < blocks; ++i) h = add(h, mul(tanh(add(mul(h, weights[i]), biases[i])), 0.1));
    return mean(mul(h, h));
  };

  const AllocatorStats before = host_allocator_stats();
  for (Tensor& w : weights) w.set_requires_grad();
  input.set_requires_grad();
  {
    Tensor loss = network(input);
    loss.backward();
  }
  for (int i = 0; i < blocks; ++i) {
    REQUIRE(weights[i].grad().defined());
    CHECK(std::isfinite(weights[i].grad().to_vector()[0]));
  }
  // With the loss gone and the gradients dropped, every byte is back.
  for (Tensor& w : weights) {
    w.zero_grad();
    w.set_requires_grad(false);
  }
  input.zero_grad();
  input.set_requires_grad(false);
  CHECK(host_allocator_stats().bytes_in_use == before.bytes_in_use);

  // Central differences through all 110 blocks for the input and three blocks' weights.
  const std::vector<int> probed = {0, 54, 109};
  slab::testing::check_gradients(
      [&](const std::vector<Tensor>& inputs) {
        for (size_t k = 0; k < probed.size(); ++k) weights[probed[k]] = inputs[1 + k];
        return network(inputs[0]);
      },
      {input.clone(), weights[0].clone(), weights[54].clone(), weights[109].clone()});
}
