#include "bayes/spike_slab.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"

namespace slab {

const char* estep_name(EStep estep) { return estep == EStep::Threshold ? "threshold" : "posterior"; }
const char* hard_test_name(HardTest test) { return test == HardTest::Magnitude ? "magnitude" : "range"; }

EStep parse_estep(const std::string& text) {
  if (text == "threshold") return EStep::Threshold;
  if (text == "posterior") return EStep::Posterior;
  SLAB_FAIL("--estep: expected 'threshold' or 'posterior', got '", text, "'");
}

HardTest parse_hard_test(const std::string& text) {
  if (text == "magnitude") return HardTest::Magnitude;
  if (text == "range") return HardTest::Range;
  SLAB_FAIL("--hard-test: expected 'magnitude' or 'range', got '", text, "'");
}

const char* threshold_scale_name(ThresholdScale scale) {
  switch (scale) {
    case ThresholdScale::Absolute: return "absolute";
    case ThresholdScale::Layer: return "layer";
    case ThresholdScale::FanIn: return "fan-in";
  }
  return "?";
}

ThresholdScale parse_threshold_scale(const std::string& text) {
  if (text == "absolute") return ThresholdScale::Absolute;
  if (text == "layer") return ThresholdScale::Layer;
  if (text == "fan-in") return ThresholdScale::FanIn;
  SLAB_FAIL("--threshold-scale: expected 'absolute', 'layer' or 'fan-in', got '", text, "'");
}

double fan_in_scale(const PriorLayout& dense) { return 2.0 / static_cast<double>(dense.columns * dense.inner); }

void SpikeSlabOptions::validate() const {
  SLAB_CHECK(lambda1 >= 0 && lambda0 >= 0, "spike-and-slab: lambda1 and lambda0 must be >= 0, got ", lambda1, " and ",
             lambda0);
  SLAB_CHECK(soft_threshold >= 0, "spike-and-slab: the soft threshold must be >= 0, got ", soft_threshold);
  SLAB_CHECK(hard_threshold_conv >= 0 && hard_threshold_linear >= 0,
             "spike-and-slab: hard thresholds must be >= 0, got conv ", hard_threshold_conv, " and linear ",
             hard_threshold_linear);
  SLAB_CHECK(theta > 0 && theta < 1, "spike-and-slab: theta must be in (0, 1), got ", theta);
  SLAB_CHECK(warm_up >= 0, "spike-and-slab: warm-up must be >= 0 epochs, got ", warm_up);
  SLAB_CHECK(cool_down >= 0, "spike-and-slab: cool-down must be >= 0 epochs, got ", cool_down);
  SLAB_CHECK(mac_budget > 0 && mac_budget <= 1, "spike-and-slab: the MAC budget must be in (0, 1] (1: off), got ",
             mac_budget);
  SLAB_CHECK(!has_mac_budget() || estep == EStep::Threshold,
             "spike-and-slab: the MAC budget shifts the threshold E-step's thresholds; it is not built for the "
             "posterior E-step (use --estep threshold)");
  // At least one pass must run: the first is at epoch warm_up + 1, the cool-down starts at
  // run_epochs - cool_down.
  SLAB_CHECK(cool_down == 0 || run_epochs - cool_down > warm_up + 1, "spike-and-slab: a cool-down of ", cool_down,
             " epochs in a run of ", run_epochs, " epochs with warm-up ", warm_up, " leaves no epoch for the prior pass");
  if (estep == EStep::Posterior) {
    SLAB_CHECK(data_size > 0, "spike-and-slab: the posterior E-step needs the training-set size N, got ", data_size);
    SLAB_CHECK(lambda1 > 0 && lambda0 > lambda1, "spike-and-slab: the posterior E-step needs 0 < lambda1 < lambda0, got ",
               lambda1, " and ", lambda0);
  }
}

std::string SpikeSlabOptions::describe() const {
  std::ostringstream out;
  out << "lambda1=" << lambda1 << " lambda0=" << lambda0 << " estep=" << estep_name(estep);
  if (estep == EStep::Threshold) out << " soft_threshold=" << soft_threshold;
  else out << " theta=" << theta;
  out << " hard_test=" << hard_test_name(hard_test) << " hard_threshold_conv=" << hard_threshold_conv
      << " hard_threshold_linear=" << hard_threshold_linear
      << " threshold_scale=" << threshold_scale_name(threshold_scale) << " warm_up=" << warm_up
      << " cool_down=" << cool_down << " prune_bn=" << (prune_bn ? "on" : "off");
  if (has_mac_budget()) out << " mac_budget=" << mac_budget;
  return out.str();
}

// ---- the pieces ----------------------------------------------------------------------

// The weight seen as [rows, columns, inner]: a conv's kernel slice is (row, column), a
// linear column is column. The reduction runs where the weight is, in the device's
// deterministic order, and only one sum per group is copied back. A host weight is reduced
// in double (squares and sums as exact as a loop in double); a device weight in its own
// type, with sums added in double and rounded once, because Tensor::to(DType) converts on
// the host and would copy the whole weight back and forth.
std::vector<double> group_mean_squares(const Tensor& weight, const PriorLayout& layout) {
  SLAB_CHECK(weight.numel() == layout.numel(), "spike-and-slab: weight of shape ", weight.shape(),
             " does not match its prior layout");
  NoGradGuard no_grad;
  const Tensor w = weight.device().is_cpu() ? weight.detach().to(DType::f64) : weight.detach();
  Tensor sums;
  switch (layout.grouping) {
    case PriorGrouping::ConvKernels: {
      const Tensor slices = w.reshape({layout.rows * layout.columns, layout.inner});
      sums = sum(mul(slices, slices), {1});
      break;
    }
    case PriorGrouping::LinearColumns: {
      const Tensor columns = w.reshape({layout.rows, layout.columns * layout.inner});
      sums = sum(mul(columns, columns), {0});
      break;
    }
    case PriorGrouping::None: SLAB_FAIL("group_mean_squares: a parameter outside the prior has no groups");
  }
  std::vector<double> means = sums.to_vector();
  const double size = static_cast<double>(layout.group_size());
  for (double& m : means) m /= size;
  return means;
}

double log_inclusion_probability(double sum_squares, int64_t m, double lambda1, double lambda0, double theta,
                                 double data_size) {
  // log N(w; 0, (N lambda)^-1 I) = (m/2) log(N lambda / 2 pi) - (N lambda / 2) |w|^2; the
  // 2 pi terms cancel in the ratio.
  const double half_m = 0.5 * static_cast<double>(m);
  const double log_slab = std::log(theta) + half_m * std::log(data_size * lambda1) - 0.5 * data_size * lambda1 * sum_squares;
  const double log_spike =
      std::log1p(-theta) + half_m * std::log(data_size * lambda0) - 0.5 * data_size * lambda0 * sum_squares;
  const double top = std::max(log_slab, log_spike);
  return log_slab - (top + std::log(std::exp(log_slab - top) + std::exp(log_spike - top)));
}

double group_weight_decay(double mean_square, int64_t m, const SpikeSlabOptions& options) {
  if (options.estep == EStep::Threshold)
    return mean_square < options.soft_threshold ? options.lambda0 : options.lambda1;
  const double p = std::exp(log_inclusion_probability(mean_square * static_cast<double>(m), m, options.lambda1,
                                                      options.lambda0, options.theta, options.data_size));
  return p * options.lambda1 + (1.0 - p) * options.lambda0;
}

double posterior_half_point(int64_t m, const SpikeSlabOptions& options) {
  const double logit_theta = std::log(options.theta / (1.0 - options.theta));
  return (std::log(options.lambda0 / options.lambda1) - 2.0 / static_cast<double>(m) * logit_theta) /
         (options.data_size * (options.lambda0 - options.lambda1));
}

namespace {

// Per input channel and per output filter of a conv weight: max, min and max |w|, by
// reductions where the weight is (exact: max and min do not round).
struct UnitExtremes {
  std::vector<double> in_max, in_min, in_abs, out_max, out_min, out_abs;
};

UnitExtremes unit_extremes(const Tensor& weight) {
  NoGradGuard no_grad;
  const Tensor w = weight.detach().reshape({weight.size(0), weight.size(1), weight.size(2) * weight.size(3)});
  const Tensor slice_max = max(w, 2).values;                 // [out, in]
  const Tensor slice_min = mul(max(mul(w, -1.0), 2).values, -1.0);
  const Tensor slice_abs = max(abs(w), 2).values;
  auto over = [](const Tensor& t, int64_t dim) { return max(t, dim).values.to_vector(); };
  auto under = [](const Tensor& t, int64_t dim) {
    std::vector<double> v = max(mul(t, -1.0), dim).values.to_vector();
    for (double& x : v) x = -x;
    return v;
  };
  return {over(slice_max, 0), under(slice_min, 0), over(slice_abs, 0),
          over(slice_max, 1), under(slice_min, 1), over(slice_abs, 1)};
}

ConvUnitTests hard_tests_from(const UnitExtremes& e, HardTest test, double threshold, bool filters_hold_zeros,
                              bool channels_hold_zeros) {
  auto keep = [&](double max_value, double min_value, double max_abs, bool holds_zeros) {
    if (holds_zeros) {
      max_value = std::max(max_value, 0.0);
      min_value = std::min(min_value, 0.0);
    }
    const double statistic = test == HardTest::Magnitude ? max_abs : max_value - min_value;
    return static_cast<uint8_t>(statistic < threshold ? 0 : 1);
  };
  ConvUnitTests result;
  for (size_t i = 0; i < e.in_max.size(); ++i)
    result.keep_input_channels.push_back(keep(e.in_max[i], e.in_min[i], e.in_abs[i], channels_hold_zeros));
  for (size_t o = 0; o < e.out_max.size(); ++o)
    result.keep_filters.push_back(keep(e.out_max[o], e.out_min[o], e.out_abs[o], filters_hold_zeros));
  return result;
}

}  // namespace

ConvUnitTests conv_hard_tests(const Tensor& weight, HardTest test, double threshold, bool filters_hold_zeros,
                              bool channels_hold_zeros) {
  SLAB_CHECK(weight.dim() == 4, "conv hard test: expected a weight [out, in, kh, kw], got ", weight.shape());
  return hard_tests_from(unit_extremes(weight), test, threshold, filters_hold_zeros, channels_hold_zeros);
}

double live_mean_square(const std::vector<double>& group_mean_squares, const PriorState& state) {
  const PriorLayout& layout = state.layout;
  SLAB_CHECK(static_cast<int64_t>(group_mean_squares.size()) == layout.group_count(), "live mean square: ",
             group_mean_squares.size(), " group statistics for ", layout.group_count(), " groups");
  const PriorGroupMap map = layout.group_map();
  double sum = 0;
  int64_t live = 0;
  for (int64_t g = 0; g < layout.group_count(); ++g) {
    // A kernel group is its slice (row_of(g), column_of(g)); a linear group is column g.
    const bool kept = map.kernel_groups ? state.row_kept(map.row_of(g)) && state.column_kept(map.column_of(g))
                                        : state.column_kept(g);
    if (!kept) continue;
    sum += group_mean_squares[static_cast<size_t>(g)];
    ++live;
  }
  return live == 0 ? 0.0 : sum / static_cast<double>(live);
}

std::vector<uint8_t> linear_column_tests(const Tensor& weight, double threshold) {
  SLAB_CHECK(weight.dim() == 2, "linear column test: expected a weight [out, in], got ", weight.shape());
  return columns_above(group_mean_squares(weight, PriorLayout::of(weight.shape(), PriorGrouping::LinearColumns)),
                       threshold);
}

std::vector<uint8_t> columns_above(const std::vector<double>& mean_squares, double threshold) {
  std::vector<uint8_t> keep;
  for (double s : mean_squares) keep.push_back(static_cast<uint8_t>(s < threshold ? 0 : 1));
  return keep;
}

double slab_macs(const std::vector<MacBudgetLayer>& layers, double mu) {
  double total = 0;
  for (const MacBudgetLayer& layer : layers) {
    const double threshold = layer.threshold + mu * layer.uses;
    for (double s : layer.mean_squares) total += s < threshold ? 0.0 : layer.group_macs;
  }
  return total;
}

double mac_budget_shift(const std::vector<MacBudgetLayer>& layers, double budget) {
  if (slab_macs(layers, 0.0) <= budget) return 0.0;
  // slab_macs falls (weakly) as mu grows, and is 0 once mu passes every group's exit point
  // (mean(w_g^2) - t_l) / u_l; bisection between 0 (over budget) and a mu past them all.
  double high = 0;
  for (const MacBudgetLayer& layer : layers) {
    SLAB_CHECK(layer.uses > 0, "mac budget: a layer with ", layer.uses, " multiply-adds per weight");
    for (double s : layer.mean_squares) high = std::max(high, (s - layer.threshold) / layer.uses);
  }
  high = 2 * high + std::numeric_limits<double>::min();
  while (slab_macs(layers, high) > budget) high *= 2;  // rounding at the exit points
  double low = 0;
  for (int i = 0; i < 200 && high - low > 1e-15 * high; ++i) {
    const double middle = 0.5 * (low + high);
    (slab_macs(layers, middle) > budget ? low : high) = middle;
  }
  return high;  // within the budget, and within 1e-15 of the smallest mu that is
}

// ---- the pass ------------------------------------------------------------------------

namespace {

PriorStateHolder& holder_of(Optimizer& optimizer) {
  auto* holder = dynamic_cast<PriorStateHolder*>(&optimizer);
  SLAB_CHECK(holder != nullptr, "spike-and-slab prior: the optimizer '", optimizer.name(),
             "' does not read a prior (use sghmc-spl)");
  SLAB_CHECK(holder->prior_states().size() == optimizer.parameters().size(),
             "spike-and-slab prior: the optimizer holds ", holder->prior_states().size(), " prior states for ",
             optimizer.parameters().size(), " parameters");
  return *holder;
}

// Merges new test results into a permanent mask (a unit once pruned stays pruned).
int64_t merge_mask(std::vector<uint8_t>& mask, const std::vector<uint8_t>& tests) {
  if (mask.empty()) mask.assign(tests.size(), 1);
  int64_t newly = 0;
  for (size_t i = 0; i < mask.size(); ++i) {
    if (mask[i] && !tests[i]) ++newly;
    mask[i] = static_cast<uint8_t>(mask[i] && tests[i]);
  }
  return newly;
}

int64_t count_zeros(const std::vector<uint8_t>& mask) { return std::count(mask.begin(), mask.end(), uint8_t{0}); }

// A parameter the model has shrunk (docs/algorithm.md#shrinking-during-training): the pass
// sees the dense parameter in which the removed weights are the pruned zeros they were.
// `dense` is the layout the model built; the removed rows, columns and groups are its units
// and groups that the kept layout lacks.
struct DenseView {
  PriorLayout dense;
  int64_t removed_rows = 0, removed_columns = 0, removed_groups = 0;
};

DenseView dense_view(const Optimizer& optimizer, size_t i, const PriorLayout& kept) {
  const ElementOrigin* origin = optimizer.element_origin(i);
  if (origin == nullptr || !origin->shrunk()) return {kept};
  DenseView view{PriorLayout::of(origin->dense_shape, kept.grouping)};
  view.removed_rows = view.dense.rows - kept.rows;
  view.removed_columns = view.dense.columns - kept.columns;
  view.removed_groups = view.dense.group_count() - kept.group_count();
  return view;
}

}  // namespace

SpikeSlabPrior::SpikeSlabPrior(const SpikeSlabOptions& options, ChannelCouplings couplings)
    : options_(options), couplings_(std::move(couplings)) {
  options_.validate();
}

void SpikeSlabPrior::attach(Optimizer& optimizer) const {
  PriorStateHolder& holder = holder_of(optimizer);
  for (PriorState& state : holder.prior_states()) state.weight_decay = static_cast<float>(options_.lambda1);
}

int64_t SpikeSlabPrior::first_cool_down_epoch() const {
  return options_.cool_down > 0 ? options_.run_epochs - options_.cool_down : options_.run_epochs;
}

bool SpikeSlabPrior::begin_epoch(int64_t epoch, Optimizer& optimizer, PriorPassReport* report) const {
  if (epoch <= options_.warm_up) return false;
  if (in_cool_down(epoch)) {
    // Back in the slab: one decay for the whole tensor (the fused step reads weight_decay
    // when there are no group decays); the masks stay as the last pass left them.
    for (PriorState& state : holder_of(optimizer).prior_states()) {
      state.weight_decay = static_cast<float>(options_.lambda1);
      state.group_weight_decay.clear();
    }
    return false;
  }
  const PriorPassReport result = run(optimizer);
  if (report) *report = result;
  return true;
}

PriorPassReport SpikeSlabPrior::run(Optimizer& optimizer) const {
  PriorStateHolder& holder = holder_of(optimizer);
  std::vector<PriorState>& states = holder.prior_states();
  const std::vector<NamedParameter>& parameters = optimizer.parameters();
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < parameters.size(); ++i) index_of[parameters[i].name] = i;

