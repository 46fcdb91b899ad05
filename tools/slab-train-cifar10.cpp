// slab-train-cifar10: trains on CIFAR-10 (binary format: data_batch_1..5.bin, test_batch.bin;
// a folder with only some batches, like ../shared/data/cifar10-subset, works too) with the
// usual augmentation (random crop with 4-pixel padding, horizontal flip). Default: ResNet-20,
// 20 epochs of SGD with a cosine schedule. The paper's sampler: --optimizer sghmc-spl.
// Flags: tools/trainer/config.h, docs/programs.md. The subset from the official release:
// docs/data.md#getting-the-data.
#include "tools/trainer/trainer.h"

int main(int argc, char** argv) {
  slab::tools::ProgramDefaults defaults;
  defaults.program = "slab-train-cifar10";
  defaults.dataset = "cifar10";
  defaults.data_dir = "data/cifar10";
  defaults.model = "resnet20";
  defaults.epochs = 20;
  defaults.batch_size = 128;
  defaults.sgd_learning_rate = 0.1;
  return slab::tools::train_program_main(defaults, argc, argv);
}
