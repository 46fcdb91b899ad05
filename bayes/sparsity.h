// Sparsity report (docs/algorithm.md#sparsity-report): per layer and in total, in parameters
// and in FLOPs.
//
// Parameters: exact zeros over all parameters, biases and BatchNorm included (the paper's
// count: Example 1's 0.9897 is 4975 of 5027); for a model the optimizer saw shrink, over the
// dense parameters, the removed weights counted as zeros (the per-layer rows and the FLOPs
// are of the shrunken layers).
// Channels, from the channel graph (layers/channel_graph.h, layers/channel_analysis.h):
// for each conv, the filters pruned by the hard mask and the filters whose channel is
// dead, i.e. identically zero after the BatchNorm that reads it alone (prune-bn zeroes its
// scale and shift; without it the BN shift keeps a pruned filter's channel alive, as in
// the reference) or removable by the shrinker. For each residual add, a channel counts as
// dead only when every term that feeds it is. A dead channel also removes the weights
// that read it: the next conv's input channel, or a Linear head's columns.
// Removed weights (per conv and Linear, and `conv_removed` over all convs): weights that
// are zero, in a dead filter, or reading a dead channel; what a pruned model drops.
// FLOPs: multiply-adds per example. A conv costs output positions x the nonzero weights of
// its live filters (positions are measured by one forward pass on an example input: the
// autograd node that reads the conv's weight made its output); a Linear costs its
// nonzero weights. Dense = the same
// with every weight counted.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/shape.h"
#include "bayes/spike_slab.h"
#include "layers/module.h"
#include "optim/optimizer.h"

namespace slab {

struct LayerSparsity {
  std::string name;   // the module ("layer1.0.conv1") or parameter name
  std::string kind;   // "conv", "linear", "batchnorm", "other"
  Shape shape;        // of the weight
  int64_t parameters = 0, zeros = 0;        // all the module's own parameters
  int64_t filters = 0, pruned_filters = 0, dead_filters = 0;  // conv output filters
  int64_t columns = 0, pruned_columns = 0;  // conv input channels / linear input columns
  int64_t dead_columns = 0;                 // of those, read from a dead channel
  int64_t weights = 0, removed_weights = 0; // the weight tensor (conv, linear)
  double dense_macs = 0, kept_macs = 0;     // per example (0 when positions are unknown)
};

struct StreamSparsity {
  std::string name;
  int64_t channels = 0, dead_channels = 0;
};

struct SparsityReport {
  std::vector<LayerSparsity> layers;
  std::vector<StreamSparsity> streams;
  int64_t parameters = 0, zeros = 0;
  double dense_macs = 0, kept_macs = 0;
  int64_t conv_weights = 0, conv_removed_weights = 0;
  bool macs_measured = false;

  double sparsity() const { return parameters ? static_cast<double>(zeros) / static_cast<double>(parameters) : 0.0; }
  double flops_kept() const { return dense_macs > 0 ? kept_macs / dense_macs : 1.0; }
  double conv_removed() const {
    return conv_weights ? static_cast<double>(conv_removed_weights) / static_cast<double>(conv_weights) : 0.0;
  }
  std::string table() const;    // per-layer lines and a total line
  std::string summary() const;  // "sparsity=... zeros=.../... conv_removed=... macs=...->... (...%)"
};

// `optimizer` (may be null) supplies the hard masks; `example_input` (may be empty) is the
// shape of one input, e.g. {1, 3, 32, 32}, for the conv output positions (measured only
// while grad mode is on: the positions are read from the autograd graph).
SparsityReport sparsity_report(Module& model, const Optimizer* optimizer, const Shape& example_input);

// Multiply-adds per weight and per example of every conv and linear weight, by parameter
// name (a conv's output positions from one forward pass on `example_input`, a linear
// layer's 1): what the spike-and-slab prior's MAC budget weighs its groups by.
WeightUses weight_uses(Module& model, const Shape& example_input);

}  // namespace slab
