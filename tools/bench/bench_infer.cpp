#include "tools/bench/bench_infer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/random.h"
#include "core/error.h"
#include "tools/bench/bench_main.h"
#include "tools/bench/channel_pruning.h"
#include "tools/bench/median.h"
#include "tools/export/graph_files.h"
#include "tools/export/graph_runner.h"

namespace slab::tools {

namespace {

// --model M --prune-channels P: the dense masked network against its shrunken twin
// (tools/bench/channel_pruning.h) in evaluation mode, in alternating passes.
int run_pruned(const std::string& model, double fraction, int64_t batch, int passes, int steps, int warmup,
               int64_t image_size) {
  const bool mnist_like = model == "small-cnn" || model.rfind("mlp-", 0) == 0;
  const int64_t size = image_size > 0 ? image_size : (mnist_like ? 28 : 32);
  const Shape shape{batch, mnist_like ? 1 : 3, size, size};
  const ShrunkenPair pair = make_shrunken_pair(model, 10, shape, 0, fraction);
  std::shared_ptr<Module> networks[2] = {pair.dense, pair.shrunk};
  for (const auto& network : networks) network->eval();
  Generator generator(1);
  const Tensor x = rand(shape, generator);
  NoGradGuard no_grad;
  std::printf("infer benchmark: %s with %.0f%% of every prunable channel group pruned, dense masked against "
              "shrunken, batch %lld, %d threads, %d alternating passes of %d forward passes\n",
              model.c_str(), 100 * fraction, static_cast<long long>(batch), omp_get_max_threads(), passes, steps);
  for (const auto& network : networks)
    for (int i = 0; i < warmup; ++i) (void)network->forward(x);
  std::vector<double> rates[2];
  const char* names[2] = {"dense masked", "shrunken"};
  for (int p = 0; p < passes; ++p)
    for (int which = 0; which < 2; ++which) {
      const auto start = std::chrono::steady_clock::now();
      for (int s = 0; s < steps; ++s) (void)networks[which]->forward(x);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      rates[which].push_back(static_cast<double>(batch * steps) / seconds);
      std::printf("pass %d %s: %.1f images/s\n", p + 1, names[which], rates[which].back());
      std::fflush(stdout);
    }
  // The target is set for batches (256); one image at a time is reported only.
  print_shrink_speedup("infer", model, batch, fraction, pair, rates[0], rates[1], 0.8, batch > 1);
  return 0;
}

}  // namespace

int run_infer_benchmark(int argc, char** argv) {
  CLI::App app("slab-bench infer: inference images/s of an exported network (slab-export --format safetensors)",
               "slab-bench infer");
  std::string network, model;
  double prune_channels = 0.5;
  int64_t batch = 256, image_size = 0;
  int passes = 5, steps = 3, warmup = 1, threads = 2;
  auto* network_option = app.add_option("--network", network, "NAME.json written by slab-export");
  auto* model_option = app.add_option("--model", model,
                                      "instead of --network: a registered model, pruned by --prune-channels, timed "
                                      "dense masked against shrunken (S - 1 >= 0.8 (I - 1) is the target)");
  network_option->excludes(model_option);
  app.add_option("--prune-channels", prune_channels,
                 "with --model: the fraction of every prunable channel group pruned (the first ceil((1 - p) C) "
                 "channels stay)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.99));
  app.add_option("--image-size", image_size, "with --model: input height and width (0: the model's dataset)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch", batch, "images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--passes", passes, "timed passes (the median is reported)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "forward passes per timed pass")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed forward passes first")->capture_default_str();
  app.add_option("--threads", threads, "OpenMP threads")->capture_default_str()->check(CLI::PositiveNumber);
  return parse_and_run_bench(app, argc, argv, [&] {
    omp_set_num_threads(threads);
    if (!model.empty()) return run_pruned(model, prune_channels, batch, passes, steps, warmup, image_size);
    SLAB_CHECK(!network.empty(), "slab-bench infer: give --network NAME.json or --model NAME");
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
