// `slab-bench data`: the loader alone, on CIFAR-10 training images with the training
// augmentation (RandomCrop(32, padding 4), horizontal flip, normalisation).
#pragma once

namespace slab::tools {

// argv[0] is the mode's name; options follow (--help lists them). Prints one line per pass,
// the median images/s over the passes, and a final key=value line. Returns the exit code:
// 0, 1 on an error (printed as "error: ..."), 2 on a usage error.
int run_data_benchmark(int argc, char** argv);

}  // namespace slab::tools
