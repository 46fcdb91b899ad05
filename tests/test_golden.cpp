// slab's ops against PyTorch: tests/golden/ops/*.safetensors, written by
// tests/golden/make_golden.py (see tests/golden/README.md). Inputs are float32 in the
// files; the references are PyTorch's float64 results from those same inputs. Every case
// runs on the CPU in float32 and float64, and on the GPU in float32 when one is present:
//   float32: max |slab - reference| <= 1e-5 * max(1, max |reference|)  (per tensor);
//   float64: the same with 1e-12, which only agreeing formulas can meet.
// Each tolerance is relative to the tensor's scale because float32 rounding error grows
// with the magnitudes summed (a convolution sums up to 72 products here). Measured worst
// cases: 2e-7 (float32) and 7e-16 (float64) of the scale, so both bounds leave a wide
// margin for other summation orders (blocked kernels, cuDNN) without hiding a wrong formula.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/safetensors.h"

using namespace slab;

namespace {

constexpr double kFloat32Tolerance = 1e-5;
constexpr double kFloat64Tolerance = 1e-12;

double tolerance_for(DType dtype) { return dtype == DType::f32 ? kFloat32Tolerance : kFloat64Tolerance; }

// One configuration the cases run in.
struct Run {
  Device device;
  DType dtype;
  std::string str() const { return device.str() + " " + dtype_name(dtype); }
};

// One golden file: its tensors and the settings in its metadata.
class Golden {
 public:
  explicit Golden(const std::string& name)
      : path_(std::string(SLAB_SOURCE_DIR) + "/tests/golden/ops/" + name + ".safetensors"),
        contents_(load_safetensors(path_)) {}

  // A stored tensor converted to the run's dtype and device, as a fresh tensor (a leaf
  // when requires_grad).
  Tensor input(const std::string& key, const Run& run, bool requires_grad = false) const;
  // Class labels (int64) on the run's device.
  Tensor labels(const std::string& key, const Run& run) const;
  const Tensor& stored(const std::string& key) const { return contents_.at(key); }
  bool has(const std::string& key) const { return contents_.tensors.count(key) != 0; }

  std::string setting(const std::string& key) const {
    auto it = contents_.metadata.find(key);
    REQUIRE_MESSAGE(it != contents_.metadata.end(), path_, " has no setting ", key);
    return it->second;
  }
  std::vector<std::string> words(const std::string& key) const {
    std::istringstream in(setting(key));
    std::vector<std::string> result;
    for (std::string word; in >> word;) result.push_back(word);
    return result;
  }
  std::vector<int64_t> integers(const std::string& key) const {
    std::vector<int64_t> result;
    for (const std::string& word : words(key)) result.push_back(std::stoll(word));
    return result;
  }
  std::array<int64_t, 2> pair(const std::string& key) const {
    const std::vector<int64_t> v = integers(key);
    REQUIRE(v.size() == 2);
    return {v[0], v[1]};
  }
  double number(const std::string& key) const { return std::stod(setting(key)); }

 private:
  std::string path_;
  SafetensorsContents contents_;
};

Tensor Golden::input(const std::string& key, const Run& run, bool requires_grad) const {
  Tensor t = contents_.at(key).to(run.dtype).to(run.device).clone();
  if (requires_grad) t.set_requires_grad();
  return t;
}

Tensor Golden::labels(const std::string& key, const Run& run) const { return contents_.at(key).to(run.device); }

// CPU float32 and float64; CUDA float32 when a GPU is present (float64 is a CPU dtype).
std::vector<Run> runs() {
  std::vector<Run> result = {{Device::cpu(), DType::f32}, {Device::cpu(), DType::f64}};
  static bool told = false;
  if (cuda_available()) result.push_back({Device::cuda(), DType::f32});
  else if (!told) MESSAGE("CUDA cases skipped: no GPU");
  told = true;
  return result;
}

// max |actual - reference| <= tolerance * max(1, max |reference|).
void compare(const Tensor& actual, const Tensor& reference, const Run& run, const std::string& what) {
  const DType dtype = run.dtype;
  INFO(what, " (", run.str(), ")");
  REQUIRE(actual.device() == run.device);
  REQUIRE(actual.defined());
  REQUIRE(actual.shape() == reference.shape());
  const std::vector<double> a = actual.to_vector(), r = reference.to_vector();
  double max_error = 0, scale = 1;
  size_t worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double error = std::abs(a[i] - r[i]);
    if (!(error <= max_error)) {  // also catches NaN
      max_error = error;
      worst = i;
    }
    scale = std::max(scale, std::abs(r[i]));
  }
  INFO("max abs error ", max_error, " at element ", worst, " (slab ", a.empty() ? 0 : a[worst], ", PyTorch ",
       r.empty() ? 0 : r[worst], "), scale ", scale);
  CHECK(max_error <= tolerance_for(dtype) * scale);
}

}  // namespace

