// eval-tanh-cnn: slab-eval (tools/trainer/eval_program.h) with the example's model registered,
// so it reads the checkpoints and run folders train-tanh-cnn writes.
#include "tanh_cnn.h"
#include "tools/trainer/eval_program.h"

int main(int argc, char** argv) {
  custom_layer::register_tanh_cnn();
  return slab::tools::eval_program_main(argc, argv);
}
