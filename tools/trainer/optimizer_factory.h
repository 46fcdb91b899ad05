// The programs' --optimizer: one place that maps its eight names and the paper's flags to
// optimizer objects (optim/), and, for sghmc-spl, to the spike-and-slab prior (bayes/).
//
//   name         class            what --lr is            default schedule
//   sgd          Sgd              the step size            cosine
//   adam, adamw  Adam, AdamW      the step size            cosine
//   csghmc       Csghmc           lr0 (Zhang et al.)       cyclical
//   vb-adaptive  VbAdaptive       l_t                      constant
//   ivon         Ivon             a                        cosine
//   sghmc        Sghmc            C0^2                     cyclical
//   sghmc-spl    Sghmc + prior    C0^2                     cyclical
//   (C0^2: the peak of the samplers' cyclical schedule, docs/algorithm.md#cyclical-schedule)
//
// Flags keep their meaning across optimizers where one exists: --weight-decay is the L2
// decay of sgd/adam/csghmc, AdamW's decoupled decay, vb-adaptive's delta/N and IVON's
// delta; the samplers (sghmc, sghmc-spl) take their decay from --lambda1, the slab
// precision per datum. --betas is (beta1, beta2) of Adam, IVON and the sampler
// (docs/algorithm.md#adaptive-variational-update: momentum retention and gradient scale);
// vb-adaptive reads beta1 as its gradient momentum. A value left unset takes the optimizer's
// default (the table in resolve_optimizer_defaults), then a --preset's, then the flag's.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bayes/spike_slab.h"
#include "layers/module.h"
#include "optim/optimizer.h"

namespace CLI {
class App;
}

namespace slab::tools {

// The names --optimizer accepts, in the order the help lists them.
const std::vector<std::string>& optimizer_names();
// sghmc, sghmc-spl and csghmc: they save posterior samples on the cyclical schedule.
bool is_sampler(const std::string& optimizer);

struct OptimizerSettings {
  std::string name = "sgd";
  double learning_rate = 0.1;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  std::vector<double> betas;      // empty: the optimizer's default
  double eps = 1e-8;              // Adam
  std::string temperature = "1/N";  // the samplers' T (csghmc's too)
  double eta = 0.1;               // sghmc rho step
  double hessian_init = 1.0;      // IVON h0
  double clip_radius = 0;         // IVON; 0: no clipping
  double vb_gamma = 1e-3, vb_kappa = 1.0, vb_alpha = 0.5, vb_initial_precision = 1.0;
  // Sampler schedule (csghmc, sghmc, sghmc-spl): cycles of the cyclical cosine and samples
  // saved at the end of each (bayes/samples.h); csghmc's noise epochs per cycle.
  int64_t cycles = 4;
  int64_t samples_per_cycle = 3;
  int64_t sample_from_epoch = 1;  // 1-based: the first epoch that may save a sample (earlier: burn-in)
  int64_t noise_epochs = 0;       // csghmc; 0: max(samples per cycle, cycle length / 10)
  // sghmc-spl's prior (lambda1 is also plain sghmc's decay).
  std::string preset;             // "" : the program's preset for sghmc-spl (slab-cifar, slab-mnist)
  SpikeSlabOptions prior;
  // The prior's choices as the flags spell them, parsed into `prior` by resolution.
  std::string hard_test_text = "magnitude", estep_text = "threshold", prune_bn_text = "on";
  std::string threshold_scale_text = "absolute";
  // sghmc-spl: remove dead channels from the model after each prior pass
  // (docs/algorithm.md#shrinking-during-training). "" takes the default: on for sghmc-spl.
  std::string shrink_text;
  bool shrink = false;
};

// The resolved setting of every flag; --temperature stays text until N is known.
void add_optimizer_flags(CLI::App& app, OptimizerSettings& settings);

// Fills every setting whose flag was not given with the default of the chosen optimizer
// (and of --preset for the sampler's values). `program_sgd_lr`, `program_preset` and
// `epochs` are the program's defaults for SGD's step size, sghmc-spl's preset (used when
// --preset is not given) and the run's length (a preset's epoch count applies only when
// --preset is given and --epochs is not). Throws UsageError-style slab::Errors naming the
// flag for a bad name or value.
void resolve_optimizer_defaults(const CLI::App& app, OptimizerSettings& settings, double program_sgd_lr,
                                const std::string& program_preset, int64_t* epochs);

// Throws naming the flag when a value is out of range (run after resolution).
void validate_optimizer_settings(const OptimizerSettings& settings);

// One line per optimizer for the configuration print.
std::string describe_optimizer(const OptimizerSettings& settings, double data_size);

struct OptimizerSetup {
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<SpikeSlabPrior> prior;  // sghmc-spl only
  double temperature = 0;                 // T as resolved (samplers), 0 otherwise
};

// Builds the optimizer over `model`'s parameters. `data_size` is N, the training-set size
// as loaded; `seed` keys the optimizers' Philox noise; `epochs` is the run's length (the
// cycle length of csghmc's sampling phase).
OptimizerSetup make_optimizer(const OptimizerSettings& settings, Module& model, double data_size, uint64_t seed,
                              int64_t epochs);

}  // namespace slab::tools
