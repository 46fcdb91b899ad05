// Exact removal of dead channels (docs/algorithm.md#exact-channel-removal).
//
// shrink_dead_channels removes, in place, every channel the channel analysis
// (layers/channel_analysis.h) finds removable: the model keeps its module objects; their
// weight, bias and BatchNorm tensors are replaced by their kept slices (every handle to a
// tensor follows, the optimizer's parameter handles and the gradients included) and their
// channel counts are updated. A removed channel that is a non-zero constant where a kept
// filter reads it is folded into that reader first (its bias, or the running mean of the
// BatchNorm that reads it), so the shrunken network computes what the masked one did, in
// training and in evaluation. Dead constants that no reader can absorb exactly (a
// zero-padded conv reads them) stay and are counted.
//
// The optimizer's own state is not touched here: the report's parameter_slices say which
// elements of every parameter survive, and Optimizer::keep_elements slices the state with
// them (docs/algorithm.md#shrinking-during-training).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "layers/channel_graph.h"
#include "layers/module.h"
#include "layers/parameter_slice.h"

namespace slab {

struct ShrinkOptions {
  bool dry_run = false;  // report what would go, change nothing
};

// One mixer or normaliser and what stays of it.
struct ShrunkLayer {
  std::string name;
  ChannelRole role = ChannelRole::Mixer;
  int64_t inputs_before = 0, inputs_after = 0;
  int64_t outputs_before = 0, outputs_after = 0;
  std::vector<int64_t> kept_inputs, kept_outputs;  // old channel indices, ascending
};

struct ShrinkReport {
  std::vector<ShrunkLayer> layers;  // every mixer and normaliser, in forward order
  int64_t channels_before = 0, channels_removed = 0;  // over the mixers' outputs
  int64_t folded = 0;      // removed constant channels absorbed by a reader
  int64_t unfoldable = 0;  // dead constant channels kept (a zero-padded reader)
  int64_t parameters_before = 0, parameters_after = 0;
  // Every parameter of the model (named_parameters order) and what survives of it; a
  // parameter the shrink leaves whole keeps every index. Empty for a dry run.
  std::vector<ParameterSlice> parameter_slices;
  // Per channel-graph node, the channels it kept (what apply_kept_channels replays).
  std::vector<KeptChannels> node_kept;
  bool changed() const { return parameters_after != parameters_before || channels_removed > 0; }
  std::string summary() const;  // "shrink: channels 1232 -> 800, parameters ... -> ..., folded f, kept unfoldable u"
};

ShrinkReport shrink_dead_channels(Module& model, const ShrinkOptions& options = {});

// Shrinks `model` as a recorded shrink did (report.node_kept of a model of the same
// architecture and channel counts), whatever its tensors hold: the first step of loading a
// shrunken checkpoint into a freshly built model. No folds: the loaded tensors replace the
// values. Returns the parameter slices, as shrink_dead_channels reports them.
std::vector<ParameterSlice> apply_kept_channels(Module& model, const std::vector<KeptChannels>& node_kept);

// A model's shrink history (Module::shrink_history) as one line of text and back, for a
// checkpoint's metadata: shrinks joined by ';', nodes by '|', a node as
// "<output channels>:<kept outputs>" then "/<input channels>:<kept inputs>" per input term,
// index lists comma-separated.
using ShrinkHistory = std::vector<std::vector<KeptChannels>>;
std::string shrink_history_text(const ShrinkHistory& history);
ShrinkHistory parse_shrink_history(const std::string& text);

}  // namespace slab
