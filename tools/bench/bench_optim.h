// `slab-bench optim`: milliseconds per optimizer step on a real model's parameter list
// (default: the sampler sghmc-spl on ResNet-18, CIFAR form, 11,173,962 parameters) and the
// optimizer's state in bytes per parameter, with the PyTorch twin
// (tools/bench/optim_torch.py: docs/algorithm.md#sghmc-spl-step one tensor op per line, the way the
// authors write it) timed in the same run on the same shapes and threads.
// The last line is `ms_per_step=... state_bytes_per_param=... torch_ms_per_step=... speedup=...`
// (without the torch fields when the twin does not run: `--torch-script none`, or a GPU).
// `--device cuda` keeps the parameters, gradients and state on the GPU, each timed step
// ending with a device synchronisation; the CPU twin is skipped there
// (tools/bench/train_torch_gpu.py --mode sghmc is the GPU twin).
#pragma once

namespace slab::tools {

// argv[0] is the mode's name. Returns 0, 1 on an error ("error: ..."), 2 on a usage error.
int run_optim_benchmark(int argc, char** argv);

}  // namespace slab::tools
