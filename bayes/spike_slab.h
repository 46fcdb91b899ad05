// The spike-and-slab group prior of EM-MCMC (docs/algorithm.md#spike-and-slab-prior): once per
// epoch, a separate pass over the weights decides what the sampler's fused step reads
// (optim/prior_state.h):
//   E-step   each soft group g gets a weight decay lambda_g from its current sample w_g:
//            `threshold` (reference, default): lambda0 if mean(w_g^2) < soft_threshold
//            else lambda1 (groups may switch back); `posterior`: the exact inclusion
//            probability p_g (log space, with theta), lambda_g = p_g lambda1 + (1-p_g) lambda0.
//   pruning  permanent hard masks (no regrowth):
//            conv input channels w[:, i] and output filters w[o]: `magnitude` (default)
//            prunes when max|w| < hard_threshold_conv, `range` (reference) when
//            max(w) - min(w) < hard_threshold_conv;
//            linear columns w[:, j]: mean(w^2) < hard_threshold_linear (the reference's
//            test, its own threshold because the unit differs).
//   threshold-scale  `absolute` (the reference's, default): the thresholds are in weight units;
//            `layer` (slab's option, not in the reference; docs/algorithm.md#threshold-scale):
//            they are fractions of the layer's own scale, s = mean(w^2) over its live
//            (unpruned) weights: spike when mean(w_g^2) < soft s, prune a conv unit when its
//            statistic < hard sqrt(s), a linear column when mean(w^2) < hard_linear s. A conv
//            followed by BatchNorm is invariant to its filter's scale, and layers' scales
//            differ by stage and step size, so one absolute threshold cannot fit every layer
//            (docs/results.md); `fan-in`: fractions of He's variance s = 2 / fan_in of the
//            (dense) layer, a fixed unit in which every stage of a network starts equally
//            deep in the spike. The posterior E-step has no threshold and is not affected.
//   prune-bn (default on) zeroes and masks the BatchNorm channel (scale and shift) and the
//            conv bias of every pruned filter, so a pruned filter is a dead channel;
//            off reproduces the reference, where the BN shift keeps the channel alive.
//   mac-budget (slab's option, docs/algorithm.md#mac-budget; 1 = off, the paper's E-step):
//            the threshold E-step keeps the groups in the slab within this fraction of the
//            network's dense multiply-adds. Each layer's threshold rises by mu u_l, with u_l
//            the layer's multiply-adds per weight and per example (a conv's output positions,
//            a linear layer's 1) and mu >= 0 the smallest value that meets the budget: the
//            threshold of a prior whose inclusion odds fall by exp(-kappa) per kept
//            multiply-add, with kappa the budget's Lagrange multiplier.
// When: before the first step of each epoch whose 0-based index is greater than warm_up.
// cool-down (slab's option, not in the reference, docs/algorithm.md#cool-down; 0 = off: a pass
//            every epoch after the warm-up): in the last cool_down epochs of the run there is
//            no pass; every weight is back in the slab (lambda1) and the masks are frozen, so
//            the run ends sampling the pruned network under the slab prior alone instead of
//            under the spike's heavy decay.
// Groups follow each parameter's PriorGrouping (layers declare it); None parameters
// (biases, BatchNorm, a CNN's classifier) always get lambda1 and are never pruned by a test.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layers/channel_graph.h"
#include "optim/optimizer.h"
#include "optim/prior_state.h"

namespace slab {

enum class EStep { Threshold, Posterior };
enum class HardTest { Magnitude, Range };
enum class ThresholdScale { Absolute, Layer, FanIn };

const char* estep_name(EStep estep);
const char* hard_test_name(HardTest test);
EStep parse_estep(const std::string& text);       // "threshold" | "posterior"
HardTest parse_hard_test(const std::string& text);  // "magnitude" | "range"
const char* threshold_scale_name(ThresholdScale scale);
ThresholdScale parse_threshold_scale(const std::string& text);  // "absolute" | "layer" | "fan-in"

struct SpikeSlabOptions {
  double lambda1 = 5e-4;                // slab weight decay (prior precision / N)
  double lambda0 = 1e-2;                // spike weight decay, lambda0 >> lambda1
  double soft_threshold = 1e-3;         // E-step threshold on mean(w_g^2)
  double hard_threshold_conv = 1e-2;    // pruning threshold for conv channels/filters
  double hard_threshold_linear = 1e-3;  // pruning threshold on a linear column's mean(w^2)
  HardTest hard_test = HardTest::Magnitude;
  ThresholdScale threshold_scale = ThresholdScale::Absolute;
  EStep estep = EStep::Threshold;
  double theta = 0.5;                   // prior inclusion probability (posterior E-step)
  int64_t warm_up = 50;                 // epochs before the first E-step (runs when epoch > warm_up)
  bool prune_bn = true;
  int64_t cool_down = 0;                // final epochs without a pass (0: the pass runs to the end)
  int64_t run_epochs = 0;               // the run's length; set by the program when cool_down > 0
  double mac_budget = 1.0;              // fraction of the dense multiply-adds the slab may keep (1: off)
  double data_size = 0;                 // N (posterior E-step, mac-budget's kappa); set by the program
  // Whether the threshold E-step is held to a MAC budget (docs/algorithm.md#mac-budget).
  bool has_mac_budget() const { return mac_budget < 1; }
  void validate() const;
  std::string describe() const;         // one line for a program's configuration print
};

// What one pass changed.
struct PriorPassReport {
  int64_t groups = 0, spike_groups = 0;        // soft groups, and those with lambda_g nearer lambda0
  int64_t newly_pruned_units = 0;              // channels, filters and columns masked by this pass
  int64_t pruned_units = 0, prunable_units = 0;  // totals after the pass
  // mac-budget: the multiply-adds of the groups in the slab over the dense ones (1 when the
  // budget is off), and the threshold shift mu per multiply-add per weight it took.
  double slab_mac_fraction = 1.0, mac_shift = 0.0;
};

// Multiply-adds per weight and per example of each grouped weight, by parameter name: a
// conv's output positions, a linear layer's 1 (what mac-budget weighs groups by).
using WeightUses = std::map<std::string, double>;

class SpikeSlabPrior {
 public:
  // `couplings` gives the conv -> BatchNorm pairs for prune-bn (layers/channel_graph.h).
  explicit SpikeSlabPrior(const SpikeSlabOptions& options, ChannelCouplings couplings = {});

