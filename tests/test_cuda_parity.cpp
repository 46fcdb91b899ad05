// CPU/CUDA parity: every CUDA kernel against the CPU as the oracle
// (docs/architecture.md#cpu-cuda-parity). Each case is one body run over the available GPUs:
// the same inputs go through the same public op on the CPU and on the GPU, and the outputs and
// the gradients of every input are compared with a tolerance per op. Without a GPU
// (or without the CUDA backend in this build) every case prints "SLAB_SKIPPED: no GPU", which
// CTest reports as skipped.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bayes/spike_slab.h"
#include "core/ops.h"
#include "core/philox.h"
#include "core/precision.h"
#include "core/random.h"
#include "layers/module.h"
#include "models/factory.h"
#include "optim/adam.h"
#include "optim/adam_kernel.h"
#include "optim/csghmc.h"
#include "optim/ivon.h"
#include "optim/sgd.h"
#include "optim/sgd_kernel.h"
#include "optim/sghmc.h"
#include "optim/sghmc_kernel.h"
#include "optim/vb_adaptive.h"
#include "tests/skip.h"
#ifdef SLAB_WITH_CUDA
#include "optim/cuda/optimizer_kernels.h"
#include "core/cuda/runtime.h"
#endif

using namespace slab;

namespace {

// The GPUs to test, or none (after a visible skip: "SLAB_SKIPPED: no GPU ...", and the
// executable exits with CTest's skip code, tests/skip.h).
std::vector<Device> gpus() {
  std::vector<Device> devices;
#ifdef SLAB_WITH_CUDA
  for (int i = 0; i < cuda::device_count(); ++i) devices.push_back(Device::cuda(i));
  if (devices.empty()) slab::testing::skip("no GPU (" + cuda::no_device_reason() + ")");
#else
  slab::testing::skip("no GPU (this build has no CUDA backend)");
#endif
  return devices;
}

// |gpu - cpu| <= atol + rtol |cpu| elementwise, with atol = scale_tol * max |cpu| (so sums
// of many terms whose partial results cancel are judged against the tensor's magnitude).
void check_close(const Tensor& cpu, const Tensor& gpu, double rtol, double scale_tol, const std::string& what) {
  REQUIRE_MESSAGE(cpu.defined() == gpu.defined(), what, ": defined on one device only");
  if (!cpu.defined()) return;
  REQUIRE_MESSAGE(cpu.shape() == gpu.shape(), what, ": shapes differ");
  REQUIRE_MESSAGE(gpu.device().is_cuda(), what, ": the GPU result is on ", gpu.device());
  const std::vector<double> a = cpu.to_vector(), b = gpu.to_vector();
  double peak = 0;
  for (double v : a) peak = std::max(peak, std::abs(v));
  const double atol = scale_tol * peak;
  size_t worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(b[i]);
    const double excess = both_nan ? -1 : std::abs(a[i] - b[i]) - (atol + rtol * std::abs(a[i]));
    if (excess > worst_excess || (std::isnan(excess) && !std::isnan(worst_excess))) {
      worst_excess = excess;
      worst = i;
    }
  }
  CHECK_MESSAGE(!(worst_excess > 0 || std::isnan(worst_excess)), what, ": element ", worst, " is ", b.empty() ? 0 : b[worst],
                " on the GPU and ", a.empty() ? 0 : a[worst], " on the CPU (rtol ", rtol, ", atol ", atol, ")");
}

void check_equal(const Tensor& cpu, const Tensor& gpu, const std::string& what) { check_close(cpu, gpu, 0, 0, what); }

Tensor random_input(const Shape& shape, uint64_t seed, DType dtype = DType::f32, double low = -2, double high = 2) {
  Generator generator(seed);
  Tensor t = Tensor::empty(shape, dtype);
  generator.fill_uniform(t, low, high);
  return t;
}

using OpFunction = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs f on copies of `inputs` on the CPU and on `device`, backpropagates the same random
// upstream gradient through both, and compares outputs and every input's gradient.
void compare_op(const std::string& name, const OpFunction& f, const std::vector<Tensor>& inputs, Device device,
                double rtol, double scale_tol = 0, bool backward = true) {
  std::vector<Tensor> cpu_inputs, gpu_inputs;
  for (const Tensor& t : inputs) {
    cpu_inputs.push_back(t.clone().set_requires_grad(backward && t.dtype() != DType::i64));
    gpu_inputs.push_back(t.to(device).set_requires_grad(backward && t.dtype() != DType::i64));
  }
  const Tensor cpu_out = f(cpu_inputs);
  const Tensor gpu_out = f(gpu_inputs);
  check_close(cpu_out, gpu_out, rtol, scale_tol, name + " forward");
  if (!backward) return;
  const Tensor upstream = random_input(cpu_out.shape(), 777, cpu_out.dtype());
  cpu_out.backward(upstream);
  gpu_out.backward(upstream.to(device));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!cpu_inputs[i].requires_grad()) continue;
    check_close(cpu_inputs[i].grad(), gpu_inputs[i].grad(), rtol, scale_tol,
                name + " gradient of input " + std::to_string(i));
  }
}

}  // namespace

TEST_CASE("the Philox integer stream is the same bits on the GPU") {
  for (Device device : gpus()) {
#ifdef SLAB_WITH_CUDA
    struct Case {
      uint64_t seed, stream, first_block;
    };
    for (const Case c : {Case{0, 0, 0}, Case{42, 7, 1000}, Case{0xDEADBEEFCAFEF00Dull, 0x5347484D00000003ull,
                                                                  0xFFFFFFFF00000000ull - 3}}) {
      const int64_t count = 4099;
      std::vector<uint32_t> words(static_cast<size_t>(4 * count));
      cuda::philox_words(c.seed, c.stream, c.first_block, count, words.data(), device.index);
      int64_t mismatches = 0;
      for (int64_t j = 0; j < count; ++j) {
        const philox::Block b = philox::block(c.seed, c.stream, c.first_block + static_cast<uint64_t>(j));
        for (int w = 0; w < 4; ++w) mismatches += words[static_cast<size_t>(4 * j + w)] != b.word[w];
      }
      CHECK_MESSAGE(mismatches == 0, mismatches, " words differ for seed ", c.seed, " stream ", c.stream);
    }
#else
    (void)device;
#endif
  }
}

