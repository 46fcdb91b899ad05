// train-tanh-cnn: slab's training program (tools/trainer/trainer.h) with the example's model
// registered: the same flags as slab-train-mnist (--help lists tanh-cnn among the models),
// by default tanh-cnn with sghmc-spl on Fashion-MNIST (Debian's dataset-fashion-mnist).
#include "tanh_cnn.h"
#include "tools/trainer/trainer.h"

int main(int argc, char** argv) {
  custom_layer::register_tanh_cnn();
  slab::tools::ProgramDefaults defaults;
  defaults.program = "train-tanh-cnn";
  defaults.dataset = "fashion-mnist";
  defaults.data_dir = "/usr/share/datasets/fashion-mnist";
  defaults.model = "tanh-cnn";
  defaults.optimizer = "sghmc-spl";
  defaults.sampler_preset = "slab-mnist";  // slab's Fashion-MNIST recipe for the small CNN
  defaults.epochs = 2;
  defaults.batch_size = 128;
  defaults.sgd_learning_rate = 0.01;
  return slab::tools::train_program_main(defaults, argc, argv);
}
