#include "tools/bench/bench_infer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "core/autograd.h"
#include "core/random.h"
#include "tools/bench/bench_main.h"
#include "tools/export/graph_files.h"
#include "tools/export/graph_runner.h"

namespace slab::tools {

int run_infer_benchmark(int argc, char** argv) {
  CLI::App app("slab-bench infer: inference images/s of an exported network (slab-export --format safetensors)",
               "slab-bench infer");
  std::string network;
  int64_t batch = 256;
  int passes = 5, steps = 3, warmup = 1, threads = 2;
  app.add_option("--network", network, "NAME.json written by slab-export")->required();
  app.add_option("--batch", batch, "images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--passes", passes, "timed passes (the median is reported)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "forward passes per timed pass")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed forward passes first")->capture_default_str();
  app.add_option("--threads", threads, "OpenMP threads")->capture_default_str()->check(CLI::PositiveNumber);
  return parse_and_run_bench(app, argc, argv, [&] {
    omp_set_num_threads(threads);
    const LoadedNetwork loaded = load_network(network);
    Shape shape = loaded.graph.input_shape;
    shape[0] = batch;
    Generator generator(1);
    const Tensor x = rand(shape, generator);
    NoGradGuard no_grad;
    for (int i = 0; i < warmup; ++i) (void)run_graph(loaded.graph, x);
    std::vector<double> rates;
    for (int p = 0; p < passes; ++p) {
      const auto start = std::chrono::steady_clock::now();
      for (int s = 0; s < steps; ++s) (void)run_graph(loaded.graph, x);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      rates.push_back(static_cast<double>(batch * steps) / seconds);
      std::printf("pass %d: %.1f images/s\n", p + 1, rates.back());
    }
    std::sort(rates.begin(), rates.end());
    std::printf("network=%s batch=%lld threads=%d imgs_per_s=%.1f\n", network.c_str(), static_cast<long long>(batch),
                threads, rates[rates.size() / 2]);
    return 0;
  });
}

}  // namespace slab::tools