TEST_CASE("count_non_finite counts the same NaN and infinite elements on the GPU") {
  for (Device device : gpus()) {
    for (DType dtype : {DType::f32, DType::f64}) {
      std::vector<Tensor> cpu, gpu;
      for (int64_t n : {int64_t{1}, int64_t{33}, int64_t{100003}}) {
        Tensor t = random_input({n}, static_cast<uint64_t>(n), dtype);
        const double specials[] = {NAN, INFINITY, -INFINITY};
        for (int64_t i = 0; i < n; i += 97) {  // every 97th element NaN, +inf or -inf in turn
          if (dtype == DType::f32) t.data<float>()[i] = static_cast<float>(specials[(i / 97) % 3]);
          else t.data<double>()[i] = specials[(i / 97) % 3];
        }
        cpu.push_back(t);
        gpu.push_back(t.to(device));
      }
      check_equal(count_non_finite(cpu, Device::cpu()), count_non_finite(gpu, device), "count_non_finite");
      CHECK(count_non_finite(cpu, Device::cpu()).item() == 1 + 1 + (100003 + 96) / 97);
    }
  }
}

TEST_CASE("uniform and normal fills match the CPU's draws") {
  for (Device device : gpus()) {
    for (DType dtype : {DType::f32, DType::f64}) {
      for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1026}}) {
        Generator cpu_generator(99, 5), gpu_generator(99, 5);
        Tensor cpu = Tensor::empty({n}, dtype), gpu = Tensor::empty({n}, dtype, device);
        cpu_generator.fill_uniform(cpu);
        gpu_generator.fill_uniform(gpu);
        check_equal(cpu, gpu, "uniform [0, 1)");  // the top 24 bits of a word: exact
        cpu_generator.fill_uniform(cpu, -3, 5);
        gpu_generator.fill_uniform(gpu, -3, 5);
        check_close(cpu, gpu, 1e-6, 0, "uniform [-3, 5)");
        cpu_generator.fill_normal(cpu);
        gpu_generator.fill_normal(gpu);
        check_close(cpu, gpu, 1e-6, 1e-7, "normal");  // device logf/sinf/cosf are not glibc's
        cpu_generator.fill_normal(cpu, 2, 0.5);
        gpu_generator.fill_normal(gpu, 2, 0.5);
        check_close(cpu, gpu, 1e-6, 1e-7, "normal(2, 0.5)");
        CHECK(cpu_generator.state().next_block == gpu_generator.state().next_block);
      }
    }
  }
}

TEST_CASE("unary ops and their gradients") {
  for (Device device : gpus()) {
    const Tensor x = random_input({3, 5, 7}, 1);
    const Tensor positive = random_input({3, 5, 7}, 2, DType::f32, 0.1, 3);
    compare_op("neg", [](const auto& v) { return neg(v[0]); }, {x}, device, 0);
    compare_op("exp", [](const auto& v) { return exp(v[0]); }, {x}, device, 1e-6);
    compare_op("log", [](const auto& v) { return log(v[0]); }, {positive}, device, 1e-6, 1e-7);
    compare_op("sqrt", [](const auto& v) { return sqrt(v[0]); }, {positive}, device, 1e-6);
    compare_op("pow 2.5", [](const auto& v) { return pow(v[0], 2.5); }, {positive}, device, 1e-5);
    compare_op("abs", [](const auto& v) { return abs(v[0]); }, {x}, device, 0);
    compare_op("clamp", [](const auto& v) { return clamp(v[0], -0.5, 0.7); }, {x}, device, 0);
    compare_op("relu", [](const auto& v) { return relu(v[0]); }, {x}, device, 0);
    compare_op("sigmoid", [](const auto& v) { return sigmoid(v[0]); }, {x}, device, 1e-6);
    compare_op("tanh", [](const auto& v) { return tanh(v[0]); }, {x}, device, 1e-6, 1e-7);
    compare_op("add scalar", [](const auto& v) { return add(v[0], 1.25); }, {x}, device, 0);
    compare_op("mul scalar", [](const auto& v) { return mul(v[0], -3.0); }, {x}, device, 0);
    compare_op("rsub", [](const auto& v) { return rsub(2.0, v[0]); }, {x}, device, 0);
    // float64: the same formulas, so the results agree to double rounding.
    const Tensor x64 = random_input({4, 9}, 3, DType::f64);
    compare_op("sigmoid f64", [](const auto& v) { return sigmoid(v[0]); }, {x64}, device, 1e-14);
    compare_op("tanh f64", [](const auto& v) { return tanh(v[0]); }, {x64}, device, 1e-14, 1e-15);
  }
}

TEST_CASE("binary ops with broadcasting") {
  for (Device device : gpus()) {
    struct Pair {
      Shape a, b;
    };
    for (const Pair& p : {Pair{{4, 3, 5}, {4, 3, 5}}, Pair{{4, 3, 5}, {3, 1}}, Pair{{2, 1, 4}, {3, 1}},
                          Pair{{6}, {}}, Pair{{2, 3, 4, 5}, {1, 3, 1, 1}}, Pair{{1, 5}, {7, 1}}}) {
      const Tensor a = random_input(p.a, 10), b = random_input(p.b, 11, DType::f32, 0.5, 2);
      compare_op("add", [](const auto& v) { return add(v[0], v[1]); }, {a, b}, device, 0, 1e-7);
      compare_op("sub", [](const auto& v) { return sub(v[0], v[1]); }, {a, b}, device, 0, 1e-7);
      compare_op("mul", [](const auto& v) { return mul(v[0], v[1]); }, {a, b}, device, 1e-6, 1e-7);
      compare_op("div", [](const auto& v) { return div(v[0], v[1]); }, {a, b}, device, 1e-6, 1e-7);
    }
    const Tensor logits = random_input({8, 3}, 12), targets = random_input({8, 3}, 13, DType::f32, 0, 1);
    compare_op("bce with logits", [](const auto& v) { return binary_cross_entropy_with_logits(v[0], v[1]); },
               {logits, targets}, device, 1e-6);
    compare_op("mse", [](const auto& v) { return mse_loss(v[0], v[1]); }, {logits, targets}, device, 1e-6);
  }
}