  // Sets every parameter's decay to lambda1 (before the first E-step all weights are in the
  // slab); call once after building the optimizer. Throws unless it reads a prior.
  void attach(Optimizer& optimizer) const;
  // Runs the E-step and pruning when warm_up < epoch < first_cool_down_epoch(); returns
  // whether it ran. In the cool-down it puts every weight back in the slab instead.
  bool begin_epoch(int64_t epoch, Optimizer& optimizer, PriorPassReport* report = nullptr) const;
  // The pass itself (E-step, pruning, prune-bn, masks applied), whatever the epoch.
  PriorPassReport run(Optimizer& optimizer) const;

  const SpikeSlabOptions& options() const { return options_; }
  // mac-budget needs every grouped weight's uses (the program measures them with one
  // forward pass, bayes/sparsity.h's weight_uses); a pass without them throws.
  void set_weight_uses(WeightUses uses) { weight_uses_ = std::move(uses); }
  // The 0-based epoch from which the cool-down holds (run_epochs when there is none).
  int64_t first_cool_down_epoch() const;
  bool in_cool_down(int64_t epoch) const { return options_.cool_down > 0 && epoch >= first_cool_down_epoch(); }

 private:
  SpikeSlabOptions options_;
  ChannelCouplings couplings_;
  WeightUses weight_uses_;
};

// The smallest mu >= 0 whose shifted thresholds t_l + mu u_l leave in the slab (mean(w_g^2)
// >= threshold) groups whose multiply-adds sum to at most `budget`: layers given as their
// groups' mean squares, base threshold t_l, and multiply-adds per group c_l = m u_l.
struct MacBudgetLayer {
  std::vector<double> mean_squares;
  double threshold = 0, uses = 0, group_macs = 0;
};
double mac_budget_shift(const std::vector<MacBudgetLayer>& layers, double budget);
// The multiply-adds of the groups in the slab under shift mu.
double slab_macs(const std::vector<MacBudgetLayer>& layers, double mu);

// ---- the pieces, on raw parameter data (also used by tests and reports) ---------------

// mean(w_g^2) of every soft group of a parameter, in group order (optim/prior_state.h).
// The weight is reduced on its device, so only one number per group is copied back.
std::vector<double> group_mean_squares(const Tensor& weight, const PriorLayout& layout);
// log of the spike-and-slab inclusion probability p_g for a group of m weights with
// sum of squares s (docs/algorithm.md#spike-and-slab-e-step), computed in log space.
double log_inclusion_probability(double sum_squares, int64_t m, double lambda1, double lambda0, double theta,
                                 double data_size);
// The decay of one group under the chosen E-step.
double group_weight_decay(double mean_square, int64_t m, const SpikeSlabOptions& options);
// The mean(w_g^2) at which p_g = 1/2: [ln(lambda0/lambda1) - (2/m) logit(theta)] / [N (lambda0 - lambda1)].
double posterior_half_point(int64_t m, const SpikeSlabOptions& options);

// Per input channel and per output filter of a conv weight [out, in, kh, kw]: 1 keeps,
// 0 fails the hard test (magnitude or range) against `threshold`.
struct ConvUnitTests {
  std::vector<uint8_t> keep_input_channels, keep_filters;
};
// Like group_mean_squares, the weight is reduced on its device. `filters_hold_zeros`
// (`channels_hold_zeros`) says that every filter (input channel) also held removed weights,
// which count as the zeros they were (docs/algorithm.md#shrinking-during-training): the
// range test then takes 0 into its max and min.
ConvUnitTests conv_hard_tests(const Tensor& weight, HardTest test, double threshold, bool filters_hold_zeros = false,
                              bool channels_hold_zeros = false);
// The unit of threshold-scale `fan-in`: 2 / fan_in of a [rows, columns, inner] layout (a
// conv's fan_in = in_channels x kh x kw, a linear layer's its inputs).
double fan_in_scale(const PriorLayout& dense);
// The layer scale of threshold-scale `layer`: mean(w^2) over the live weights, from the
// per-group mean squares (groups have equal sizes) and the masks; 0 when nothing is live.
double live_mean_square(const std::vector<double>& group_mean_squares, const PriorState& state);

// Per column of a linear weight [out, in]: 1 keeps, 0 when mean(w[:, j]^2) < threshold.
std::vector<uint8_t> linear_column_tests(const Tensor& weight, double threshold);
// The same test on mean squares already computed (the E-step's, for linear columns).
std::vector<uint8_t> columns_above(const std::vector<double>& mean_squares, double threshold);

}  // namespace slab
