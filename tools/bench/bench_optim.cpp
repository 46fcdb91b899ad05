#include "tools/bench/bench_optim.h"

#include <omp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bayes/presets.h"
#include "bayes/spike_slab.h"
#include "core/device.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/random.h"
#include "models/factory.h"
#include "optim/csghmc.h"
#include "optim/ivon.h"
#include "optim/sghmc.h"
#include "optim/vb_adaptive.h"
#include "tools/bench/bench_main.h"
#include "tools/bench/median.h"
#include "tools/bench/device_wait.h"

namespace slab::tools {
namespace {

struct OptimBenchmarkOptions {
  std::string optimizer = "sghmc-spl";
  std::string model = "resnet18";
  std::string device = "cpu";
  int steps = 20, warmup = 3, threads = 2;
  std::string python = "/usr/bin/python3";
  std::string torch_script;  // "" : found next to the sources; "none": skip the twin
  uint64_t seed = 1;
};

constexpr double kDataSize = 50000;  // CIFAR-10's N, for the samplers' scales

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, Module& model,
                                          const std::vector<NamedParameter>& parameters, uint64_t seed,
                                          std::unique_ptr<SpikeSlabPrior>& prior) {
  if (name == "sghmc" || name == "sghmc-spl") {
    const SamplerPreset preset = sampler_preset("slab-cifar");
    SghmcOptions o;
    o.learning_rate = preset.learning_rate;
    o.temperature = 1.0 / kDataSize;
    o.data_size = kDataSize;
    o.weight_decay = preset.prior.lambda1;
    o.seed = seed;
    o.spike_and_slab = name == "sghmc-spl";
    auto optimizer = std::make_unique<Sghmc>(parameters, o);
    if (o.spike_and_slab) {
      SpikeSlabOptions p = preset.prior;
      p.data_size = kDataSize;
      prior = std::make_unique<SpikeSlabPrior>(p, channel_couplings(model));
      prior->attach(*optimizer);
      prior->run(*optimizer);  // group decays and masks in place: the step reads them all
    }
    return optimizer;
  }
  if (name == "csghmc") {
    CsghmcOptions o;
    o.data_size = kDataSize;
    o.seed = seed;
    auto optimizer = std::make_unique<Csghmc>(parameters, o);
    optimizer->set_noise(true);
    return optimizer;
  }
  if (name == "vb-adaptive") {
    VbAdaptiveOptions o;
    o.seed = seed;
    return std::make_unique<VbAdaptive>(parameters, o);
  }
  if (name == "ivon") {
    IvonOptions o;
    o.data_size = kDataSize;
    o.seed = seed;
    return std::make_unique<Ivon>(parameters, o);
  }
  SLAB_FAIL("--optimizer: expected sghmc-spl, sghmc, csghmc, vb-adaptive or ivon, got '", name, "'");
}

// The twin script: --torch-script, else tools/bench/optim_torch.py under the working
// directory or two levels above the executable (build/bin/slab-bench).
std::string find_twin(const std::string& given) {
  if (!given.empty()) return given;
  std::vector<std::filesystem::path> candidates = {"tools/bench/optim_torch.py"};
  std::error_code error;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) candidates.push_back(exe.parent_path().parent_path().parent_path() / "tools/bench/optim_torch.py");
  for (const auto& path : candidates)
    if (std::filesystem::exists(path)) return path.string();
  return "";
}

// Runs the twin on the same shapes; returns its ms_per_step (negative when unavailable).
double run_twin(const OptimBenchmarkOptions& options, const std::vector<NamedParameter>& parameters, Device device) {
  if (options.torch_script == "none") return -1;
  if (!device.is_cpu()) {  // the twin runs on the CPU: no fair comparison for a GPU step
    std::printf("torch twin: skipped on %s (the GPU twin is tools/bench/train_torch_gpu.py --mode sghmc)\n",
                device.str().c_str());
    return -1;
  }
  const std::string script = find_twin(options.torch_script);
  if (script.empty()) {
    std::printf("torch twin: tools/bench/optim_torch.py not found (run from the source root or pass --torch-script)\n");
    return -1;
  }
  const std::string shapes = (std::filesystem::temp_directory_path() /
                              ("slab-bench-optim-" + std::to_string(::getpid()) + ".json"))
                                 .string();
  {
    std::ofstream out(shapes);
    out << "[";
    for (size_t i = 0; i < parameters.size(); ++i) {
      out << (i ? ",\n" : "\n") << "{\"name\": \"" << parameters[i].name << "\", \"grouping\": \""
          << prior_grouping_name(parameters[i].grouping) << "\", \"shape\": [";
      const Shape& s = parameters[i].tensor.shape();
      for (size_t d = 0; d < s.size(); ++d) out << (d ? ", " : "") << s[d];
      out << "]}";
    }
    out << "\n]\n";
  }
  const std::string command = options.python + " " + script + " --shapes " + shapes + " --optimizer " +
                              options.optimizer + " --steps " + std::to_string(options.steps) + " --warmup " +
                              std::to_string(options.warmup) + " --threads " + std::to_string(options.threads) +
                              " 2>&1";
  std::printf("torch twin: %s\n", command.c_str());
  std::fflush(stdout);
  FILE* pipe = ::popen(command.c_str(), "r");
  SLAB_CHECK(pipe != nullptr, "could not run the torch twin: ", command);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) {
    output += buffer;
    std::printf("  | %s", buffer);
  }
  const int status = ::pclose(pipe);
  std::filesystem::remove(shapes);
  const size_t at = output.rfind("torch_ms_per_step=");
  if (status != 0 || at == std::string::npos) {
    std::printf("torch twin: failed (exit status %d)\n", status);
    return -1;
  }
  return std::stod(output.substr(at + std::string("torch_ms_per_step=").size()));
}