TEST_CASE("matmul and linear through cuBLAS, full float32") {
  for (Device device : gpus()) {
#ifdef SLAB_WITH_CUDA
    cuda::set_tf32(false);
#endif
    const Tensor a = random_input({17, 33}, 20), b = random_input({33, 9}, 21);
    compare_op("matmul", [](const auto& v) { return matmul(v[0], v[1]); }, {a, b}, device, 1e-5, 1e-6);
    const Tensor a3 = random_input({3, 17, 33}, 22), b3 = random_input({3, 33, 9}, 23);
    compare_op("batched matmul", [](const auto& v) { return matmul(v[0], v[1]); }, {a3, b3}, device, 1e-5, 1e-6);
    compare_op("batched x shared", [](const auto& v) { return matmul(v[0], v[1]); }, {a3, b}, device, 1e-5, 1e-6);
    const Tensor x = random_input({5, 4, 33}, 24), w = random_input({9, 33}, 25), bias = random_input({9}, 26);
    compare_op("linear", [](const auto& v) { return linear(v[0], v[1], v[2]); }, {x, w, bias}, device, 1e-5, 1e-6);
    compare_op("linear without bias", [](const auto& v) { return linear(v[0], v[1]); }, {x, w}, device, 1e-5, 1e-6);
    const Tensor a64 = random_input({31, 40}, 27, DType::f64), b64 = random_input({40, 8}, 28, DType::f64);
    compare_op("matmul f64", [](const auto& v) { return matmul(v[0], v[1]); }, {a64, b64}, device, 1e-12, 1e-13);
  }
}

TEST_CASE("the TF32 switch changes float32 GEMM and is off by default") {
  for (Device device : gpus()) {
#ifdef SLAB_WITH_CUDA
    cuda::set_tf32(false);
    const Tensor a = random_input({256, 256}, 30).to(device), b = random_input({256, 256}, 31).to(device);
    const std::vector<double> full = matmul(a, b).to_vector();
    cuda::set_tf32(true);
    CHECK(cuda::tf32_enabled());
    const std::vector<double> reduced = matmul(a, b).to_vector();
    cuda::set_tf32(false);
    double largest = 0, difference = 0;
    for (size_t i = 0; i < full.size(); ++i) {
      largest = std::max(largest, std::abs(full[i]));
      difference = std::max(difference, std::abs(full[i] - reduced[i]));
    }
    // TF32 keeps 10 mantissa bits: a 256-term product moves by ~1e-3 of its size, FP32 by ~1e-6.
    CHECK(difference > 1e-6 * largest);
    CHECK(difference < 2e-2 * largest);
#else
    (void)device;
#endif
  }
}

TEST_CASE("reductions: sum, mean, max, argmax") {
  for (Device device : gpus()) {
    const Tensor x = random_input({4, 6, 5, 3}, 40);
    for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{}, {0}, {1}, {3}, {0, 2}, {1, 2, 3}})
      compare_op("sum", [dims](const auto& v) { return sum(v[0], dims, true); }, {x}, device, 1e-6, 1e-7);
    compare_op("mean", [](const auto& v) { return mean(v[0], {1}); }, {x}, device, 1e-6, 1e-7);
    compare_op("max dim 1", [](const auto& v) { return max(v[0], 1).values; }, {x}, device, 0);
    compare_op("max dim 3", [](const auto& v) { return max(v[0], 3).values; }, {x}, device, 0);
    compare_op("max all", [](const auto& v) { return max(v[0]); }, {x}, device, 0);
    check_equal(argmax(x, 1), argmax(x.to(device), 1), "argmax dim 1");
    check_equal(argmax(x, 3), argmax(x.to(device), 3), "argmax dim 3");
    // Ties go to the first index on both devices.
    const Tensor ties = from_vector({1, 3, 3, 0, 2, 2, 2, 1}, {2, 4});
    check_equal(argmax(ties, 1), argmax(ties.to(device), 1), "argmax with ties");
    // Long rows take the block-per-row path, wide columns the 32 x 8 path; both deterministic.
    const Tensor long_rows = random_input({3, 200000}, 41);
    compare_op("sum of long rows", [](const auto& v) { return sum(v[0], {1}); }, {long_rows}, device, 1e-6, 1e-7);
    const Tensor wide = random_input({3000, 70}, 42);
    compare_op("sum of columns", [](const auto& v) { return sum(v[0], {0}); }, {wide}, device, 1e-6, 1e-7);
    const Tensor once = sum(long_rows.to(device)), twice = sum(long_rows.to(device));
    check_equal(once.to(Device::cpu()), twice, "the same sum twice (no atomics: the same bits)");
  }
}

TEST_CASE("permute, transpose, cat and narrow") {
  for (Device device : gpus()) {
    const Tensor x = random_input({2, 3, 4, 5}, 50);
    compare_op("permute", [](const auto& v) { return permute(v[0], {2, 0, 3, 1}); }, {x}, device, 0);
    compare_op("transpose", [](const auto& v) { return transpose(v[0], 1, 3); }, {x}, device, 0);
    const Tensor y = random_input({2, 7, 4, 5}, 51);
    compare_op("cat dim 1", [](const auto& v) { return cat({v[0], v[1]}, 1); }, {x, y}, device, 0);
    compare_op("cat dim 0", [](const auto& v) { return cat({v[0], v[0]}, 0); }, {x}, device, 0);
    compare_op("narrow", [](const auto& v) { return narrow(v[0], 2, 1, 2); }, {x}, device, 0);
    compare_op("slice dim 0", [](const auto& v) { return slice(v[0], 0, 1, 2); }, {x}, device, 0);
    const Tensor labels = labels_from_vector({3, 1, 4, 1, 5});
    check_equal(permute(labels.reshape({5, 1}), {1, 0}), permute(labels.to(device).reshape({5, 1}), {1, 0}),
                "int64 permute");
  }
}

TEST_CASE("softmax, log-softmax and cross-entropy") {
  for (Device device : gpus()) {
    const Tensor logits = random_input({6, 10}, 60, DType::f32, -5, 5);
    compare_op("softmax", [](const auto& v) { return softmax(v[0], 1); }, {logits}, device, 1e-6, 1e-7);
    compare_op("log_softmax", [](const auto& v) { return log_softmax(v[0], 1); }, {logits}, device, 1e-6, 1e-6);
    const Tensor x = random_input({3, 4, 5}, 61);
    compare_op("softmax over a middle dim", [](const auto& v) { return softmax(v[0], 1); }, {x}, device, 1e-6, 1e-7);
    compare_op("log_softmax over a middle dim", [](const auto& v) { return log_softmax(v[0], 1); }, {x}, device, 1e-6,
               1e-6);
    const Tensor wide = random_input({4, 1000}, 62, DType::f32, -5, 5);
    compare_op("softmax of 1000 classes", [](const auto& v) { return softmax(v[0], 1); }, {wide}, device, 1e-6, 1e-7);
    const Tensor targets = labels_from_vector({0, 9, 3, 3, 7, 1});
    const Tensor cpu_logits = logits.clone().set_requires_grad(true);
    const Tensor gpu_logits = logits.to(device).set_requires_grad(true);
    const Tensor cpu_loss = cross_entropy(cpu_logits, targets), gpu_loss = cross_entropy(gpu_logits, targets.to(device));
    check_close(cpu_loss, gpu_loss, 1e-6, 0, "cross_entropy");
    cpu_loss.backward();
    gpu_loss.backward();
    check_close(cpu_logits.grad(), gpu_logits.grad(), 1e-6, 1e-7, "cross_entropy gradient");
  }
}

