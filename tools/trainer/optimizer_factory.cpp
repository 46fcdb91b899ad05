#include "tools/trainer/optimizer_factory.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "bayes/presets.h"
#include "models/model.h"
#include "optim/adam.h"
#include "optim/csghmc.h"
#include "optim/ivon.h"
#include "optim/sgd.h"
#include "optim/sghmc.h"
#include "optim/vb_adaptive.h"
#include "tools/trainer/errors.h"

namespace slab::tools {

namespace {

bool given(const CLI::App& app, const char* flag) {
  const CLI::Option* option = app.get_option_no_throw(flag);
  return option != nullptr && option->count() > 0;
}

std::string joined_names() {
  std::string text;
  for (const std::string& name : optimizer_names()) text += (text.empty() ? "" : ", ") + name;
  return text;
}

bool parse_on_off(const std::string& text, const char* flag) {
  if (text == "on" || text == "true" || text == "1" || text == "yes") return true;
  if (text == "off" || text == "false" || text == "0" || text == "no") return false;
  throw UsageError(std::string(flag) + ": expected on or off, got '" + text + "'");
}

// ", from epoch E" when a burn-in keeps the first cycles' samples out (--sample-from-epoch).
std::string sample_start(const OptimizerSettings& s) {
  return s.sample_from_epoch > 1 ? ", from epoch " + std::to_string(s.sample_from_epoch) : "";
}

}  // namespace

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = {"sgd",         "adam", "adamw", "csghmc",
                                                 "vb-adaptive", "ivon", "sghmc", "sghmc-spl"};
  return names;
}

bool is_sampler(const std::string& optimizer) {
  return optimizer == "sghmc" || optimizer == "sghmc-spl" || optimizer == "csghmc";
}