int run(const OptimBenchmarkOptions& options) {
  omp_set_num_threads(options.threads);
  const Device device = parse_device(options.device);  // a clear error when the build or the machine has no GPU
  std::shared_ptr<Module> model = make_model(options.model, 10, 3, options.seed);
  model->to(device);  // before the parameter list is taken: moving replaces the tensors
  const std::vector<NamedParameter> parameters = model->named_parameters();
  int64_t count = 0;
  Generator generator(options.seed, 77);
  for (const NamedParameter& p : parameters) {
    count += p.tensor.numel();
    // A fixed gradient per step, drawn on the host so every device steps the same numbers.
    p.tensor.set_grad((randn(p.tensor.shape(), generator) * 1e-2).to(device));
  }
  std::unique_ptr<SpikeSlabPrior> prior;
  std::unique_ptr<Optimizer> optimizer = make_optimizer(options.optimizer, *model, parameters, options.seed, prior);
  std::printf("optim: %s on %s (%lld parameters in %zu tensors), %s, %d threads, %d steps after %d warm-up\n",
              optimizer->name().c_str(), options.model.c_str(), static_cast<long long>(count), parameters.size(),
              device.str().c_str(), options.threads, options.steps, options.warmup);
  for (int i = 0; i < options.warmup; ++i) optimizer->step();
  wait_for_device(device);
  // Each step timed alone: on a GPU the clock stops once the step's kernels have run, not
  // when the host has queued them.
  std::vector<double> times;
  for (int i = 0; i < options.steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    optimizer->step();
    wait_for_device(device);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  const double median_ms = median(times);
  std::sort(times.begin(), times.end());
  const double bytes_per_parameter = static_cast<double>(optimizer->state_bytes()) / static_cast<double>(count);
  std::printf("slab: median %.2f ms per step (min %.2f, max %.2f); state %.3f bytes per parameter\n", median_ms,
              times.front(), times.back(), bytes_per_parameter);
  std::fflush(stdout);
  const double torch_ms = run_twin(options, parameters, device);
  if (torch_ms > 0) {
    std::printf("ms_per_step=%.3f state_bytes_per_param=%.3f torch_ms_per_step=%.3f speedup=%.2f\n", median_ms,
                bytes_per_parameter, torch_ms, torch_ms / median_ms);
  } else {
    std::printf("ms_per_step=%.3f state_bytes_per_param=%.3f\n", median_ms, bytes_per_parameter);
  }
  return 0;
}

}  // namespace

int run_optim_benchmark(int argc, char** argv) {
  OptimBenchmarkOptions options;
  CLI::App app("slab-bench optim: ms per step and state bytes per parameter of an optimizer on a model, "
               "with the PyTorch twin timed in the same run");
  app.add_option("--optimizer", options.optimizer, "sghmc-spl, sghmc, csghmc, vb-adaptive or ivon")
      ->check(CLI::IsMember({"sghmc-spl", "sghmc", "csghmc", "vb-adaptive", "ivon"}));
  app.add_option("--model", options.model, "a make_model name (resnet18: 11,173,962 parameters)");
  app.add_option("--device", options.device, "cpu, cuda or cuda:N (the parameters, gradients and state live there)")
      ->capture_default_str();
  app.add_option("--steps", options.steps, "timed steps (the median is reported)")->check(CLI::Range(1, 100000));
  app.add_option("--warmup", options.warmup, "untimed steps first")->check(CLI::Range(0, 1000));
  app.add_option("--threads", options.threads, "threads for slab (OpenMP) and for the twin (torch)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--python", options.python, "the interpreter with torch (Debian's /usr/bin/python3)");
  app.add_option("--torch-script", options.torch_script, "path of optim_torch.py, or 'none' to skip the twin");
  app.add_option("--seed", options.seed, "initialisation, gradients and noise");
  return parse_and_run_bench(app, argc, argv, [&] { return run(options); });
}

}  // namespace slab::tools
