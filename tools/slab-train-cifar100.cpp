// slab-train-cifar100: trains on CIFAR-100 (binary format: train.bin, test.bin; 100 fine
// classes) with random crop and flip. Default: ResNet-20 with 100 outputs, 20 epochs of SGD
// with a cosine schedule. Flags: tools/trainer/config.h, docs/programs.md.
#include "tools/trainer/trainer.h"

int main(int argc, char** argv) {
  slab::tools::ProgramDefaults defaults;
  defaults.program = "slab-train-cifar100";
  defaults.dataset = "cifar100";
  defaults.data_dir = "data/cifar100";
  defaults.model = "resnet20";
  defaults.epochs = 20;
  defaults.batch_size = 128;
  defaults.sgd_learning_rate = 0.1;
  return slab::tools::train_program_main(defaults, argc, argv);
}
