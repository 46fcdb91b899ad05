// `slab-bench ops`: GFLOP/s of the compute kernels on the shapes the CIFAR ResNets train
// with: a 2048^3 GEMM, every distinct conv layer of ResNet-20 and ResNet-18 (CIFAR forms)
// forward and forward + backward, and batch norm / pooling extras. tools/bench/ops_torch.py
// times the same list with PyTorch and compares the two (docs/performance.md).
#pragma once

namespace slab::tools {

// argv[0] is the mode's name; options follow (--help lists them). Prints a table, then one
// key=value line per measurement. Returns 0, 1 on an error ("error: ..."), 2 on a usage error.
int run_ops_benchmark(int argc, char** argv);

}  // namespace slab::tools
