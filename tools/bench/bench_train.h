// `slab-bench train --model M --batch B [--device cuda]`: training throughput of a whole
// model on random data: forward, cross entropy, backward and an SGD step (momentum 0.9,
// weight decay 5e-4), as the training programs run them, without a data loader. With
// --device cuda the model and the batch live on the GPU, no step waits for it (the losses
// are summed on the device and read once at the end), and each timed pass ends with a
// device synchronisation. Prints images/s per pass, their median, the peak resident
// memory, and a final `model=... batch=... threads=... device=... imgs_per_s=...` line.
// tools/bench/train_torch.py times the same models in PyTorch; tools/bench/train_compare.sh
// runs both, interleaved (docs/performance.md); tools/bench/train_torch_gpu.py is the GPU
// twin that tools/gpu_check.sh runs.
#pragma once

namespace slab::tools {

// argv[0] is the mode's name; options follow (--help lists them). Returns 0, 1 on an error
// ("error: ..."), 2 on a usage error.
int run_train_benchmark(int argc, char** argv);

}  // namespace slab::tools
