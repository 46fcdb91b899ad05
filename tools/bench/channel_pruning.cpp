#include "tools/bench/channel_pruning.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/trace.h"
#include "layers/synthetic_pruning.h"
#include "layers/shrink.h"
#include "models/factory.h"
#include "tools/bench/median.h"

namespace slab::tools {

namespace {

// Multiply-adds of one image through `model`, from the ops an evaluation-mode forward pass
// runs (core/trace.h): a conv's output positions x its weight elements, a linear layer's
// weight elements, as slab-export counts them (tools/export/network_graph.h's graph_cost).
double multiply_adds(Module& model, const Shape& input) {
  Shape one = input;
  one[0] = 1;
  const bool training = model.is_training();
  model.eval();
  trace::Tracer tracer;
  {
    NoGradGuard no_grad;
    trace::ScopedTrace scope(tracer);
    (void)model.forward(zeros(one));
  }
  if (training) model.train();
  double macs = 0;
  for (const trace::TracedOp& op : tracer.ops) {
    if (op.op == "conv2d")
      macs += static_cast<double>(op.output.size(2) * op.output.size(3) * op.inputs[1].numel());
    else if (op.op == "linear")
      macs += static_cast<double>(op.inputs[1].numel());
  }
  return macs;
}

}  // namespace

ShrunkenPair make_shrunken_pair(const std::string& model, int64_t classes, const Shape& input, uint64_t seed,
                                double fraction) {
  ShrunkenPair pair;
  pair.dense = make_model(model, classes, input[1], seed);
  pair.shrunk = make_model(model, classes, input[1], seed);
  prune_channels_synthetically(*pair.dense, fraction);
  prune_channels_synthetically(*pair.shrunk, fraction);
  pair.summary = shrink_dead_channels(*pair.shrunk).summary();
  pair.dense_macs = multiply_adds(*pair.dense, input);
  pair.shrunk_macs = multiply_adds(*pair.shrunk, input);
  return pair;
}

void print_shrink_speedup(const char* mode, const std::string& model, int64_t batch, double fraction,
                          const ShrunkenPair& pair, const std::vector<double>& dense_rates,
                          const std::vector<double>& shrunk_rates, double coefficient, bool targeted) {
  const double dense_rate = median(dense_rates), shrunk_rate = median(shrunk_rates);
  std::vector<double> ratios;
  for (size_t i = 0; i < std::min(dense_rates.size(), shrunk_rates.size()); ++i)
    ratios.push_back(shrunk_rates[i] / dense_rates[i]);
  const double I = pair.macs_ratio(), S = shrunk_rate / dense_rate;
  std::printf("%s\n", pair.summary.c_str());
  std::printf("multiply-adds per image: dense %.2f M, shrunken %.2f M (I = %.3f)\n", pair.dense_macs / 1e6,
              pair.shrunk_macs / 1e6, I);
  std::printf("images/s: dense masked %.1f, shrunken %.1f (S = %.3f; median of the per-pass ratios %.3f)\n",
              dense_rate, shrunk_rate, S, median(ratios));
  if (targeted)
    std::printf("target S - 1 >= %.1f (I - 1): %.3f >= %.3f: %s\n", coefficient, S - 1, coefficient * (I - 1),
                S - 1 >= coefficient * (I - 1) ? "met" : "missed");
  else
    std::printf("target: none at batch %lld (reported only); S - 1 = %.3f, %.1f (I - 1) = %.3f\n",
                static_cast<long long>(batch), S - 1, coefficient, coefficient * (I - 1));
  std::printf("mode=%s model=%s batch=%lld prune=%.2f dense_imgs_per_s=%.1f shrunk_imgs_per_s=%.1f I=%.3f S=%.3f "
              "S_paired=%.3f target=%s\n",
              mode, model.c_str(), static_cast<long long>(batch), fraction, dense_rate, shrunk_rate, I, S,
              median(ratios),
              !targeted ? "none" : (S - 1 >= coefficient * (I - 1) ? "met" : "missed"));
}

}  // namespace slab::tools