TEST_CASE("conv2d forward and backward through cuDNN") {
  for (Device device : gpus()) {
#ifdef SLAB_WITH_CUDA
    cuda::set_tf32(false);
#endif
    struct Case {
      Shape x, w;
      Conv2dOptions options;
      bool bias;
    };
    const std::vector<Case> cases = {
        {{2, 3, 8, 8}, {4, 3, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}, true},     // 3x3, same size
        {{2, 4, 9, 7}, {6, 4, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, 1}, false},    // strided
        {{3, 8, 5, 5}, {4, 8, 1, 1}, {{1, 1}, {0, 0}, {1, 1}, 1}, true},     // 1x1 shortcut
        {{1, 2, 10, 10}, {3, 2, 3, 3}, {{1, 1}, {2, 2}, {2, 2}, 1}, false},  // dilated
        {{2, 4, 6, 6}, {6, 2, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 2}, true},     // two groups
        {{2, 3, 7, 9}, {5, 3, 2, 4}, {{1, 2}, {0, 1}, {1, 1}, 1}, true},     // rectangular
    };
    for (const Case& c : cases) {
      const Tensor x = random_input(c.x, 70), w = random_input(c.w, 71, DType::f32, -0.5, 0.5);
      const Tensor b = random_input({c.w[0]}, 72);
      const Conv2dOptions options = c.options;
      const std::string name = "conv2d " + std::to_string(c.w[2]) + "x" + std::to_string(c.w[3]) + " stride " +
                               std::to_string(options.stride[0]) + " groups " + std::to_string(options.groups);
      if (c.bias)
        compare_op(name, [options](const auto& v) { return conv2d(v[0], v[1], v[2], options); }, {x, w, b}, device,
                   1e-4, 1e-5);
      else
        compare_op(name, [options](const auto& v) { return conv2d(v[0], v[1], Tensor(), options); }, {x, w}, device,
                   1e-4, 1e-5);
    }
  }
}

// --precision bf16 on the GPU (core/cuda/bf16_products.h) reads the same bf16 inputs as the
// CPU's bf16 path and multiplies them exactly, so the two differ only in the order of their
// float32 sums: the float32 tolerances hold. 1 + 2^-10 rounds to 1 in bf16 (float32 and TF32
// keep it): on all-ones weights the sums are whole numbers only where the inputs were rounded.
TEST_CASE("bf16 precision: convolutions and matrix products on the GPU match the CPU's bf16 path") {
  for (Device device : gpus()) {
#ifdef SLAB_WITH_CUDA
    cuda::set_tf32(false);
    set_matmul_precision(Precision::bf16);
    const double off_grid = 1 + std::ldexp(1.0, -10);
    const Tensor x = full({2, 3, 5, 5}, off_grid, {DType::f32}).to(device);
    const Tensor ones = full({4, 3, 3, 3}, 1.0, {DType::f32}).to(device);
    Conv2dOptions same;
    same.padding = {1, 1};
    const std::vector<double> y = conv2d(x, ones, Tensor(), same).to_vector();  // [2, 4, 5, 5]
    CHECK(y[2 * 5 + 2] == 27);  // image 0, channel 0, pixel (2, 2): 3 channels x 9 taps of 1 x 1
    for (double v : y) CHECK(v == std::round(v));
    const std::vector<double> product =
        matmul(full({4, 64}, off_grid, {DType::f32}).to(device), full({64, 3}, 1.0, {DType::f32}).to(device))
            .to_vector();
    for (double v : product) CHECK(v == 64);

    const Tensor a = random_input({17, 33}, 40), b = random_input({33, 9}, 41);
    compare_op("bf16 matmul", [](const auto& v) { return matmul(v[0], v[1]); }, {a, b}, device, 1e-5, 1e-6);
    const Tensor a3 = random_input({3, 17, 33}, 42), b3 = random_input({3, 33, 9}, 43);
    compare_op("bf16 batched x shared", [](const auto& v) { return matmul(v[0], v[1]); }, {a3, b}, device, 1e-5,
               1e-6);
    const Tensor xs = random_input({2, 8, 9, 7}, 44), w = random_input({6, 8, 3, 3}, 45, DType::f32, -0.5, 0.5);
    const Tensor bias = random_input({6}, 46);
    for (const Conv2dOptions& options : {Conv2dOptions{{1, 1}, {1, 1}, {1, 1}, 1}, Conv2dOptions{{2, 2}, {1, 1}, {1, 1}, 1},
                                         Conv2dOptions{{1, 1}, {1, 1}, {1, 1}, 2}})
      compare_op("bf16 conv2d stride " + std::to_string(options.stride[0]) + " groups " + std::to_string(options.groups),
                 [options](const auto& v) { return conv2d(v[0], v[1], v[2], options); },
                 {xs, options.groups == 2 ? random_input({6, 4, 3, 3}, 47, DType::f32, -0.5, 0.5) : w, bias}, device,
                 1e-4, 1e-5);
    set_matmul_precision(Precision::fp32);
#else
    (void)device;
#endif
  }
}

TEST_CASE("pooling forward and backward") {
  for (Device device : gpus()) {
    const Tensor x = random_input({2, 3, 9, 8}, 80);
    for (const Pool2dOptions& o : {Pool2dOptions{{2, 2}, {2, 2}, {0, 0}}, Pool2dOptions{{3, 3}, {2, 2}, {1, 1}},
                                   Pool2dOptions{{3, 2}, {1, 2}, {1, 0}}}) {
      compare_op("max_pool2d", [o](const auto& v) { return max_pool2d(v[0], o); }, {x}, device, 0);
      compare_op("avg_pool2d", [o](const auto& v) { return avg_pool2d(v[0], o); }, {x}, device, 1e-6, 1e-7);
    }
    for (std::array<int64_t, 2> size : {std::array<int64_t, 2>{1, 1}, std::array<int64_t, 2>{3, 3},
                                        std::array<int64_t, 2>{4, 5}})
      compare_op("adaptive_avg_pool2d", [size](const auto& v) { return adaptive_avg_pool2d(v[0], size); }, {x}, device,
                 1e-6, 1e-7);
  }
}