void add_optimizer_flags(CLI::App& app, OptimizerSettings& s) {
  app.add_option("--optimizer", s.name, "sgd, adam, adamw, csghmc, vb-adaptive, ivon, sghmc or sghmc-spl")
      ->capture_default_str();
  app.add_option("--lr", s.learning_rate,
                 "learning rate (the samplers: C0^2, the peak of the cyclical schedule); default per optimizer");
  app.add_option("--momentum", s.momentum, "sgd momentum (csghmc: momentum retention 1 - alpha); default 0.9 (csghmc 0.1)");
  app.add_flag("--nesterov", s.nesterov, "sgd: Nesterov momentum");
  app.add_option("--weight-decay", s.weight_decay,
                 "L2 / decoupled weight decay (sgd, adam, adamw, csghmc, vb-adaptive, ivon); the samplers use --lambda1");
  app.add_option("--betas", s.betas, "beta1 beta2: Adam's, IVON's, or the sampler's momentum retention and gradient "
                                     "scale (default 0.1 1); vb-adaptive reads beta1")
      ->expected(1, 2);
  app.add_option("--eps", s.eps, "Adam's epsilon");
  app.add_option("--temperature", s.temperature, "sampler noise scale T: 1/N, sqrt(1/N) or a number >= 0");
  app.add_option("--eta", s.eta, "sghmc: step of the rho (preconditioner) update");
  app.add_option("--hessian-init", s.hessian_init, "ivon: initial Hessian estimate h0");
  app.add_option("--clip-radius", s.clip_radius, "ivon: clip radius of the update (0: none)");
  app.add_option("--vb-gamma", s.vb_gamma, "vb-adaptive: precision step gamma in (0, 1)");
  app.add_option("--vb-kappa", s.vb_kappa, "vb-adaptive: second learning rate kappa");
  app.add_option("--vb-alpha", s.vb_alpha, "vb-adaptive: preconditioner power alpha in [1/2, 1]");
  app.add_option("--cycles", s.cycles, "samplers: cycles of the cyclical cosine schedule")->check(CLI::PositiveNumber);
  app.add_option("--samples-per-cycle", s.samples_per_cycle,
                 "samplers: posterior samples saved at the end of each cycle (its last epochs)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--sample-from-epoch", s.sample_from_epoch,
                 "samplers: save no sample before this epoch (1-based; the cycles that end earlier are burn-in)")
      ->check(CLI::PositiveNumber);
  app.add_option("--noise-epochs", s.noise_epochs, "csghmc: noisy epochs at the end of each cycle (0: automatic)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--preset", s.preset, "sampler preset: slab-cifar (sghmc-spl's default; slab-mnist in slab-train-mnist), slab-mnist, reference-cifar, regression-1|2|3");
  app.add_option("--lambda1", s.prior.lambda1, "slab weight decay (prior precision / N); plain sghmc's decay");
  app.add_option("--lambda0", s.prior.lambda0, "spike weight decay, lambda0 >> lambda1");
  app.add_option("--soft-threshold", s.prior.soft_threshold, "threshold E-step: spike when mean(w_g^2) is below it");
  app.add_option("--hard-threshold", s.prior.hard_threshold_conv, "pruning threshold of conv channels and filters");
  app.add_option("--hard-threshold-linear", s.prior.hard_threshold_linear,
                 "pruning threshold on a linear column's mean(w^2)");
  app.add_option("--hard-test", s.hard_test_text, "conv pruning test: magnitude (max|w|) or range (max - min, reference)");
  app.add_option("--threshold-scale", s.threshold_scale_text,
                 "absolute (the spec's): thresholds in weight units; layer: fractions of each layer's own scale, "
                 "mean(w^2) over its live weights (soft, linear hard) or its square root (conv hard); fan-in: fractions "
                 "of 2 / fan_in, He's variance of the layer, or its square root");
  app.add_option("--mac-budget", s.prior.mac_budget,
                 "threshold E-step: keep the slab's groups within this fraction of the dense multiply-adds, raising "
                 "each layer's threshold in proportion to its multiply-adds per weight (docs/algorithm.md#mac-budget; "
                 "1: off)");
  app.add_option("--estep", s.estep_text, "E-step: threshold (reference) or posterior (exact p_g with --theta)");
  app.add_option("--theta", s.prior.theta, "prior inclusion probability (posterior E-step)");
  app.add_option("--warm-up", s.prior.warm_up, "epochs before the first E-step and pruning (they run when epoch > warm-up)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--cool-down", s.prior.cool_down,
                 "final epochs with no E-step or pruning: every weight back in the slab, masks frozen (0: off)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--prune-bn", s.prune_bn_text, "on: zero the BatchNorm of a pruned filter (dead channel); off: reference");
  app.add_option("--shrink", s.shrink_text,
                 "sghmc-spl: on (default) removes dead channels from the model after each prior pass (same draws "
                 "for the surviving weights); off keeps the dense shape with masks");
}

