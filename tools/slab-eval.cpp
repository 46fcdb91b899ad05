// slab-eval: evaluates a checkpoint or the posterior samples of a run folder; the program is
// tools/trainer/eval_program.h, so a project with its own models builds the same evaluator.
#include "tools/trainer/eval_program.h"

int main(int argc, char** argv) { return slab::tools::eval_program_main(argc, argv); }
