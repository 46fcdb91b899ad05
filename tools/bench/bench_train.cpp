#include "tools/bench/bench_train.h"

#include <omp.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "core/device.h"
#include "core/precision.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/random.h"
#include "models/factory.h"
#include "optim/sgd.h"
#include "tools/bench/bench_main.h"
#include "tools/bench/channel_pruning.h"
#include "tools/bench/device_wait.h"
#include "tools/bench/median.h"
#include "tools/trainer/finite_state.h"

namespace slab::tools {

namespace {

struct TrainBenchmarkOptions {
  std::string model = "resnet20";
  std::string device = "cpu";
  std::string precision = "fp32";  // of convolutions and matrix products (core/precision.h)
  int64_t batch_size = 128;
  int64_t steps = 5;        // timed steps per pass
  int passes = 3;
  int64_t warmup_steps = 2; // untimed steps first (allocator cache, first-touch)
  int64_t image_size = 0;   // 0: 28 for small-cnn and mlp, 224 for the ImageNet forms, else 32
  int64_t classes = 10;
  int threads = 0;
  uint64_t seed = 0;
  bool check_finite = false;  // the trainer's per-step state check in every step, and its cost alone
  double prune_channels = -1;  // >= 0: dense masked against shrunken (tools/bench/channel_pruning.h)
};

// Input shape by model: the datasets each one is built for.
Shape input_shape(const TrainBenchmarkOptions& o) {
  const std::string& m = o.model;
  const bool mnist_like = m == "small-cnn" || m.rfind("mlp-", 0) == 0;
  const bool imagenet = m.find("-imagenet") != std::string::npos;
  const int64_t size = o.image_size > 0 ? o.image_size : (mnist_like ? 28 : (imagenet ? 224 : 32));
  return {o.batch_size, mnist_like ? 1 : 3, size, size};
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

// One network under training: the model and its SGD.
struct Trainee {
  std::shared_ptr<Module> model;
  std::unique_ptr<Sgd> optimizer;
};

Trainee make_trainee(std::shared_ptr<Module> model, const Device& device) {
  model->to(device);  // before the optimizer takes the parameter list
  model->train();
  SgdOptions sgd;
  sgd.learning_rate = 0.01;  // small: random labels must not drive the weights to overflow
  sgd.momentum = 0.9;
  sgd.weight_decay = 5e-4;
  Trainee trainee{model, nullptr};
  trainee.optimizer = std::make_unique<Sgd>(model->named_parameters(), sgd);
  return trainee;
}

// --prune-channels: the dense masked network and its shrunken twin, timed in alternating
// passes (so both see the same load on a shared machine), medians compared.
int run_pruned(const TrainBenchmarkOptions& o, const Device& device, const Shape& shape) {
  SLAB_CHECK(!o.check_finite, "--check-finite and --prune-channels time different things: use one of them");
  const ShrunkenPair pair = make_shrunken_pair(o.model, o.classes, shape, o.seed, o.prune_channels);
  Trainee trainees[2] = {make_trainee(pair.dense, device), make_trainee(pair.shrunk, device)};
  Generator generator(o.seed, 1);
  const Tensor images = randn(shape, generator).to(device);
  std::vector<int64_t> label_values(static_cast<size_t>(o.batch_size));
  for (int64_t& y : label_values) y = static_cast<int64_t>(generator.below(static_cast<uint64_t>(o.classes)));
  const Tensor labels = labels_from_vector(label_values).to(device);
  std::printf("train benchmark: %s with %.0f%% of every prunable channel group pruned, dense masked (%lld "
              "parameters) against shrunken (%lld), on %s, batch %lld, %d threads\n",
              o.model.c_str(), 100 * o.prune_channels, static_cast<long long>(pair.dense->parameter_count()),
              static_cast<long long>(pair.shrunk->parameter_count()), device.str().c_str(),
              static_cast<long long>(o.batch_size), omp_get_max_threads());
  std::printf("step = forward + cross entropy + backward + SGD (momentum 0.9); %lld warm-up steps each, %d "
              "alternating passes of %lld steps\n",
              static_cast<long long>(o.warmup_steps), o.passes, static_cast<long long>(o.steps));
  const Tensor loss_sum = zeros({}, {DType::f32, device, false});
  auto step = [&](Trainee& t) {
    t.optimizer->zero_grad();
    const Tensor loss = cross_entropy((*t.model)(images), labels);
    loss.backward();
    t.optimizer->step();
    add_(loss_sum, loss.detach());
  };
  for (Trainee& t : trainees)
    for (int64_t s = 0; s < o.warmup_steps; ++s) step(t);
  wait_for_device(device);
  std::vector<double> rates[2];
  const char* names[2] = {"dense masked", "shrunken"};
  for (int pass = 1; pass <= o.passes; ++pass)
    for (int which = 0; which < 2; ++which) {
      const auto start = std::chrono::steady_clock::now();
      for (int64_t s = 0; s < o.steps; ++s) step(trainees[which]);
      wait_for_device(device);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      rates[which].push_back(static_cast<double>(o.steps * o.batch_size) / seconds);
      std::printf("pass %d %s: %.1f imgs/s (%.1f ms/step)\n", pass, names[which], rates[which].back(),
                  1000 * seconds / static_cast<double>(o.steps));
      std::fflush(stdout);
    }
  const double mean_loss = loss_sum.item() / static_cast<double>(2 * (o.warmup_steps + o.passes * o.steps));
  SLAB_CHECK(std::isfinite(mean_loss), "the mean training loss is ", mean_loss, ": the benchmark's steps diverged");
  print_shrink_speedup("train", o.model, o.batch_size, o.prune_channels, pair, rates[0], rates[1],
                       0.7, true);
  return 0;
}

int run(const TrainBenchmarkOptions& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
  const Device device = parse_device(o.device);  // a clear error when the build or the machine has no GPU
  set_matmul_precision(parse_precision(o.precision));
  const Shape shape = input_shape(o);
  if (o.prune_channels >= 0) return run_pruned(o, device, shape);
  const Trainee trainee = make_trainee(make_model(o.model, o.classes, shape[1], o.seed), device);
  const std::shared_ptr<Module>& model = trainee.model;
  Sgd& optimizer = *trainee.optimizer;
  Generator generator(o.seed, 1);
  const Tensor images = randn(shape, generator).to(device);
  std::vector<int64_t> label_values(static_cast<size_t>(o.batch_size));
  for (int64_t& y : label_values) y = static_cast<int64_t>(generator.below(static_cast<uint64_t>(o.classes)));
  const Tensor labels = labels_from_vector(label_values).to(device);

  std::printf("train benchmark: %s on %s, batch %lld, input [%lld, %lld, %lld, %lld], %lld parameters, %d threads\n",
              o.model.c_str(), device.str().c_str(), static_cast<long long>(o.batch_size),
              static_cast<long long>(shape[0]), static_cast<long long>(shape[1]), static_cast<long long>(shape[2]),
              static_cast<long long>(shape[3]), static_cast<long long>(model->parameter_count()),
              omp_get_max_threads());
  std::printf("step = forward + cross entropy + backward + SGD (momentum 0.9); %lld warm-up steps, %d passes of %lld "
              "steps\n",
              static_cast<long long>(o.warmup_steps), o.passes, static_cast<long long>(o.steps));
  // The losses are summed where they are computed and read once, after the last clock
  // stopped: reading each step's loss (loss.item()) would make the host wait for the GPU
  // every step, which training does not need. The sum keeps the work observable.
  const Tensor loss_sum = zeros({}, {DType::f32, device, false});
  auto step = [&] {
    optimizer.zero_grad();
    const Tensor loss = cross_entropy((*model)(images), labels);
    loss.backward();
    optimizer.step();
    add_(loss_sum, loss.detach());
    if (o.check_finite)  // kept observable the way the loss is: added on the device, read at the end
      add_(loss_sum, count_non_finite(state_after_step(*model, optimizer), device).to(DType::f32).reshape({}));
  };
  for (int64_t s = 0; s < o.warmup_steps; ++s) step();
  wait_for_device(device);  // the warm-up's kernels (and cuDNN's plan timing) end outside the clock
  std::vector<double> rates;
  for (int pass = 1; pass <= o.passes; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t s = 0; s < o.steps; ++s) step();
    wait_for_device(device);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(static_cast<double>(o.steps * o.batch_size) / seconds);
    std::printf("pass %d: %lld steps in %.3f s = %.1f imgs/s (%.1f ms/step)\n", pass, static_cast<long long>(o.steps),
                seconds, rates.back(), 1000 * seconds / static_cast<double>(o.steps));
    std::fflush(stdout);
  }
  const double mean_loss = loss_sum.item() / static_cast<double>(o.warmup_steps + o.passes * o.steps);
  SLAB_CHECK(std::isfinite(mean_loss), "the mean training loss is ", mean_loss, ": the benchmark's steps diverged");
  const double rate = median(rates);
  std::printf("median: %.1f imgs/s (min %.1f, max %.1f) [mean loss %.4f]\n", rate,
              *std::min_element(rates.begin(), rates.end()), *std::max_element(rates.begin(), rates.end()),
              mean_loss);
  if (o.check_finite) {
    // The check alone, repeated on the state the last step left: its share of a step is
    // too small to see in the images/s of two noisy runs.
    const int repeats = 50;
    std::vector<double> check_ms;
    for (int pass = 0; pass < o.passes; ++pass) {
      const auto start = std::chrono::steady_clock::now();
      double total = 0;  // read each time, as the trainer on the CPU reads every step
      for (int r = 0; r < repeats; ++r) total += count_non_finite(state_after_step(*model, optimizer), device).item();
      SLAB_CHECK(total == 0, "the benchmark's state holds ", total / repeats, " non-finite elements");
      check_ms.push_back(1000 * std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
                         repeats);
    }
    const double step_ms = 1000 * static_cast<double>(o.batch_size) / rate;
    std::printf("finite check: %.3f ms per step over %zu tensors = %.3f%% of the median step (%.1f ms)\n",
                median(check_ms), state_after_step(*model, optimizer).size(), 100 * median(check_ms) / step_ms,
                step_ms);
  }
  std::printf("peak_rss_mib=%.1f\n", peak_rss_mib());
  std::printf("model=%s batch=%lld threads=%d device=%s precision=%s imgs_per_s=%.1f\n", o.model.c_str(),
              static_cast<long long>(o.batch_size), omp_get_max_threads(), device.str().c_str(),
              precision_description(device.is_cuda()).c_str(), rate);
  return 0;
}

}  // namespace

int run_train_benchmark(int argc, char** argv) {
  TrainBenchmarkOptions o;
  CLI::App app("slab-bench train: images/s of training steps (forward, backward, SGD) on random data", "slab-bench train");
  app.add_option("--model", o.model, "architecture: a registered model (listed below)")->capture_default_str();
  app.add_option("--device", o.device, "cpu, cuda or cuda:N (model and batch live there)")->capture_default_str();
  app.add_option("--precision", o.precision, "fp32, or bf16 (convolutions and matrix products)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--batch", o.batch_size, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--steps", o.steps, "timed steps per pass")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--passes", o.passes, "timed passes; the median is reported")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--warmup", o.warmup_steps, "untimed steps first")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--image-size", o.image_size, "input height and width (0: the model's dataset)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--classes", o.classes, "output classes")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", o.threads, "CPU threads (0: OpenMP's default)")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", o.seed, "seed of the weights and the random batch");
  app.add_flag("--check-finite", o.check_finite,
               "count the NaN and infinite weights, gradients and buffers after every step, as the trainers do, and "
               "time that check alone");
  app.add_option("--prune-channels", o.prune_channels,
                 "prune this fraction of every prunable channel group (the first ceil((1 - p) C) channels stay), "
                 "then time the dense masked network against the shrunken one and check S - 1 >= 0.7 (I - 1)")
      ->check(CLI::Range(0.0, 0.99));
  app.footer("Models (--model):\n" + model_help());
  return parse_and_run_bench(app, argc, argv, [&] { return run(o); });
}

}  // namespace slab::tools