TEST_CASE("batch norm: training, running statistics, evaluation") {
  for (Device device : gpus()) {
    // Planes of 1, 30, 16 (16 planes to a block), 49 (not a power of two), 340 values (more
    // than a block's threads: each lane loops) and 1024; the last shape's per-channel sums
    // take several slices of images (16384 values per channel), the others one.
    for (const Shape& shape : {Shape{8, 5}, Shape{4, 3, 6, 5}, Shape{16, 8, 4, 4}, Shape{2, 70, 7, 7},
                               Shape{3, 2, 20, 17}, Shape{16, 4, 32, 32}}) {
      const int64_t channels = shape[1];
      const Tensor x = random_input(shape, 90, DType::f32, -1, 3);
      const Tensor weight = random_input({channels}, 91, DType::f32, 0.5, 1.5);
      const Tensor bias = random_input({channels}, 92);
      const Tensor mean0 = random_input({channels}, 93, DType::f32, -0.1, 0.1);
      const Tensor var0 = random_input({channels}, 94, DType::f32, 0.5, 1.5);
      // Training: outputs, gradients of x, weight and bias, and the in-place running update.
      const Tensor cpu_mean = mean0.clone(), cpu_var = var0.clone();
      const Tensor gpu_mean = mean0.to(device), gpu_var = var0.to(device);
      compare_op("batch_norm training",
                 [&](const auto& v) {
                   const bool on_gpu = v[0].device().is_cuda();
                   return batch_norm(v[0], v[1], v[2], on_gpu ? gpu_mean : cpu_mean, on_gpu ? gpu_var : cpu_var, true,
                                     0.1, 1e-5);
                 },
                 {x, weight, bias}, device, 1e-5, 1e-5);
      check_close(cpu_mean, gpu_mean, 1e-6, 1e-7, "running_mean");
      check_close(cpu_var, gpu_var, 1e-6, 1e-7, "running_var");
      compare_op("batch_norm training without affine",
                 [](const auto& v) { return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }, {x},
                 device, 1e-5, 1e-5);
      compare_op("batch_norm evaluation",
                 [&](const auto& v) {
                   const bool on_gpu = v[0].device().is_cuda();
                   return batch_norm(v[0], v[1], v[2], on_gpu ? gpu_mean : cpu_mean, on_gpu ? gpu_var : cpu_var, false,
                                     0.1, 1e-5);
                 },
                 {x, weight, bias}, device, 1e-5, 1e-6);
      // The fused ReLU, both modes (running statistics left alone: no momentum).
      for (bool training : {true, false})
        compare_op(training ? "batch_norm_relu training" : "batch_norm_relu evaluation",
                   [&](const auto& v) {
                     const bool on_gpu = v[0].device().is_cuda();
                     return batch_norm_relu(v[0], v[1], v[2], on_gpu ? gpu_mean : cpu_mean,
                                            on_gpu ? gpu_var : cpu_var, training, 0.0, 1e-5);
                   },
                   {x, weight, bias}, device, 1e-5, 1e-5);
    }
  }
}

TEST_CASE("dropout masks are the same draws on both devices") {
  for (Device device : gpus()) {
    const Tensor x = random_input({7, 13}, 100);
    Generator cpu_generator(5), gpu_generator(5);
    const Tensor cpu_out = dropout(x, 0.3, true, cpu_generator);
    const Tensor gpu_out = dropout(x.to(device), 0.3, true, gpu_generator);
    check_close(cpu_out, gpu_out, 1e-7, 0, "dropout");
  }
}

TEST_CASE("a small CNN trains the same on both devices, and a steady step allocates nothing") {
  for (Device device : gpus()) {
#ifdef SLAB_WITH_CUDA
    cuda::set_tf32(false);
#endif
    std::shared_ptr<Module> cpu_model = make_model("resnet20", 10, 3, 7);
    std::shared_ptr<Module> gpu_model = make_model("resnet20", 10, 3, 7);
    gpu_model->to(device);
    const Tensor images = random_input({4, 3, 32, 32}, 110);
    const Tensor labels = labels_from_vector({1, 0, 9, 4});
    const Tensor cpu_loss = cross_entropy(cpu_model->forward(images), labels);
    const Tensor gpu_loss = cross_entropy(gpu_model->forward(images.to(device)), labels.to(device));
    check_close(cpu_loss, gpu_loss, 1e-4, 0, "resnet20 loss");
    cpu_loss.backward();
    gpu_loss.backward();
    const auto cpu_parameters = cpu_model->named_parameters(), gpu_parameters = gpu_model->named_parameters();
    REQUIRE(cpu_parameters.size() == gpu_parameters.size());
    for (size_t i = 0; i < cpu_parameters.size(); ++i)
      check_close(cpu_parameters[i].tensor.grad(), gpu_parameters[i].tensor.grad(), 1e-3, 1e-3,
                  "resnet20 gradient of " + cpu_parameters[i].name);
#ifdef SLAB_WITH_CUDA
    // A training step on the same shapes, repeated: after the first, the caching allocator
    // serves every buffer, so cudaMalloc is never reached again.
    auto step = [&] {
      gpu_model->zero_grad();
      const Tensor loss = cross_entropy(gpu_model->forward(images.to(device)), labels.to(device));
      loss.backward();
      for (const NamedParameter& p : gpu_parameters) add_(p.tensor, p.tensor.grad(), -0.01);
      cuda::synchronize(device.index);
    };
    step();
    step();
    const uint64_t before = cuda::device_allocator_stats(device.index).system_allocations;
    step();
    CHECK(cuda::device_allocator_stats(device.index).system_allocations == before);
#endif
  }
}