TEST_CASE("conv2d matches PyTorch: stride, padding, dilation, groups, bias") {
  const Golden golden("conv2d");
  for (const Run& run : runs()) {
    for (const std::string& name : golden.words("cases")) {
      CAPTURE(name);
      Conv2dOptions options;
      options.stride = golden.pair(name + ".stride");
      options.padding = golden.pair(name + ".padding");
      options.dilation = golden.pair(name + ".dilation");
      options.groups = golden.integers(name + ".groups").at(0);
      const bool has_bias = golden.integers(name + ".bias").at(0) == 1;
      Tensor x = golden.input(name + ".x", run, true);
      Tensor weight = golden.input(name + ".weight", run, true);
      Tensor bias = has_bias ? golden.input(name + ".bias", run, true) : Tensor();
      Tensor out = conv2d(x, weight, bias, options);
      compare(out, golden.stored(name + ".out"), run, name + ".out");
      out.backward(golden.input(name + ".grad_out", run));
      compare(x.grad(), golden.stored(name + ".grad_x"), run, name + ".grad_x");
      compare(weight.grad(), golden.stored(name + ".grad_weight"), run, name + ".grad_weight");
      if (has_bias) compare(bias.grad(), golden.stored(name + ".grad_bias"), run, name + ".grad_bias");
    }
  }
}

TEST_CASE("batch_norm matches PyTorch: training (with the running-statistics update) and evaluation") {
  const Golden golden("batch_norm");
  for (const Run& run : runs()) {
    for (const std::string& name : golden.words("cases")) {
      CAPTURE(name);
      const bool training = golden.integers(name + ".training").at(0) == 1;
      const bool affine = golden.integers(name + ".affine").at(0) == 1;
      Tensor x = golden.input(name + ".x", run, true);
      Tensor weight = affine ? golden.input(name + ".weight", run, true) : Tensor();
      Tensor bias = affine ? golden.input(name + ".bias", run, true) : Tensor();
      Tensor running_mean = golden.input(name + ".running_mean", run);
      Tensor running_var = golden.input(name + ".running_var", run);
      Tensor out = batch_norm(x, weight, bias, running_mean, running_var, training, golden.number(name + ".momentum"),
                              golden.number(name + ".eps"));
      compare(out, golden.stored(name + ".out"), run, name + ".out");
      compare(running_mean, golden.stored(name + ".running_mean_after"), run, name + ".running_mean_after");
      compare(running_var, golden.stored(name + ".running_var_after"), run, name + ".running_var_after");
      out.backward(golden.input(name + ".grad_out", run));
      compare(x.grad(), golden.stored(name + ".grad_x"), run, name + ".grad_x");
      if (affine) {
        compare(weight.grad(), golden.stored(name + ".grad_weight"), run, name + ".grad_weight");
        compare(bias.grad(), golden.stored(name + ".grad_bias"), run, name + ".grad_bias");
      }
    }
  }
}

TEST_CASE("max_pool2d, avg_pool2d and adaptive_avg_pool2d match PyTorch") {
  const Golden golden("pooling");
  for (const Run& run : runs()) {
    for (const std::string& name : golden.words("cases")) {
      CAPTURE(name);
      const std::string kind = golden.setting(name + ".kind");
      Tensor x = golden.input(name + ".x", run, true);
      Tensor out;
      if (kind == "adaptive") {
        out = adaptive_avg_pool2d(x, golden.pair(name + ".output_size"));
      } else {
        Pool2dOptions options;
        options.kernel = golden.pair(name + ".kernel");
        options.stride = golden.pair(name + ".stride");
        options.padding = golden.pair(name + ".padding");
        out = kind == "max" ? max_pool2d(x, options) : avg_pool2d(x, options);
      }
      compare(out, golden.stored(name + ".out"), run, name + ".out");
      out.backward(golden.input(name + ".grad_out", run));
      compare(x.grad(), golden.stored(name + ".grad_x"), run, name + ".grad_x");
    }
  }
}

TEST_CASE("linear matches PyTorch") {
  const Golden golden("linear");
  for (const Run& run : runs()) {
    for (const std::string& name : golden.words("cases")) {
      CAPTURE(name);
      const bool has_bias = golden.integers(name + ".bias").at(0) == 1;
      Tensor x = golden.input(name + ".x", run, true);
      Tensor weight = golden.input(name + ".weight", run, true);
      Tensor bias = has_bias ? golden.input(name + ".bias", run, true) : Tensor();
      Tensor out = linear(x, weight, bias);
      compare(out, golden.stored(name + ".out"), run, name + ".out");
      out.backward(golden.input(name + ".grad_out", run));
      compare(x.grad(), golden.stored(name + ".grad_x"), run, name + ".grad_x");
      compare(weight.grad(), golden.stored(name + ".grad_weight"), run, name + ".grad_weight");
      if (has_bias) compare(bias.grad(), golden.stored(name + ".grad_bias"), run, name + ".grad_bias");
    }
  }
}

