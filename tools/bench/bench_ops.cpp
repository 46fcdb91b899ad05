#include "tools/bench/bench_ops.h"

#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "core/cpu/conv_paths.h"
#include "core/device.h"
#include "core/error.h"
#include "core/kernels.h"
#include "core/ops.h"
#include "core/precision.h"
#include "core/random.h"
#include "tools/bench/bench_main.h"
#include "tools/bench/conv_shapes.h"
#include "tools/bench/device_wait.h"
#include "tools/bench/median.h"

namespace slab::tools {
namespace {

struct OpsBenchmarkOptions {
  int threads = 0;  // 0: OpenMP's default
  int64_t batch = 64;
  int iterations = 10;
  int warmup = 2;
  int64_t gemm_size = 2048;
  std::string only;  // comma-separated substrings of the measurement names to run (empty: all)
  std::string path = "auto";  // convolution implementation: auto, im2col, blocked, winograd
  bool skip_gemm = false;
  bool cpu_time = false;  // time by the process's CPU time instead of the wall clock
  std::string precision = "fp32";  // of the convolutions and matrix products (core/precision.h)
  std::string device_text = "cpu";
  Device device;  // parsed from device_text by run(); every tensor lives there
};

struct Measurement {
  std::string name;   // e.g. conv.r18.64
  std::string pass;   // forward | train (forward + input and weight gradients)
  std::string shape;  // human-readable
  double flops = 0;   // per call
  double median_ms = 0, min_ms = 0;
};

// Times `body` (warm-up calls first); returns the median and the minimum in milliseconds.
// On a GPU each call ends with a wait for the device, so a time is the kernels' and not
// only their queueing (the warm-up also takes cuDNN's one-time plan search off the clock).
// The process's CPU time in ms: with one thread, the time the kernel ran, whatever else
// shares the cores.
double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

void time_it(const OpsBenchmarkOptions& options, const std::function<void()>& body, Measurement& m) {
  for (int i = 0; i < options.warmup; ++i) body();
  wait_for_device(options.device);
  std::vector<double> ms;
  for (int i = 0; i < options.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = cpu_ms();
    body();
    wait_for_device(options.device);
    ms.push_back(options.cpu_time ? cpu_ms() - cpu_start
                                  : std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  m.median_ms = median(ms);
  m.min_ms = *std::min_element(ms.begin(), ms.end());
}

void report(const Measurement& m) {
  std::printf("%-22s %-8s %-34s %10.3f ms %9.1f GFLOP/s\n", m.name.c_str(), m.pass.c_str(), m.shape.c_str(),
              m.median_ms, m.flops / (m.median_ms * 1e-3) / 1e9);
  std::fflush(stdout);
}

// --only's filter: a comma-separated list of texts, any of which the name contains.
bool selected(const OpsBenchmarkOptions& options, const std::string& name) {
  if (options.only.empty()) return true;
  size_t begin = 0;
  while (begin <= options.only.size()) {
    const size_t end = std::min(options.only.find(',', begin), options.only.size());
    const std::string part = options.only.substr(begin, end - begin);
    if (!part.empty() && name.find(part) != std::string::npos) return true;
    begin = end + 1;
  }
  return false;
}

void bench_gemm(const OpsBenchmarkOptions& options, Generator& generator, std::vector<Measurement>& results) {
  const int64_t n = options.gemm_size;
  const Device device = options.device;
  const Tensor a = randn({n, n}, generator).to(device), b = randn({n, n}, generator).to(device);
  const Tensor c = Tensor::empty({n, n}, DType::f32, device);
  Measurement m{"gemm." + std::to_string(n), "forward", std::to_string(n) + "^3 float32", 2.0 * n * n * n};
  time_it(options, [&] {
    SLAB_KERNEL(c.device(), gemm, DType::f32, false, false, n, n, n, 1.0, a.raw_data(), n, 0, b.raw_data(), n, 0,
                0.0, c.raw_data(), n, 0, 1);
  }, m);
  report(m);
  results.push_back(m);
}

void bench_conv(const OpsBenchmarkOptions& options, const ConvShape& s, Generator& generator,
                std::vector<Measurement>& results) {
  const Tensor x = randn({options.batch, s.c_in, s.size, s.size}, generator).to(options.device);
  const Tensor w = (randn({s.c_out, s.c_in, s.kernel, s.kernel}, generator) * 0.1).to(options.device);
  Conv2dOptions conv;
  conv.stride = {s.stride, s.stride};
  conv.padding = {s.pad, s.pad};
  const int64_t out = (s.size + 2 * s.pad - s.kernel) / s.stride + 1;
  const double macs = static_cast<double>(options.batch) * s.c_out * out * out * s.c_in * s.kernel * s.kernel;
  const Tensor upstream = randn({options.batch, s.c_out, out, out}, generator).to(options.device);
  char shape[96];
  std::snprintf(shape, sizeof shape, "%lldx%lldx%lld^2 k%lld s%lld -> %lld", static_cast<long long>(options.batch),
                static_cast<long long>(s.c_in), static_cast<long long>(s.size), static_cast<long long>(s.kernel),
                static_cast<long long>(s.stride), static_cast<long long>(s.c_out));

  Measurement forward{std::string("conv.") + s.name, "forward", shape, 2 * macs};
  time_it(options, [&] {
    NoGradGuard no_grad;
    conv2d(x, w, Tensor(), conv);
  }, forward);
  report(forward);
  results.push_back(forward);

  // Training step of the layer: forward, then the input and weight gradients.
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  Measurement train{std::string("conv.") + s.name, "train", shape, 6 * macs};
  time_it(options, [&] {
    x.zero_grad();
    w.zero_grad();
    conv2d(x, w, Tensor(), conv).backward(upstream);
  }, train);
  report(train);
  results.push_back(train);
}

// The batch norm alone, followed by a separate ReLU, and fused with it, each under its own
// name (batch_norm., batch_norm+relu., batch_norm_relu. + name) for --only.
void bench_batch_norm(const OpsBenchmarkOptions& options, const char* name, const Shape& shape, Generator& generator,
                      std::vector<Measurement>& results) {
  const char* prefixes[] = {"batch_norm.", "batch_norm+relu.", "batch_norm_relu."};
  if (std::none_of(std::begin(prefixes), std::end(prefixes),
                   [&](const char* prefix) { return selected(options, std::string(prefix) + name); }))
    return;
  const Device device = options.device;
  const Tensor x = randn(shape, generator).to(device), weight = ones({shape[1]}).to(device);
  const Tensor bias = zeros({shape[1]}).to(device), running_mean = zeros({shape[1]}).to(device);
  const Tensor running_var = ones({shape[1]}).to(device), upstream = randn(shape, generator).to(device);
  x.set_requires_grad(true);
  weight.set_requires_grad(true);
  bias.set_requires_grad(true);
  char text[64];
  std::snprintf(text, sizeof text, "%lldx%lldx%lld^2", static_cast<long long>(shape[0]),
                static_cast<long long>(shape[1]), static_cast<long long>(shape[2]));
  // Nominal work, as for the elementwise ops: ~10 flops per element forward + backward.
  using Form = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&);
  const Form forms[] = {
      [](const Tensor& a, const Tensor& w, const Tensor& b, const Tensor& m, const Tensor& v) {
        return batch_norm(a, w, b, m, v, true);
      },
      [](const Tensor& a, const Tensor& w, const Tensor& b, const Tensor& m, const Tensor& v) {
        return relu(batch_norm(a, w, b, m, v, true));
      },
      [](const Tensor& a, const Tensor& w, const Tensor& b, const Tensor& m, const Tensor& v) {
        return batch_norm_relu(a, w, b, m, v, true);
      },
  };
  for (size_t f = 0; f < std::size(forms); ++f) {
    const char* prefix = prefixes[f];
    const Form form = forms[f];
    if (!selected(options, std::string(prefix) + name)) continue;
    Measurement m{std::string(prefix) + name, "train", text, 10.0 * static_cast<double>(x.numel())};
    time_it(options, [&] {
      x.zero_grad();
      weight.zero_grad();
      bias.zero_grad();
      form(x, weight, bias, running_mean, running_var).backward(upstream);
    }, m);
    report(m);
    results.push_back(m);
  }
}

void bench_pool(const OpsBenchmarkOptions& options, Generator& generator, std::vector<Measurement>& results) {
  {
    const Shape shape{options.batch, 64, 32, 32};
    const Tensor x = randn(shape, generator).to(options.device);
    x.set_requires_grad(true);
    Pool2dOptions pool;  // 2x2 stride 2
    const Tensor upstream = randn({shape[0], shape[1], 16, 16}, generator).to(options.device);
    Measurement m{"max_pool2d.64x32", "train", "64x64x32^2 k2 s2", 2.0 * static_cast<double>(x.numel())};
    if (selected(options, m.name)) {
      time_it(options, [&] {
        x.zero_grad();
        max_pool2d(x, pool).backward(upstream);
      }, m);
      report(m);
      results.push_back(m);
    }
  }
  {
    const Shape shape{options.batch, 512, 4, 4};
    const Tensor x = randn(shape, generator).to(options.device);
    x.set_requires_grad(true);
    const Tensor upstream = randn({shape[0], shape[1], 1, 1}, generator).to(options.device);
    Measurement m{"adaptive_avg_pool2d.512x4", "train", "64x512x4^2 -> 1x1", 2.0 * static_cast<double>(x.numel())};
    if (selected(options, m.name)) {
      time_it(options, [&] {
        x.zero_grad();
        adaptive_avg_pool2d(x, {1, 1}).backward(upstream);
      }, m);
      report(m);
      results.push_back(m);
    }
  }
}

int run(OpsBenchmarkOptions& options) {
  options.device = parse_device(options.device_text);  // a clear error without a GPU
  if (options.threads > 0) omp_set_num_threads(options.threads);
  const cpu::conv::Path path = options.path == "im2col"     ? cpu::conv::Path::im2col
                               : options.path == "blocked"  ? cpu::conv::Path::blocked
                               : options.path == "winograd" ? cpu::conv::Path::winograd
                                                            : cpu::conv::Path::automatic;
  cpu::conv::force_path(path);
  set_matmul_precision(parse_precision(options.precision));
  std::printf("matmul precision: %s\n", precision_description().c_str());
  std::printf("ops benchmark on %s: %d threads, batch %lld, %d timed iterations (+%d warm-up) per measurement, "
              "median; convolution path: %s\n",
              options.device.str().c_str(), omp_get_max_threads(), static_cast<long long>(options.batch),
              options.iterations, options.warmup, options.device.is_cuda() ? "cuDNN" : options.path.c_str());
  std::printf("%-22s %-8s %-34s %13s %17s\n", "measurement", "pass", "shape", "median", "rate");
  Generator generator(2024);
  std::vector<Measurement> results;
  if (!options.skip_gemm && selected(options, "gemm")) bench_gemm(options, generator, results);
  for (const ConvShape& s : kConvShapes)
    if (selected(options, std::string("conv.") + s.name)) bench_conv(options, s, generator, results);
  bench_batch_norm(options, "16x32", {options.batch, 16, 32, 32}, generator, results);
  bench_batch_norm(options, "64x32", {options.batch, 64, 32, 32}, generator, results);
  bench_batch_norm(options, "64x8", {options.batch, 64, 8, 8}, generator, results);
  bench_batch_norm(options, "512x4", {options.batch, 512, 4, 4}, generator, results);
  bench_pool(options, generator, results);
  // Machine-readable results, one line per measurement (parsed by tools/bench/ops_torch.py).
  for (const Measurement& m : results)
    std::printf("result framework=slab name=%s pass=%s device=%s threads=%d batch=%lld median_ms=%.4f min_ms=%.4f "
                "gflops=%.2f\n",
                m.name.c_str(), m.pass.c_str(), options.device.str().c_str(), omp_get_max_threads(),
                static_cast<long long>(options.batch), m.median_ms, m.min_ms, m.flops / (m.median_ms * 1e-3) / 1e9);
  return 0;
}

}  // namespace

int run_ops_benchmark(int argc, char** argv) {
  OpsBenchmarkOptions options;
  CLI::App app("slab-bench ops: GFLOP/s of GEMM, conv2d (ResNet-20/18 CIFAR shapes), batch norm and pooling");
  app.add_option("--threads", options.threads, "OpenMP threads (0: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch", options.batch, "batch size of the conv, batch norm and pooling shapes")
      ->check(CLI::PositiveNumber);
  app.add_option("--iterations", options.iterations, "timed calls per measurement (the median is reported)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--warmup", options.warmup, "untimed calls first")->check(CLI::Range(0, 1000));
  app.add_option("--gemm-size", options.gemm_size, "n of the n x n x n GEMM")->check(CLI::PositiveNumber);
  app.add_option("--only", options.only,
                 "run the measurements whose name contains one of these comma-separated texts (e.g. conv.r18,batch_norm)");
  app.add_option("--path", options.path,
                 "convolution implementation: auto (the library's choice), or im2col, blocked, winograd where "
                 "they apply (the next one down elsewhere)")
      ->check(CLI::IsMember({"auto", "im2col", "blocked", "winograd"}));
  app.add_flag("--skip-gemm", options.skip_gemm, "leave out the GEMM measurement");
  app.add_flag("--cpu-time", options.cpu_time,
               "time by the process's CPU time, not the wall clock: with --threads 1 on a shared machine, the time "
               "the kernels ran (a multi-threaded run counts every thread's time, spinning included)");
  app.add_option("--precision", options.precision,
                 "fp32, or bf16 (convolutions and matrix products on the bf16 path, CPU; --path im2col keeps bf16 "
                 "convolutions off the direct AMX kernel)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app.add_option("--device", options.device_text, "cpu, cuda or cuda:N (every tensor lives there; --path is the CPU's)")
      ->capture_default_str();
  return parse_and_run_bench(app, argc, argv, [&] { return run(options); });
}

}  // namespace slab::tools
