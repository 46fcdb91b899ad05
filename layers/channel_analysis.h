// Which channels of a network are dead, from its channel graph (layers/channel_graph.h;
// docs/algorithm.md#exact-channel-removal).
//
// Forward, every channel of every value is Live, Zero (identically 0 in training and in
// evaluation) or Constant (the same number at every position and example, one number in
// training and one in evaluation: a BatchNorm shift in training, its eval-mode affine of
// the running mean otherwise). Backward, a channel is unread by a mixer when every weight
// of its live filters that reads the channel is zero.
//
// Channels are tied into spaces: a pass-through, normaliser, flatten or depthwise conv
// keeps its input's channel c as its output's channel c, and a residual add ties each
// term's channel c to its output channel target(c). A space channel can be removed when
// every mixer that reads it either does not read it, or reads it as Zero, or reads it as a
// Constant it can absorb exactly (the fold); the network's input and output and the
// channels of grouped (non-depthwise) convs are never removed. Removing a mixer's filter
// can leave its input channels unread and a removed input can leave a filter zero, so the
// decisions are iterated to a fixed point.
#pragma once
#include <cstdint>
#include <vector>

#include "layers/channel_graph.h"

namespace slab {

enum class ChannelState : uint8_t { Live, Zero, Constant };

struct ChannelFact {
  ChannelState state = ChannelState::Live;
  double train = 0, eval = 0;  // the constant (Constant)
};

// Where a removed Constant channel's contribution goes, per reading mixer.
enum class FoldTarget : uint8_t {
  None,             // the channel is Zero or unread there: nothing to fold
  Impossible,       // a Constant the mixer cannot absorb exactly (a zero-padded conv)
  Bias,             // the mixer's own bias (the constant is the same in both modes)
  RunningMean,      // the BatchNorm that reads the mixer's output directly: its running mean
                    // in evaluation; in training the batch mean removes a constant shift
};

struct ChannelRead {
  int node = -1;   // the reading mixer
  int value = -1;  // the value it reads
};

struct ChannelAnalysis {
  std::vector<std::vector<ChannelFact>> facts;  // per value, per channel
  std::vector<int64_t> base;                    // per value: its first element (value channel c is element base + c)
  std::vector<int64_t> element_space;           // per element: its space (a representative element)
  std::vector<bool> removed;                    // per element
  std::vector<ChannelRead> reads;               // every mixer read across a space boundary
  int64_t unfoldable = 0;                       // dead Constant space channels kept: no exact fold
  int64_t folded = 0;                           // removed Constant channels some kept filter read
  // Per read, per filter of its mixer: what the removed Constant channels contributed, in
  // training and in evaluation (sum over them of the filter's block sum times the constant).
  std::vector<std::vector<double>> fold_train, fold_eval;

  bool removed_at(int value, int64_t c) const { return removed[static_cast<size_t>(base[static_cast<size_t>(value)] + c)]; }
  // The kept channels of a value (ascending).
  std::vector<int64_t> kept(const ChannelGraph& graph, int value) const;
  int64_t removed_count(const ChannelGraph& graph, int value) const;
  // How a removed channel c of `read` is absorbed by its mixer.
  FoldTarget fold(const ChannelGraph& graph, const ChannelRead& read, int64_t c) const;
};

ChannelAnalysis analyse_channels(const ChannelGraph& graph);

// The normaliser node that is the only reader of `value`, or -1.
int sole_normaliser_reader(const ChannelGraph& graph, int value);

}  // namespace slab