TEST_CASE("log_softmax and cross_entropy match PyTorch") {
  const Golden golden("softmax_cross_entropy");
  for (const Run& run : runs()) {
    for (const std::string& name : golden.words("log_softmax_cases")) {
      CAPTURE(name);
      Tensor x = golden.input(name + ".x", run, true);
      Tensor out = log_softmax(x, golden.integers(name + ".dim").at(0));
      compare(out, golden.stored(name + ".out"), run, name + ".out");
      out.backward(golden.input(name + ".grad_out", run));
      compare(x.grad(), golden.stored(name + ".grad_x"), run, name + ".grad_x");
    }
    for (const std::string& name : golden.words("cross_entropy_cases")) {
      CAPTURE(name);
      Tensor logits = golden.input(name + ".logits", run, true);
      Tensor loss = cross_entropy(logits, golden.labels(name + ".targets", run));
      compare(loss, golden.stored(name + ".out"), run, name + ".out");
      loss.backward(golden.input(name + ".grad_out", run));
      compare(logits.grad(), golden.stored(name + ".grad_logits"), run, name + ".grad_logits");
    }
  }
}

TEST_CASE("a small conv net, forward and backward, matches PyTorch") {
  // conv(3->8, 3x3, pad 1, bias) - bn - relu - maxpool 2 - conv(8->16, 3x3, pad 1) - bn -
  // relu - adaptive avg pool 1x1 - flatten - linear(16->10) - cross-entropy; bn training.
  const Golden golden("small_convnet");
  const std::vector<std::string> parameter_names = {"conv1.weight", "conv1.bias", "bn1.weight",
                                                    "bn1.bias",     "conv2.weight", "bn2.weight",
                                                    "bn2.bias",     "linear.weight", "linear.bias"};
  const std::vector<std::string> statistic_names = {"bn1.running_mean", "bn1.running_var", "bn2.running_mean",
                                                    "bn2.running_var"};
  for (const Run& run : runs()) {
    Tensor x = golden.input("x", run, true);
    std::map<std::string, Tensor> p, stats;
    for (const std::string& name : parameter_names) p[name] = golden.input(name, run, true);
    for (const std::string& name : statistic_names) stats[name] = golden.input(name, run);

    Conv2dOptions same;
    same.padding = {1, 1};
    Tensor h = conv2d(x, p["conv1.weight"], p["conv1.bias"], same);
    h = batch_norm(h, p["bn1.weight"], p["bn1.bias"], stats["bn1.running_mean"], stats["bn1.running_var"], true, 0.1,
                   1e-5);
    h = max_pool2d(relu(h), Pool2dOptions{});
    h = conv2d(h, p["conv2.weight"], Tensor(), same);
    h = batch_norm(h, p["bn2.weight"], p["bn2.bias"], stats["bn2.running_mean"], stats["bn2.running_var"], true, 0.1,
                   1e-5);
    h = adaptive_avg_pool2d(relu(h), {1, 1});
    Tensor logits = linear(flatten(h, 1), p["linear.weight"], p["linear.bias"]);
    Tensor loss = cross_entropy(logits, golden.labels("targets", run));
    loss.backward();

    compare(logits, golden.stored("logits"), run, "logits");
    compare(loss, golden.stored("loss"), run, "loss");
    compare(x.grad(), golden.stored("grad.x"), run, "grad.x");
    for (const std::string& name : parameter_names)
      compare(p[name].grad(), golden.stored("grad." + name), run, "grad." + name);
    for (const std::string& name : statistic_names)
      compare(stats[name], golden.stored(name + "_after"), run, name + "_after");
  }
}

TEST_CASE("the golden files are the small ones the script writes") {
  // Every case listed in a file's metadata has its tensors (a truncated regeneration
  // would otherwise silently test less).
  const Golden conv("conv2d");
  CHECK(conv.words("cases").size() == 7);
  for (const std::string& name : conv.words("cases")) {
    CHECK(conv.has(name + ".out"));
    CHECK(conv.has(name + ".grad_x"));
  }
  CHECK(Golden("batch_norm").words("cases").size() == 5);
  CHECK(Golden("pooling").words("cases").size() == 10);
  CHECK(Golden("linear").words("cases").size() == 3);
}