  // E-step statistics (docs/algorithm.md#spike-and-slab-e-step) of every grouped parameter:
  // a group's mean square and size are those of the dense group (a linear column that lost
  // rows lost zeros), and the thresholds' unit in mean(w^2) (docs/algorithm.md#threshold-scale)
  // is 1, the layer's own live mean(w^2), or He's variance 2 / fan_in of the dense layer
  // (shrinking does not move it).
  struct Statistics {
    DenseView view;
    std::vector<double> mean_squares;
    int64_t group_size = 0;
    double scale = 1.0;
  };
  std::vector<Statistics> statistics(parameters.size());
  for (size_t i = 0; i < parameters.size(); ++i) {
    const PriorLayout& layout = states[i].layout;
    if (layout.grouping == PriorGrouping::None) continue;
    Statistics& s = statistics[i];
    s.view = dense_view(optimizer, i, layout);
    s.mean_squares = layout.numel() > 0 ? group_mean_squares(parameters[i].tensor, layout)
                                        : std::vector<double>(layout.group_count(), 0.0);
    s.group_size = s.view.dense.group_size();
    if (s.group_size != layout.group_size())
      for (double& m : s.mean_squares) m *= static_cast<double>(layout.group_size()) / static_cast<double>(s.group_size);
    switch (options_.threshold_scale) {
      case ThresholdScale::Absolute: break;
      case ThresholdScale::Layer: s.scale = live_mean_square(s.mean_squares, states[i]); break;
      case ThresholdScale::FanIn: s.scale = fan_in_scale(s.view.dense); break;
    }
  }
  PriorPassReport report;
  // mac-budget (docs/algorithm.md#mac-budget): each layer's soft threshold rises by mu u_l.
  std::vector<double> uses(parameters.size(), 0.0);
  if (options_.has_mac_budget()) {
    std::vector<MacBudgetLayer> layers;
    double dense = 0;
    for (size_t i = 0; i < parameters.size(); ++i) {
      if (states[i].layout.grouping == PriorGrouping::None) continue;
      const auto found = weight_uses_.find(parameters[i].name);
      SLAB_CHECK(found != weight_uses_.end(), "spike-and-slab: the MAC budget needs the multiply-adds per weight of '",
                 parameters[i].name, "', which the program did not measure");
      uses[i] = found->second;
      const Statistics& s = statistics[i];
      const double group_macs = static_cast<double>(s.group_size) * uses[i];
      layers.push_back({s.mean_squares, options_.soft_threshold * s.scale, uses[i], group_macs});
      dense += group_macs * static_cast<double>(s.view.dense.group_count());
    }
    report.mac_shift = mac_budget_shift(layers, options_.mac_budget * dense);
    report.slab_mac_fraction = dense > 0 ? slab_macs(layers, report.mac_shift) / dense : 1.0;
  }
  for (size_t i = 0; i < parameters.size(); ++i) {
    const NamedParameter& p = parameters[i];
    PriorState& state = states[i];
    state.weight_decay = static_cast<float>(options_.lambda1);
    const PriorLayout& layout = state.layout;
    if (layout.grouping == PriorGrouping::None) continue;
    const Statistics& s = statistics[i];
    const DenseView& view = s.view;
    const std::vector<double>& mean_squares = s.mean_squares;
    const int64_t group_size = s.group_size;
    const double scale = s.scale;
    // The E-step: one decay per soft group.
    SpikeSlabOptions scaled = options_;
    scaled.soft_threshold = options_.soft_threshold * scale + report.mac_shift * uses[i];
    state.group_weight_decay.resize(mean_squares.size());
    const double middle = 0.5 * (options_.lambda0 + options_.lambda1);
    for (size_t g = 0; g < mean_squares.size(); ++g) {
      const double decay = group_weight_decay(mean_squares[g], group_size, scaled);
      state.group_weight_decay[g] = static_cast<float>(decay);
      report.spike_groups += decay > middle ? 1 : 0;
    }
    // The removed groups are all-zero groups of the dense parameter.
    if (view.removed_groups > 0 && group_weight_decay(0.0, group_size, scaled) > middle)
      report.spike_groups += view.removed_groups;
    report.groups += static_cast<int64_t>(mean_squares.size()) + view.removed_groups;
    // Hard pruning, permanent.
    switch (layout.grouping) {
      case PriorGrouping::ConvKernels: {
        if (layout.numel() > 0) {
          const ConvUnitTests tests =
              conv_hard_tests(p.tensor, options_.hard_test, options_.hard_threshold_conv * std::sqrt(scale),
                              view.removed_columns > 0, view.removed_rows > 0);
          report.newly_pruned_units += merge_mask(state.keep_columns, tests.keep_input_channels);
          report.newly_pruned_units += merge_mask(state.keep_rows, tests.keep_filters);
        }
        report.pruned_units += count_zeros(state.keep_columns) + count_zeros(state.keep_rows) + view.removed_columns +
                               view.removed_rows;
        report.prunable_units += view.dense.columns + view.dense.rows;
        break;
      }
      case PriorGrouping::LinearColumns:
        // The soft groups are these columns: the E-step's mean squares are the test's statistic.
        report.newly_pruned_units += merge_mask(state.keep_columns, columns_above(mean_squares, options_.hard_threshold_linear * scale));
        report.pruned_units += count_zeros(state.keep_columns) + view.removed_columns;
        report.prunable_units += view.dense.columns;
        break;
      case PriorGrouping::None: break;  // skipped above
    }
  }
  // prune-bn: a pruned filter's BatchNorm channel (scale and shift) and its conv bias are
  // masked too, so the channel is dead (without it the BN shift beta_o keeps it alive).
  if (options_.prune_bn) {
    auto follow = [&](const std::string& name, const std::vector<uint8_t>& filters) {
      auto it = index_of.find(name);
      if (it == index_of.end()) return;
      PriorState& follower = states[it->second];
      SLAB_CHECK(follower.layout.rows == static_cast<int64_t>(filters.size()) && follower.layout.columns == 1,
                 "prune-bn: '", name, "' has shape ", parameters[it->second].tensor.shape(), " but its conv has ",
                 filters.size(), " filters");
      merge_mask(follower.keep_rows, filters);
    };
    for (const ConvBatchNormPair& pair : couplings_.conv_batch_norm) {
      auto conv = index_of.find(pair.conv + ".weight");
      SLAB_CHECK(conv != index_of.end(), "prune-bn: the optimizer has no parameter '", pair.conv, ".weight'");
      const PriorState& conv_state = states[conv->second];
      if (conv_state.keep_rows.empty()) continue;
      follow(pair.batch_norm + ".weight", conv_state.keep_rows);
      follow(pair.batch_norm + ".bias", conv_state.keep_rows);
    }
    for (size_t i = 0; i < parameters.size(); ++i) {  // every pruned conv's own bias
      if (states[i].layout.grouping != PriorGrouping::ConvKernels || states[i].keep_rows.empty()) continue;
      const std::string& name = parameters[i].name;
      if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0)
        follow(name.substr(0, name.size() - 7) + ".bias", states[i].keep_rows);
    }
  }
  holder.apply_prior_masks();
  return report;
}

}  // namespace slab
