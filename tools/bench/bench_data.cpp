#include "tools/bench/bench_data.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "data/cifar.h"
#include "data/loader.h"
#include "tools/bench/bench_main.h"
#include "tools/bench/median.h"

namespace slab::tools {
namespace {

struct DataBenchmarkOptions {
  // Relative to the repository root; how to make it: docs/data.md#getting-the-data.
  std::string folder = "../shared/data/cifar10-subset";
  int64_t synthetic = 0;  // > 0: that many random 32x32 images instead of a folder
  int64_t batch_size = 128;
  int workers = 0;
  int passes = 5;
  uint64_t seed = 0;
};

// Random bytes in CIFAR's shape: the loader's cost does not depend on the pixel values.
std::shared_ptr<data::InMemoryDataset> synthetic_cifar(int64_t count, uint64_t seed) {
  std::vector<uint8_t> pixels(static_cast<size_t>(count * data::kCifarImageBytes));
  std::vector<int64_t> labels(static_cast<size_t>(count));
  Generator generator(seed, 7);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(generator.next_u32() >> 24);
  for (int64_t& label : labels) label = static_cast<int64_t>(generator.below(10));
  return std::make_shared<data::InMemoryDataset>("synthetic CIFAR-shaped", data::ImageShape{3, 32, 32}, 10,
                                                 std::move(pixels), std::move(labels));
}

int run(const DataBenchmarkOptions& options) {
  std::shared_ptr<const data::Dataset> dataset = options.synthetic > 0
                                                     ? synthetic_cifar(options.synthetic, options.seed)
                                                     : data::load_cifar10(options.folder, data::Split::train);
  data::LoaderOptions loader_options;
  loader_options.batch_size = options.batch_size;
  loader_options.workers = options.workers;
  loader_options.seed = options.seed;
  data::Loader loader(dataset, data::cifar_train_pipeline(data::cifar10_stats()), loader_options);
  std::printf("data benchmark: %s, %lld images\n", dataset->name().c_str(), static_cast<long long>(dataset->size()));
  std::printf("pipeline: %s\n", loader.pipeline().describe().c_str());
  std::printf("batch size %lld, %s, %d passes (one epoch each, shuffled)\n", static_cast<long long>(options.batch_size),
              options.workers == 0 ? "no worker threads (built on the calling thread)"
                                   : (std::to_string(options.workers) + " worker threads").c_str(),
              options.passes);

  // One untimed epoch first: the allocator's cache and the scratch buffers warm up.
  data::Batch batch;
  double checksum = 0.0;  // keeps the work observable
  loader.start_epoch(0);
  while (loader.next(batch)) checksum += batch.images.data<float>()[0];

  std::vector<double> rates;
  for (int pass = 1; pass <= options.passes; ++pass) {
    int64_t images = 0;
    const auto start = std::chrono::steady_clock::now();
    loader.start_epoch(pass);
    while (loader.next(batch)) {
      images += batch.images.size(0);
      checksum += batch.images.data<float>()[0];
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(static_cast<double>(images) / seconds);
    std::printf("pass %d: %lld images in %.4f s = %.0f images/s\n", pass, static_cast<long long>(images), seconds,
                rates.back());
  }
  std::vector<double> sorted = rates;
  std::sort(sorted.begin(), sorted.end());
  const double median_rate = median(rates);
  std::printf("median: %.0f images/s (min %.0f, max %.0f) [checksum %.3f]\n", median_rate, sorted.front(), sorted.back(),
              checksum);
  std::printf("data_images_per_second=%.0f workers=%d batch_size=%lld passes=%d images=%lld\n", median_rate, options.workers,
              static_cast<long long>(options.batch_size), options.passes, static_cast<long long>(dataset->size()));
  return 0;
}

}  // namespace

int run_data_benchmark(int argc, char** argv) {
  DataBenchmarkOptions options;
  CLI::App app("slab-bench data: images/s of the CIFAR training loader (crop + flip + normalise)");
  app.add_option("--data", options.folder, "CIFAR-10 binary folder (data_batch_*.bin)");
  app.add_option("--synthetic", options.synthetic, "use this many random 32x32 images instead of --data")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch-size", options.batch_size, "examples per batch")->check(CLI::PositiveNumber);
  app.add_option("--workers", options.workers, "loader worker threads (0: the calling thread)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--passes", options.passes, "timed epochs; the median is reported")->check(CLI::Range(1, 1000));
  app.add_option("--seed", options.seed, "shuffling and augmentation seed");
  return parse_and_run_bench(app, argc, argv, [&] { return run(options); });
}

}  // namespace slab::tools
