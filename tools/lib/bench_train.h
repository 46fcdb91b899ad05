// `slab-bench train --model M --batch B`: training throughput of a whole model on random
// data: forward, cross entropy, backward and an SGD step (momentum 0.9, weight decay 5e-4),
// as the training programs run them, without a data loader. Prints images/s per pass, their
// median, the peak resident memory, and a final `imgs_per_s=...` line.
// tools/bench/train_torch.py times the same models in PyTorch; tools/bench/train_compare.sh
// runs both, interleaved (docs/performance.md).
#pragma once

namespace slab::tools {

// argv[0] is the mode's name; options follow (--help lists them). Returns 0, 1 on an error
// ("error: ..."), 2 on a usage error.
int run_train_benchmark(int argc, char** argv);

}  // namespace slab::tools