TEST_CASE("cross_entropy reports an out-of-range device target at the next synchronisation") {
  for (Device device : gpus()) {
    const Tensor logits = random_input({6, 10}, 125, DType::f32, -3, 3);
    const Tensor gpu_logits = logits.to(device);
    // The kernel cannot throw: the loss is computed (NaN) and the error waits in the device's
    // record until the host reads the loss back.
    const Tensor loss = cross_entropy(gpu_logits, labels_from_vector({0, 9, 12, 3, -1, 1}).to(device));
    CHECK_THROWS_WITH_AS(loss.item(), doctest::Contains("cross_entropy: target 12 at row 2 is outside [0, 10)"), Error);
    // The CPU names the same row.
    CHECK_THROWS_WITH_AS(cross_entropy(logits, labels_from_vector({0, 9, 12, 3, -1, 1})),
                         doctest::Contains("target 12 at row 2"), Error);
    // The record was cleared: a good batch reads back as the CPU's loss.
    const Tensor good_targets = labels_from_vector({0, 9, 2, 3, 7, 1});
    const Tensor good = cross_entropy(gpu_logits, good_targets.to(device));
    CHECK(good.item() == doctest::Approx(cross_entropy(logits, good_targets).item()).epsilon(1e-6));
    // Found through synchronize() as well; a negative target.
    const Tensor negative = cross_entropy(gpu_logits, labels_from_vector({0, 1, 2, 3, -1, 5}).to(device));
#ifdef SLAB_WITH_CUDA  // (gpus() is empty without the backend: this body never runs there)
    CHECK_THROWS_WITH_AS(cuda::synchronize(device.index), doctest::Contains("target -1 at row 4 is outside [0, 10)"),
                         Error);
    CHECK_NOTHROW(cuda::synchronize(device.index));
#endif
    CHECK(std::isnan(negative.item()));  // the loss itself is NaN, never a number read out of bounds
    // Many rows over the block's threads: the lowest bad row is named, whichever thread saw it.
    std::vector<int64_t> many(600);
    for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<int64_t>(i % 10);
    many[517] = -3;
    many[300] = 10;
    many[301] = 11;
    const Tensor wide = cross_entropy(random_input({600, 10}, 126).to(device), labels_from_vector(many).to(device));
    CHECK_THROWS_WITH_AS(wide.to_vector(), doctest::Contains("target 10 at row 300 is outside [0, 10)"), Error);
  }
}

TEST_CASE("the prior's E-step statistics and hard tests reduce on the GPU as on the CPU") {
  for (Device device : gpus()) {
    Tensor conv = random_input({8, 6, 3, 3}, 131, DType::f32, -0.1, 0.1);
    for (int64_t o = 0; o < 8; ++o)
      for (int64_t k = 0; k < 9; ++k) conv.set({o, 4, k / 3, k % 3}, 0.0);  // a pruned input channel
    const Tensor gpu = conv.to(device);
    const PriorLayout layout = PriorLayout::of(conv.shape(), PriorGrouping::ConvKernels);
    const std::vector<double> cpu_squares = group_mean_squares(conv, layout);
    const std::vector<double> gpu_squares = group_mean_squares(gpu, layout);  // reduced on the device
    REQUIRE(gpu_squares.size() == cpu_squares.size());
    for (size_t g = 0; g < cpu_squares.size(); ++g)
      CHECK(gpu_squares[g] == doctest::Approx(cpu_squares[g]).epsilon(1e-5));
    for (HardTest test : {HardTest::Magnitude, HardTest::Range}) {
      const ConvUnitTests a = conv_hard_tests(conv, test, 0.05), b = conv_hard_tests(gpu, test, 0.05);
      CHECK(a.keep_filters == b.keep_filters);
      CHECK(a.keep_input_channels == b.keep_input_channels);
      CHECK(b.keep_input_channels[4] == 0);
    }
  }
}

TEST_CASE("device errors are clear") {
  for (Device device : gpus()) {
    const Tensor a = random_input({3}, 120);
    CHECK_THROWS_WITH_AS(add(a, a.to(device)), doctest::Contains("device mismatch"), Error);
    CHECK_THROWS_WITH_AS(parse_device("cuda:1000"), doctest::Contains("no such GPU"), Error);
    CHECK(parse_device("cuda") == Device::cuda(0));
  }
}

// ---- fused optimizer kernels ----------------------------------------------------------------
// Each CUDA step kernel against the CPU optimizer class: the same parameter, gradient and
// state, two steps (the first creates the state), then weight and state compared.
TEST_CASE("fused SGD and Adam steps match the CPU optimizers") {
  for (Device device : gpus()) {
#ifdef SLAB_WITH_CUDA
    const Tensor start = random_input({37, 11}, 130), gradient = random_input({37, 11}, 131);
    {
      const SgdOptions o{0.1, 0.9, 0.0, 5e-4, true};
      Tensor cpu_weight = start.clone().set_requires_grad(true);
      Sgd sgd({{"w", cpu_weight}}, o);
      const Tensor weight = start.to(device), buffer = Tensor::empty(start.shape(), DType::f32, device);
      for (int step = 0; step < 2; ++step) {
        cpu_weight.set_grad(gradient.clone());
        sgd.step();
        SgdCoefficients<float> k;
        k.learning_rate = static_cast<float>(o.learning_rate);
        k.momentum = static_cast<float>(o.momentum);
        k.one_minus_dampening = static_cast<float>(1.0 - o.dampening);
        k.weight_decay = static_cast<float>(o.weight_decay);
        k.nesterov = o.nesterov;
        k.first_step = step == 0;
        cuda::sgd_step(weight, gradient.to(device), buffer, k);
      }
      check_close(cpu_weight, weight, 1e-6, 1e-7, "SGD (Nesterov, weight decay) weight");
    }
    for (const bool decoupled : {false, true}) {
      const AdamOptions o{1e-2, 0.9, 0.999, 1e-8, 1e-2, true};
      Tensor cpu_weight = start.clone().set_requires_grad(true);
      std::unique_ptr<Adam> adam = decoupled ? std::make_unique<AdamW>(std::vector<NamedParameter>{{"w", cpu_weight}}, o)
                                             : std::make_unique<Adam>(std::vector<NamedParameter>{{"w", cpu_weight}}, o);
      const Tensor weight = start.to(device);
      const Tensor m = zeros(start.shape(), {DType::f32, device}), v = zeros(start.shape(), {DType::f32, device});
      const Tensor v_max = zeros(start.shape(), {DType::f32, device});
      for (int t = 1; t <= 2; ++t) {
        cpu_weight.set_grad(gradient.clone());
        adam->step();
        const double bias1 = 1.0 - std::pow(o.beta1, t), bias2 = 1.0 - std::pow(o.beta2, t);
        AdamCoefficients<float> k;
        k.beta1 = static_cast<float>(o.beta1);
        k.one_minus_beta1 = static_cast<float>(1.0 - o.beta1);
        k.beta2 = static_cast<float>(o.beta2);
        k.one_minus_beta2 = static_cast<float>(1.0 - o.beta2);
        k.eps = static_cast<float>(o.eps);
        k.l2_weight_decay = static_cast<float>(decoupled ? 0.0 : o.weight_decay);
        k.decoupled_decay = static_cast<float>(decoupled ? 1.0 - o.learning_rate * o.weight_decay : 1.0);
        k.step_size = static_cast<float>(o.learning_rate / bias1);
        k.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias2));
        k.amsgrad = o.amsgrad;
        cuda::adam_step(weight, gradient.to(device), m, v, v_max, k);
      }
      check_close(cpu_weight, weight, 1e-5, 1e-6, decoupled ? "AdamW weight" : "Adam weight");
    }
