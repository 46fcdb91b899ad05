// slab-bench MODE [options]: the benchmark programs in one binary. Each mode lives in
// tools/bench/bench_<mode>.cpp behind `int run_<mode>_benchmark(int argc, char** argv)` (argv[0]
// is the mode's name) and is listed once in kModes below. The backend line comes first so
// every log says what it measured.
#include <cstdio>
#include <cstring>
#include <string>

#include "core/backend.h"
#include "tools/bench/bench_bf16.h"
#include "tools/bench/bench_data.h"
#include "tools/bench/bench_infer.h"
#include "tools/bench/bench_ops.h"
#include "tools/bench/bench_optim.h"
#include "tools/bench/bench_train.h"

namespace {

struct Mode {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

// One line per mode.
constexpr Mode kModes[] = {
    {"ops", "GEMM, convolution (ResNet-20/18 shapes), batch norm and pooling GFLOP/s", slab::tools::run_ops_benchmark},
    {"data", "images/s of the CIFAR training loader", slab::tools::run_data_benchmark},
    {"infer", "inference images/s of a network slab-export wrote (--network NAME.json --batch B)",
     slab::tools::run_infer_benchmark},
    {"train", "training images/s of a model on random data (--model M --batch B)", slab::tools::run_train_benchmark},
    {"optim", "ms per optimizer step and state bytes per parameter (--optimizer O --model M)",
     slab::tools::run_optim_benchmark},
    {"bf16", "bf16 matrix-product GFLOP/s on each path (AMX, AVX512-BF16, AVX-512F) and float32",
     slab::tools::run_bf16_benchmark},
};

void print_usage() {
  std::printf("usage: slab-bench MODE [options]   (slab-bench MODE --help for the options)\nmodes:\n");
  for (const Mode& mode : kModes) std::printf("  %-8s %s\n", mode.name, mode.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  for (const Mode& mode : kModes) {
    if (std::strcmp(argv[1], mode.name) != 0) continue;
    std::printf("backend: %s\n", slab::backend_description().c_str());
    std::fflush(stdout);
    return mode.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "error: unknown mode '%s'\n", argv[1]);
  print_usage();
  return 2;
}
