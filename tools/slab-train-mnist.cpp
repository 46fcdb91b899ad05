// slab-train-mnist: trains on Fashion-MNIST (or MNIST: --dataset mnist) in the IDX format.
// With no flags: the small CNN, 2 epochs of SGD on /usr/share/datasets/fashion-mnist (Debian's
// dataset-fashion-mnist), a few minutes on 2 cores. Flags: tools/trainer/config.h,
// docs/programs.md.
#include "tools/trainer/trainer.h"

int main(int argc, char** argv) {
  slab::tools::ProgramDefaults defaults;
  defaults.program = "slab-train-mnist";
  defaults.dataset = "fashion-mnist";
  defaults.data_dir = "/usr/share/datasets/fashion-mnist";
  defaults.model = "small-cnn";
  defaults.epochs = 2;
  defaults.batch_size = 128;
  defaults.sgd_learning_rate = 0.01;
  defaults.sampler_preset = "slab-mnist";  // measured on this program's default network
  return slab::tools::train_program_main(defaults, argc, argv);
}