void resolve_optimizer_defaults(const CLI::App& app, OptimizerSettings& s, double program_sgd_lr,
                                const std::string& program_preset, int64_t* epochs) {
  const auto& names = optimizer_names();
  SLAB_USAGE_CHECK(std::find(names.begin(), names.end(), s.name) != names.end(), "--optimizer: unknown optimizer '",
                   s.name, "' (expected one of: ", joined_names(), ")");
  auto set = [&](const char* flag, auto& field, auto value) {
    if (!given(app, flag)) field = value;
  };
  const std::string& n = s.name;
  const bool sampler = n == "sghmc" || n == "sghmc-spl";

  // The optimizer's own defaults (its paper's or PyTorch's).
  if (n == "sgd") {
    set("--lr", s.learning_rate, program_sgd_lr);
    set("--weight-decay", s.weight_decay, 5e-4);
  } else if (n == "adam" || n == "adamw") {
    set("--lr", s.learning_rate, 1e-3);
    set("--weight-decay", s.weight_decay, n == "adamw" ? 1e-2 : 0.0);
    set("--betas", s.betas, std::vector<double>{0.9, 0.999});
  } else if (n == "csghmc") {
    set("--lr", s.learning_rate, 0.5);
    set("--momentum", s.momentum, 0.1);  // alpha = 0.9
    set("--weight-decay", s.weight_decay, 5e-4);
  } else if (n == "vb-adaptive") {
    set("--lr", s.learning_rate, 1e-3);
    set("--weight-decay", s.weight_decay, 5e-4);
    set("--betas", s.betas, std::vector<double>{0.9});
  } else if (n == "ivon") {
    set("--lr", s.learning_rate, 0.1);
    set("--weight-decay", s.weight_decay, 1e-4);
    set("--betas", s.betas, std::vector<double>{0.9, 0.99999});
  } else if (sampler) {
    set("--lr", s.learning_rate, 1.0);
    set("--betas", s.betas, std::vector<double>{0.1, 1.0});
  }

  // Presets: sghmc-spl starts from the program's preset; --preset picks another (sghmc takes one too).
  SLAB_USAGE_CHECK(s.preset.empty() || sampler, "--preset applies to sghmc and sghmc-spl, not to --optimizer ", n);
  if (sampler && (n == "sghmc-spl" || !s.preset.empty())) {
    SamplerPreset preset;
    try {
      preset = sampler_preset(s.preset.empty() ? program_preset : s.preset);
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
    if (s.preset.empty()) s.preset = preset.name;
    set("--lr", s.learning_rate, preset.learning_rate);
    set("--temperature", s.temperature, preset.temperature);
    set("--cycles", s.cycles, preset.cycles);
    set("--samples-per-cycle", s.samples_per_cycle, preset.samples_per_cycle);
    set("--eta", s.eta, preset.eta);
    set("--betas", s.betas, std::vector<double>{preset.beta1, preset.beta2});
    set("--lambda1", s.prior.lambda1, preset.prior.lambda1);
    set("--lambda0", s.prior.lambda0, preset.prior.lambda0);
    set("--soft-threshold", s.prior.soft_threshold, preset.prior.soft_threshold);
    set("--hard-threshold", s.prior.hard_threshold_conv, preset.prior.hard_threshold_conv);
    set("--hard-threshold-linear", s.prior.hard_threshold_linear, preset.prior.hard_threshold_linear);
    set("--hard-test", s.hard_test_text, std::string(hard_test_name(preset.prior.hard_test)));
    set("--threshold-scale", s.threshold_scale_text, std::string(threshold_scale_name(preset.prior.threshold_scale)));
    set("--estep", s.estep_text, std::string(estep_name(preset.prior.estep)));
    set("--theta", s.prior.theta, preset.prior.theta);
    set("--mac-budget", s.prior.mac_budget, preset.prior.mac_budget);
    set("--warm-up", s.prior.warm_up, preset.prior.warm_up);
    set("--cool-down", s.prior.cool_down, preset.prior.cool_down);
    set("--prune-bn", s.prune_bn_text, std::string(preset.prior.prune_bn ? "on" : "off"));
    if (given(app, "--preset") && epochs != nullptr && !given(app, "--epochs")) *epochs = preset.epochs;
  }
  // A short run keeps at most one cycle per epoch unless --cycles says otherwise.
  if (is_sampler(n) && epochs != nullptr && !given(app, "--cycles")) s.cycles = std::min(s.cycles, *epochs);
  try {
    s.prior.hard_test = parse_hard_test(s.hard_test_text);
  } catch (const Error& e) {
    throw UsageError(std::string("--hard-test: ") + e.what());
  }
  try {
    s.prior.estep = parse_estep(s.estep_text);
  } catch (const Error& e) {
    throw UsageError(std::string("--estep: ") + e.what());
  }
  try {
    s.prior.threshold_scale = parse_threshold_scale(s.threshold_scale_text);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  s.prior.prune_bn = parse_on_off(s.prune_bn_text, "--prune-bn");
  SLAB_USAGE_CHECK(n == "sghmc-spl" || s.shrink_text.empty() || s.shrink_text == "off",
                   "--shrink on applies to sghmc-spl (the optimizer whose prior kills channels), not to --optimizer ", n);
  s.shrink = n == "sghmc-spl" && parse_on_off(s.shrink_text.empty() ? std::string("on") : s.shrink_text, "--shrink");
  if (epochs != nullptr) s.prior.run_epochs = *epochs;  // where the cool-down starts
}

void validate_optimizer_settings(const OptimizerSettings& s) {
  SLAB_USAGE_CHECK(std::isfinite(s.learning_rate) && s.learning_rate > 0, "--lr: expected a positive number, got ",
                   s.learning_rate);
  SLAB_USAGE_CHECK(s.momentum >= 0 && s.momentum < 1, "--momentum: expected a value in [0, 1), got ", s.momentum);
  SLAB_USAGE_CHECK(s.weight_decay >= 0, "--weight-decay: expected a value >= 0, got ", s.weight_decay);
  for (double b : s.betas) SLAB_USAGE_CHECK(b >= 0, "--betas: expected values >= 0, got ", b);
  if (s.name == "adam" || s.name == "adamw" || s.name == "ivon")
    SLAB_USAGE_CHECK(s.betas.size() == 2 && s.betas[0] < 1 && s.betas[1] < 1,
                     "--betas: ", s.name, " needs two values in [0, 1)");
  if (s.name == "sghmc" || s.name == "sghmc-spl") {
    SLAB_USAGE_CHECK(s.betas.size() == 2 && s.betas[0] < 1 && s.betas[1] > 0,
                     "--betas: the sampler needs beta1 in [0, 1) and beta2 > 0");
    SLAB_USAGE_CHECK(s.eta >= 0, "--eta: expected a value >= 0, got ", s.eta);
  }
  if (s.name == "vb-adaptive")
    SLAB_USAGE_CHECK(!s.betas.empty() && s.betas[0] < 1 && s.vb_gamma > 0 && s.vb_gamma < 1 && s.vb_alpha >= 0.5 &&
                         s.vb_alpha <= 1,
                     "vb-adaptive: expected beta1 in [0, 1), --vb-gamma in (0, 1), --vb-alpha in [1/2, 1]");
  SLAB_USAGE_CHECK(s.clip_radius >= 0, "--clip-radius: expected a value >= 0 (0: none), got ", s.clip_radius);
  SLAB_USAGE_CHECK(s.hessian_init > 0, "--hessian-init: expected a positive value, got ", s.hessian_init);
  if (s.name == "sghmc-spl") {
    try {
      SpikeSlabOptions prior = s.prior;
      prior.data_size = 1;  // N is known once the data are loaded; make_optimizer sets it
      prior.validate();
    } catch (const Error& e) {
      throw UsageError(e.what());  // its messages begin "spike-and-slab:" and name the setting
    }
  }
  try {
    (void)parse_temperature(s.temperature, 1.0);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

std::string describe_optimizer(const OptimizerSettings& s, double data_size) {
  std::ostringstream out;
  out << s.name << ": lr " << s.learning_rate;
  const std::string& n = s.name;
  if (n == "sgd") {
    out << ", momentum " << s.momentum << (s.nesterov ? " (Nesterov)" : "") << ", weight decay " << s.weight_decay;
  } else if (n == "adam" || n == "adamw") {
    out << ", betas (" << s.betas[0] << ", " << s.betas[1] << "), eps " << s.eps << ", "
        << (n == "adamw" ? "decoupled " : "L2 ") << "weight decay " << s.weight_decay;
  } else if (n == "csghmc") {
    out << ", alpha " << 1 - s.momentum << ", weight decay " << s.weight_decay << ", temperature " << s.temperature
        << " = " << parse_temperature(s.temperature, data_size) << ", " << s.cycles << " cycles, "
        << s.samples_per_cycle << " samples per cycle" << sample_start(s);
  } else if (n == "vb-adaptive") {
    out << ", beta " << s.betas[0] << ", gamma " << s.vb_gamma << ", kappa " << s.vb_kappa << ", alpha " << s.vb_alpha
        << ", delta/N " << s.weight_decay;
  } else if (n == "ivon") {
    out << ", betas (" << s.betas[0] << ", " << s.betas[1] << "), delta " << s.weight_decay << ", h0 "
        << s.hessian_init << ", N " << data_size;
  } else {
    out << " (C0^2), temperature " << s.temperature << " = " << parse_temperature(s.temperature, data_size) << ", N "
        << data_size << ", eta " << s.eta << ", betas (" << s.betas[0] << ", " << s.betas[1] << "), lambda1 "
        << s.prior.lambda1 << ", " << s.cycles << " cycles, " << s.samples_per_cycle << " samples per cycle" << sample_start(s);
    if (n == "sghmc-spl") out << "\nprior (preset " << s.preset << "): " << s.prior.describe();
  }
  return out.str();
}

OptimizerSetup make_optimizer(const OptimizerSettings& s, Module& model, double data_size, uint64_t seed,
                              int64_t epochs) {
  OptimizerSetup setup;
  std::vector<NamedParameter> parameters = model.named_parameters();
  const std::string& n = s.name;
  if (n == "sgd") {
    SgdOptions o;
    o.learning_rate = s.learning_rate;
    o.momentum = s.momentum;
    o.weight_decay = s.weight_decay;
    o.nesterov = s.nesterov;
    setup.optimizer = std::make_unique<Sgd>(std::move(parameters), o);
  } else if (n == "adam" || n == "adamw") {
    AdamOptions o;
    o.learning_rate = s.learning_rate;
    o.beta1 = s.betas.at(0);
    o.beta2 = s.betas.at(1);
    o.eps = s.eps;
    o.weight_decay = s.weight_decay;
    if (n == "adam")
      setup.optimizer = std::make_unique<Adam>(std::move(parameters), o);
    else
      setup.optimizer = std::make_unique<AdamW>(std::move(parameters), o);
  } else if (n == "csghmc") {
    CsghmcOptions o;
    o.learning_rate = s.learning_rate;
    o.alpha = 1 - s.momentum;
    o.weight_decay = s.weight_decay;
    o.temperature = parse_temperature(s.temperature, data_size);
    o.data_size = data_size;
    o.seed = seed;
    // The authors' sampling phase: the last noise epochs of each cycle (by default the
    // samples' epochs, at least a tenth of the cycle).
    o.epochs_per_cycle = std::max<int64_t>(1, epochs / s.cycles);
    o.noise_epochs = s.noise_epochs > 0 ? s.noise_epochs
                                        : std::min(o.epochs_per_cycle,
                                                   std::max<int64_t>(s.samples_per_cycle, (o.epochs_per_cycle + 9) / 10));
    setup.temperature = o.temperature;
    setup.optimizer = std::make_unique<Csghmc>(std::move(parameters), o);
  } else if (n == "vb-adaptive") {
    VbAdaptiveOptions o;
    o.learning_rate = s.learning_rate;
    o.beta = s.betas.at(0);
    o.gamma = s.vb_gamma;
    o.kappa = s.vb_kappa;
    o.alpha = s.vb_alpha;
    o.weight_decay = s.weight_decay;
    o.initial_precision = s.vb_initial_precision;
    o.seed = seed;
    setup.optimizer = std::make_unique<VbAdaptive>(std::move(parameters), o);
  } else if (n == "ivon") {
    IvonOptions o;
    o.learning_rate = s.learning_rate;
    o.data_size = data_size;
    o.hessian_init = s.hessian_init;
    o.beta1 = s.betas.at(0);
    o.beta2 = s.betas.at(1);
    o.weight_decay = s.weight_decay;
    o.clip_radius = s.clip_radius > 0 ? s.clip_radius : std::numeric_limits<double>::infinity();
    o.seed = seed;
    setup.optimizer = std::make_unique<Ivon>(std::move(parameters), o);
  } else if (n == "sghmc" || n == "sghmc-spl") {
    SghmcOptions o;
    o.learning_rate = s.learning_rate;
    o.temperature = parse_temperature(s.temperature, data_size);
    o.data_size = data_size;
    o.eta = s.eta;
    o.beta1 = s.betas.at(0);
    o.beta2 = s.betas.at(1);
    o.weight_decay = s.prior.lambda1;
    o.seed = seed;
    o.spike_and_slab = n == "sghmc-spl";
    setup.temperature = o.temperature;
    setup.optimizer = std::make_unique<Sghmc>(std::move(parameters), o);
    if (n == "sghmc-spl") {
      SpikeSlabOptions prior = s.prior;
      prior.data_size = data_size;
      setup.prior = std::make_unique<SpikeSlabPrior>(prior, channel_couplings(model));
      setup.prior->attach(*setup.optimizer);
    }
  } else {
    throw UsageError("--optimizer: unknown optimizer '" + n + "' (expected one of: " + joined_names() + ")");
  }
  return setup;
}

}  // namespace slab::tools