#else
    (void)device;
#endif
  }
}

TEST_CASE("the fused sghmc-spl step matches the CPU sampler, prior and masks included") {
  for (Device device : gpus()) {
#ifdef SLAB_WITH_CUDA
    // A conv weight [out 6, in 4, 3, 3] with per-kernel decays and pruned rows and columns.
    const Tensor start = random_input({6, 4, 3, 3}, 140, DType::f32, -0.3, 0.3);
    Tensor cpu_weight = start.clone().set_requires_grad(true);
    SghmcOptions o;
    o.learning_rate = 0.5;
    o.temperature = 1e-2;
    o.data_size = 50000;
    o.seed = 77;
    o.spike_and_slab = true;
    Sghmc sampler({{"conv.weight", cpu_weight, PriorGrouping::ConvKernels}}, o);
    PriorState& prior = sampler.prior_states()[0];
    for (int64_t g = 0; g < prior.layout.group_count(); ++g)
      prior.group_weight_decay.push_back(g % 3 == 0 ? 0.1f : 5e-4f);
    prior.keep_rows = {1, 1, 0, 1, 1, 1};
    prior.keep_columns = {1, 0, 1, 1};
    const Tensor weight = start.to(device);
    const Tensor momentum = sampler.momentum(0).to(device), rho = sampler.rho(0).to(device);
    for (int step = 0; step < 3; ++step) {
      const Tensor gradient = random_input(start.shape(), 150 + static_cast<uint64_t>(step));
      const uint64_t draw = sampler.current_draw(0);
      sampler.set_learning_rate(0.5 / (step + 1));
      const SghmcCoefficients k = SghmcCoefficients::make(sampler.learning_rate(), o.temperature, o.data_size, o.eta,
                                                          o.beta1, o.beta2);
      cpu_weight.set_grad(gradient);
      sampler.step();
      cuda::sghmc_step(weight, gradient.to(device), momentum, rho, o.seed, Sghmc::noise_stream(0), draw, k, prior);
    }
    // The noise comes from the same Philox words through polynomial log/sqrt/sin/cos that the
    // GPU may contract into fused multiply-adds: the draws agree to a few float ulps.
    check_close(cpu_weight, weight, 1e-5, 1e-6, "sghmc-spl weight");
    check_close(sampler.momentum(0), momentum, 1e-5, 1e-6, "sghmc-spl momentum");
    check_close(sampler.rho(0), rho, 1e-5, 1e-6, "sghmc-spl rho");
    // Pruned rows and columns are exactly zero on the GPU too.
    const std::vector<double> w = weight.to_vector();
    for (int64_t column = 0; column < 4; ++column)
      for (int64_t k = 0; k < 9; ++k) CHECK(w[static_cast<size_t>((2 * 4 + column) * 9 + k)] == 0.0);
    // A changed prior reaches the device (the upload follows the host contents).
    prior.keep_rows = {};
    prior.keep_columns = {1, 1, 1, 0};
    sampler.apply_prior_masks();
    cuda::apply_prior_mask(weight, momentum, prior);
    check_close(cpu_weight, weight, 1e-5, 1e-6, "sghmc-spl weight after a new mask");
    check_close(sampler.momentum(0), momentum, 1e-5, 1e-6, "sghmc-spl momentum after a new mask");
#else
    (void)device;
#endif
  }
}

TEST_CASE("optimizers step CUDA parameters through their fused kernels") {
  for (Device device : gpus()) {
    const Tensor start = random_input({5, 3, 3, 3}, 160, DType::f32, -0.3, 0.3);
    const Tensor cpu_weight = start.clone().set_requires_grad(true);
    const Tensor gpu_weight = start.to(device).set_requires_grad(true);
    SghmcOptions o;
    o.temperature = 1e-2;
    o.data_size = 1000;
    o.seed = 3;
    o.spike_and_slab = true;
    Sghmc cpu_sampler({{"w", cpu_weight, PriorGrouping::ConvKernels}}, o);
    Sghmc gpu_sampler({{"w", gpu_weight, PriorGrouping::ConvKernels}}, o);
    CHECK(gpu_sampler.momentum(0).device() == device);
    SgdOptions sgd_options;
    sgd_options.momentum = 0.9;
    const Tensor cpu_sgd_weight = start.clone().set_requires_grad(true);
    const Tensor gpu_sgd_weight = start.to(device).set_requires_grad(true);
    Sgd cpu_sgd({{"w", cpu_sgd_weight}}, sgd_options), gpu_sgd({{"w", gpu_sgd_weight}}, sgd_options);
    for (int step = 0; step < 2; ++step) {
      const Tensor gradient = random_input(start.shape(), 170 + static_cast<uint64_t>(step));
      cpu_weight.set_grad(gradient.clone());
      gpu_weight.set_grad(gradient.to(device));
      cpu_sampler.step();
      gpu_sampler.step();
      cpu_sgd_weight.set_grad(gradient.clone());
      gpu_sgd_weight.set_grad(gradient.to(device));
      cpu_sgd.step();
      gpu_sgd.step();
    }
    check_close(cpu_weight, gpu_weight, 1e-5, 1e-6, "Sghmc on CUDA parameters");
    check_close(cpu_sampler.rho(0), gpu_sampler.rho(0), 1e-5, 1e-6, "Sghmc rho on CUDA");
    check_close(cpu_sgd_weight, gpu_sgd_weight, 1e-6, 1e-7, "Sgd on CUDA parameters");
  }
}

// ---- the baselines (csghmc, IVON, naive adaptive VB) on CUDA parameters ----------------------------
namespace {

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(std::vector<NamedParameter>)>;

// Parameters of awkward sizes (not multiples of the Philox block's four) on one device.
std::vector<NamedParameter> baseline_parameters(Device device) {
  const std::vector<Shape> shapes = {{37, 11}, {5, 3, 3, 3}, {7}};
  std::vector<NamedParameter> parameters;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Tensor start = random_input(shapes[i], 180 + i, DType::f32, -0.5, 0.5);
    std::string name = "p";
    name += std::to_string(i);  // not "p" + ...: GCC 12 warns falsely there (-Wrestrict)
    parameters.push_back({name, start.to(device).set_requires_grad(true)});
  }
  return parameters;
}

void compare_parameters(const std::vector<NamedParameter>& cpu, const std::vector<NamedParameter>& gpu,
                        const std::string& what) {
  for (size_t i = 0; i < cpu.size(); ++i) check_close(cpu[i].tensor, gpu[i].tensor, 1e-5, 1e-6, what + " " + cpu[i].name);
}

