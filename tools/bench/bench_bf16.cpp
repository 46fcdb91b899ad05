#include "tools/bench/bench_bf16.h"

#include <omp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/cpu/gemm_bf16.h"
#include "core/cpu/matrix_units.h"
#include "core/kernels.h"
#include "tools/bench/bench_main.h"
#include "tools/bench/conv_shapes.h"
#include "tools/bench/median.h"

namespace slab::tools {
namespace {

struct Bf16BenchmarkOptions {
  int threads = 0;
  int64_t batch = 64;
  int iterations = 10;
  int warmup = 2;
  std::string only;  // a substring of the layer names to run (empty: all)
};

double median_ms(const Bf16BenchmarkOptions& o, const std::function<void()>& body) {
  for (int i = 0; i < o.warmup; ++i) body();
  std::vector<double> ms;
  for (int i = 0; i < o.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    body();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return median(ms);
}

// The core clock: a chain of dependent integer additions runs one per cycle.
double measure_clock_ghz() {
  constexpr int64_t kAdds = 400'000'000;
  std::vector<double> ghz;
  for (int round = 0; round < 3; ++round) {
    uint64_t x = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < kAdds; ++i) __asm__ volatile("add $1, %0" : "+r"(x));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ghz.push_back(static_cast<double>(kAdds) / s / 1e9);
  }
  return median(ghz);
}

std::vector<float> random_matrix(int64_t count, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(count));
  for (float& v : x) v = normal(rng);
  return x;
}

void bench_layer(const Bf16BenchmarkOptions& o, const ConvShape& s, double peak_gflops) {
  const int64_t out = (s.size + 2 * s.pad - s.kernel) / s.stride + 1;
  const int64_t m = o.batch * out * out, n = s.c_out, k = s.c_in * s.kernel * s.kernel;
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  std::mt19937 rng(1);
  const std::vector<float> a = random_matrix(m * k, rng), b = random_matrix(k * n, rng);
  std::vector<float> c(static_cast<size_t>(m * n));
  const double fp32_ms = median_ms(o, [&] {
    cpu::gemm(DType::f32, false, false, m, n, k, 1.0, a.data(), k, 0, b.data(), n, 0, 0.0, c.data(), n, 0, 1);
  });
  std::printf("%-16s m=%-6lld n=%-4lld k=%-5lld fp32 %7.1f", s.name, static_cast<long long>(m),
              static_cast<long long>(n), static_cast<long long>(k), flops / fp32_ms / 1e6);
  cpu::PackedBf16 pa, pb;
  const double pack_ms = median_ms(o, [&] {
    cpu::pack_bf16_a(false, m, k, a.data(), k, pa);
    cpu::pack_bf16_b(false, k, n, b.data(), n, pb);
  });
  for (cpu::Bf16Path path : cpu::kBf16Paths) {
    if (!cpu::cpu_supports(path)) continue;
    cpu::force_bf16_path(path);
    // The float32 link has no packed tiles: it is timed with its rounding, as it runs.
    const double ms =
        cpu::multiplies_packed_tiles(path)
            ? median_ms(o, [&] { cpu::gemm_bf16_packed(pa, pb, c.data(), n, false); })
            : median_ms(o, [&] { cpu::gemm_bf16(false, false, m, n, k, a.data(), k, b.data(), n, c.data(), n, false); });
    std::printf(" | %s %7.1f", cpu::bf16_path_name(path), flops / ms / 1e6);
    if (path == cpu::Bf16Path::amx) std::printf(" (%4.1f%% of peak)", 100.0 * flops / ms / 1e6 / peak_gflops);
  }
  std::printf(" | packing A and B %.2f ms\n", pack_ms);
  std::fflush(stdout);
}

int run(const Bf16BenchmarkOptions& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
  const int threads = omp_get_max_threads();
  const double ghz = measure_clock_ghz();
  const double peak = 1024.0 * ghz * threads;  // GFLOP/s: 1,024 flops per cycle per core
  std::printf("bf16 path %s; clock %.2f GHz (dependent adds), %d threads: AMX peak %.0f GFLOP/s\n",
              cpu::bf16_path_name(cpu::bf16_path()), ghz, threads, peak);
  std::printf("GFLOP/s of the forward GEMM of each conv layer, batch %lld (packed bf16 times exclude packing; float32 includes its rounding):\n",
              static_cast<long long>(o.batch));
  const cpu::Bf16Path chosen = cpu::bf16_path();
  for (const ConvShape& s : kConvShapes)
    if (o.only.empty() || std::string(s.name).find(o.only) != std::string::npos) bench_layer(o, s, peak);
  cpu::force_bf16_path(chosen);
  return 0;
}

}  // namespace

int run_bf16_benchmark(int argc, char** argv) {
  CLI::App app{"slab-bench bf16: GFLOP/s of the bf16 matrix products on each path, with float32 alongside",
               "slab-bench bf16"};
  Bf16BenchmarkOptions o;
  app.add_option("--threads", o.threads, "OpenMP threads (0: OpenMP's default)")->check(CLI::Range(0, 256));
  app.add_option("--batch", o.batch, "images per conv layer GEMM")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--iterations", o.iterations, "timed calls (the median is reported)")->check(CLI::Range(1, 10000));
  app.add_option("--warmup", o.warmup, "untimed calls first")->check(CLI::Range(0, 1000));
  app.add_option("--only", o.only, "run only the layers whose name contains this text");
  return parse_and_run_bench(app, argc, argv, [&] { return run(o); });
}

}  // namespace slab::tools
