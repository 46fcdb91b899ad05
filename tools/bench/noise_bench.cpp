// Micro-benchmark of the samplers' regenerated noise (optim/sghmc_noise.h) and of the
// fused SGHMC step on one large tensor: the two numbers behind docs/results.md's
// "The sampler step". Not part of the build (the machine it is run on decides the flags):
//
//   g++ -std=c++20 -O3 -march=native -fno-tree-slp-vectorize -Wno-maybe-uninitialized -fopenmp -I.
//       tools/bench/noise_bench.cpp build-conv/libslab.a -lz -o /tmp/noise_bench
//   OMP_NUM_THREADS=2 /tmp/noise_bench [elements] [repeats]
//
// Prints the single-threaded cost of fill_normals per normal (minimum over the repeats: the
// machine is shared, and the minimum is the least disturbed run), the median and minimum
// of Sghmc::step on one tensor of `elements` weights with the OpenMP threads given, and the
// same for slab-bench optim's setting (sghmc-spl on ResNet-18 with the slab-cifar prior's
// decays and masks in place, tools/bench/bench_optim.cpp), in wall and CPU time.
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bayes/presets.h"
#include "bayes/spike_slab.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/channel_graph.h"
#include "models/factory.h"
#include "optim/sghmc.h"
#include "optim/sghmc_noise.h"

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the whole process (all threads): on a shared machine it leaves out the time
// the threads spent descheduled (run with OMP_WAIT_POLICY=passive so waiting is not counted).
double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

// Times `repeats` steps; prints the wall and CPU-time (all threads) median and minimum.
void time_steps(slab::Sghmc& optimizer, int repeats, const std::string& label) {
  std::vector<double> times, cpu;
  for (int r = 0; r < repeats; ++r) {
    const double start = now_ms(), start_cpu = cpu_ms();
    optimizer.step();
    times.push_back(now_ms() - start);
    cpu.push_back(cpu_ms() - start_cpu);
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf("%s (%d threads, %d steps): wall median %.3f ms, min %.3f; CPU time (all threads) median %.3f ms, "
              "min %.3f\n",
              label.c_str(), omp_get_max_threads(), repeats, times[times.size() / 2], times.front(),
              cpu[cpu.size() / 2], cpu.front());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace slab;
  const int64_t elements = argc > 1 ? std::atoll(argv[1]) : 11173962;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 15;

  // fill_normals in the sampler's chunks of 256, one thread.
  {
    constexpr int64_t kChunk = 256, kCount = 1 << 20;
    std::vector<float> out(kChunk);
    double best = 1e30, checksum = 0;
    for (int r = 0; r < repeats; ++r) {
      const double start = now_ms();
      for (int64_t first = 0; first < kCount; first += kChunk) {
        noise::fill_normals(7, 3, static_cast<uint64_t>(r), kCount, static_cast<uint64_t>(first), kChunk, out.data());
        checksum += out[static_cast<size_t>(first / kChunk % kChunk)];
      }
      best = std::min(best, now_ms() - start);
    }
    std::printf("fill_normals: %.3f ns per normal (1 thread, min of %d; checksum %.3f)\n", best * 1e6 / kCount,
                repeats, checksum);
  }

  // The fused step on one tensor.
  {
    Generator weights(1, 2), gradients(1, 3);
    Tensor w = randn({elements}, weights) * 0.1;
    w.set_grad(randn({elements}, gradients) * 0.01);
    SghmcOptions o;
    o.learning_rate = 0.01;
    o.temperature = 1.0 / 50000;
    o.data_size = 50000;
    o.seed = 5;
    Sghmc optimizer({{"w", w, PriorGrouping::None}}, o);
    for (int i = 0; i < 2; ++i) optimizer.step();
    time_steps(optimizer, repeats, "Sghmc::step, one tensor of " + std::to_string(elements));
  }

  // slab-bench optim --optimizer sghmc-spl --model resnet18, the step only.
  {
    std::shared_ptr<Module> model = make_model("resnet18", 10, 3, 1);
    const std::vector<NamedParameter> parameters = model->named_parameters();
    Generator generator(1, 77);
    for (const NamedParameter& p : parameters) p.tensor.set_grad(randn(p.tensor.shape(), generator) * 1e-2);
    const SamplerPreset preset = sampler_preset("slab-cifar");
    SghmcOptions o;
    o.learning_rate = preset.learning_rate;
    o.temperature = 1.0 / 50000;
    o.data_size = 50000;
    o.weight_decay = preset.prior.lambda1;
    o.seed = 1;
    o.spike_and_slab = true;
    Sghmc optimizer(parameters, o);
    SpikeSlabOptions p = preset.prior;
    p.data_size = 50000;
    SpikeSlabPrior prior(p, channel_couplings(*model));
    prior.attach(optimizer);
    prior.run(optimizer);
    for (int i = 0; i < 3; ++i) optimizer.step();
    time_steps(optimizer, repeats, "sghmc-spl on resnet18");
  }
  return 0;
}