void compare_state(const Optimizer& cpu, const Optimizer& gpu, Device device, const std::string& what) {
  const NamedTensors a = cpu.state_tensors(), b = gpu.state_tensors();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].first == b[i].first);
    CHECK_MESSAGE(b[i].second.device() == device, what, ": ", b[i].first, " is not on the GPU");
    check_close(a[i].second, b[i].second, 1e-5, 1e-6, what + " " + a[i].first);
  }
}

// Four steps of `make`'s optimizer on CPU parameters and on GPU copies, with the same gradients
// and schedule; parameters and every state tensor compared after each step. Then the GPU state
// goes through a host copy (what a checkpoint holds) into a fresh optimizer on each device, and
// the resumed runs take one more step alongside the original.
void compare_baseline(const std::string& name, const MakeOptimizer& make, Device device,
                      const std::function<void(Optimizer&, int)>& before_step) {
  const std::vector<NamedParameter> cpu_parameters = baseline_parameters(Device::cpu());
  const std::vector<NamedParameter> gpu_parameters = baseline_parameters(device);
  std::unique_ptr<Optimizer> cpu = make(cpu_parameters), gpu = make(gpu_parameters);
  compare_parameters(cpu_parameters, gpu_parameters, name + " first sample");
  auto step_with = [&](Optimizer& optimizer, const std::vector<NamedParameter>& parameters, int step) {
    for (size_t i = 0; i < parameters.size(); ++i) {
      const Tensor gradient = random_input(parameters[i].tensor.shape(), 190 + 10 * static_cast<uint64_t>(step) + i);
      parameters[i].tensor.set_grad(gradient.to(parameters[i].tensor.device()));
    }
    before_step(optimizer, step);
    optimizer.step();
  };
  for (int step = 0; step < 4; ++step) {
    step_with(*cpu, cpu_parameters, step);
    step_with(*gpu, gpu_parameters, step);
    compare_parameters(cpu_parameters, gpu_parameters, name + " step " + std::to_string(step) + ":");
    compare_state(*cpu, *gpu, device, name + " step " + std::to_string(step) + ":");
  }
  // Resume from the GPU's state, saved on the host.
  std::map<std::string, Tensor> saved;
  for (const auto& [key, tensor] : gpu->state_tensors()) saved[key] = tensor.to(Device::cpu());
  const Metadata metadata = gpu->state_metadata();
  std::vector<NamedParameter> resumed_gpu_parameters = baseline_parameters(device);
  std::vector<NamedParameter> resumed_cpu_parameters = baseline_parameters(Device::cpu());
  std::unique_ptr<Optimizer> resumed_gpu = make(resumed_gpu_parameters), resumed_cpu = make(resumed_cpu_parameters);
  resumed_gpu->load_state(saved, metadata);
  resumed_cpu->load_state(saved, metadata);
  for (size_t i = 0; i < gpu_parameters.size(); ++i) {  // the checkpoint's model weights
    resumed_gpu_parameters[i].tensor.copy_from(gpu_parameters[i].tensor);
    resumed_cpu_parameters[i].tensor.copy_from(gpu_parameters[i].tensor);
  }
  compare_state(*resumed_cpu, *resumed_gpu, device, name + " loaded state:");
  step_with(*gpu, gpu_parameters, 4);
  step_with(*resumed_gpu, resumed_gpu_parameters, 4);
  step_with(*resumed_cpu, resumed_cpu_parameters, 4);
  for (size_t i = 0; i < gpu_parameters.size(); ++i)  // the same kernel on the same inputs: the same bits
    check_equal(gpu_parameters[i].tensor.to(Device::cpu()), resumed_gpu_parameters[i].tensor,
                name + " resumed on the GPU " + gpu_parameters[i].name);
  compare_parameters(resumed_cpu_parameters, gpu_parameters, name + " resumed on the CPU vs the GPU:");
  compare_state(*resumed_cpu, *gpu, device, name + " resumed state:");
}

}  // namespace

TEST_CASE("csghmc, IVON and the naive adaptive VB step CUDA parameters as on the CPU") {
  for (Device device : gpus()) {
    const auto no_hook = [](Optimizer&, int) {};
    compare_baseline(
        "csghmc",
        [](std::vector<NamedParameter> p) -> std::unique_ptr<Optimizer> {
          CsghmcOptions o;
          o.learning_rate = 0.1;
          o.weight_decay = 5e-3;
          o.temperature = 0.5;  // large, so the injected noise is visible
          o.data_size = 64;
          o.seed = 11;
          return std::make_unique<Csghmc>(std::move(p), o);
        },
        device,
        [](Optimizer& optimizer, int step) {  // a falling schedule; the noise comes on at step 2
          optimizer.set_learning_rate(0.1 / (step + 1));
          static_cast<Csghmc&>(optimizer).set_noise(step >= 2);
        });
    compare_baseline(
        "ivon",
        [](std::vector<NamedParameter> p) -> std::unique_ptr<Optimizer> {
          IvonOptions o;
          o.learning_rate = 0.05;
          o.data_size = 64;
          o.hessian_init = 0.5;
          o.beta2 = 0.99;
          o.weight_decay = 1e-2;
          o.clip_radius = 0.2;  // reached by some weights
          o.seed = 8;
          return std::make_unique<Ivon>(std::move(p), o);
        },
        device, no_hook);
    compare_baseline(
        "vb-adaptive",
        [](std::vector<NamedParameter> p) -> std::unique_ptr<Optimizer> {
          VbAdaptiveOptions o;
          o.learning_rate = 0.05;
          o.beta = 0.8;
          o.gamma = 0.1;
          o.kappa = 2.0;
          o.alpha = 0.75;
          o.weight_decay = 1e-2;
          o.initial_precision = 1e3;
          o.seed = 3;
          return std::make_unique<VbAdaptive>(std::move(p), o);
        },
        device, no_hook);
    // write_mean / write_sample on the device.
    IvonOptions o;
    o.data_size = 64;
    const std::vector<NamedParameter> cpu_parameters = baseline_parameters(Device::cpu());
    const std::vector<NamedParameter> gpu_parameters = baseline_parameters(device);
    Ivon cpu(cpu_parameters, o), gpu(gpu_parameters, o);
    cpu.write_mean();
    gpu.write_mean();
    compare_parameters(cpu_parameters, gpu_parameters, "ivon write_mean");
    cpu.write_sample();
    gpu.write_sample();
    compare_parameters(cpu_parameters, gpu_parameters, "ivon write_sample");
  }
}
