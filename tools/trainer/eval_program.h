// The evaluation program's main (tools/slab-eval.cpp is this function): evaluates what a
// training run left behind. A project with its own registered models (models/factory.h)
// gets an evaluator that knows them by calling eval_program_main after registering them.
//
//   slab-eval --checkpoint FILE [--data-dir D]   one checkpoint (IVON and vb-adaptive at
//                                                their variational mean) on its test set
//   slab-eval RUN_DIR [--data-dir D]             the metric table over the run's posterior
//                                                samples: per sample and their Bayesian model
//                                                average (accuracy, NLL, ECE, Brier, entropy);
//                                                a run without samples: its final checkpoint;
//                                                --samples-from-epoch E keeps the samples
//                                                saved at epoch E (1-based) or later
//   slab-eval --network NAME.json                a network written by slab-export
//                                                (docs/export.md) on its run's test set
//
// The dataset, model and data folder come from the checkpoint's saved configuration or the
// run's config.json; flags override them. Ends with one key=value line. Exit codes as the
// training programs: 0, 1 on a failure, 2 on bad usage.
#pragma once

namespace slab::tools {

// Parses argv (argv[0] names the program in its help) and runs. Returns the exit code.
int eval_program_main(int argc, char** argv);

}  // namespace slab::tools
