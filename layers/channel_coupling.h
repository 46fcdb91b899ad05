// Channel couplings: what the pruning code needs to know about how a network's channels
// are tied together (ALGORITHM.md 3, "BatchNorm", and the sparsity report: a channel is
// removed only when it is dead through BatchNorm and residual additions).
//
// They live in layers/ because bayes/ reads them (prune-bn, the sparsity report) and may
// not know models/: a network declares its couplings by implementing ChannelCoupled, the
// way a layer declares its prior grouping.
//
// Names are qualified module names as named_modules() gives them ("layer1.0.conv1"); the
// module's tensors are "<name>.weight", "<name>.bias", "<name>.running_mean", ...
//
//  * conv_batch_norm: (conv, batch_norm) pairs where the BatchNorm2d normalises exactly the
//    output channels of the Conv2d, channel o with channel o. A pruned filter o of `conv`
//    leaves channel o of the BN emitting its shift beta_o unless BN channel o is zeroed.
//  * residual_streams: each stream is a tensor built by residual additions, e.g. the
//    output of a ResNet stage. Channel j of the stream is the sum, over its members, of
//    channel (j - channel_offset) of the member's output, where that index lies inside
//    the member's channels. A member is the module whose output enters the sum (the BN
//    at the end of a post-activation branch, the last conv of a pre-activation branch, a
//    shortcut's BN or conv); option-A shortcuts (zero-padded channels) appear as the
//    previous stage's members again, with the padding as channel_offset. So stream
//    channel j is dead exactly when, for every member, channel j - offset is dead or
//    outside the member. Members are listed in forward order.
//
// Networks built from Sequential chains only (MLP, the small CNN, VGG) need not say
// anything: their pairs are a Conv2d immediately followed by a BatchNorm2d inside a
// Sequential. Residual networks implement ChannelCoupled.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.h"

namespace slab {

struct ConvBatchNormPair {
  std::string conv;
  std::string batch_norm;
};

struct StreamMember {
  std::string module;
  int64_t channel_offset = 0;
};

struct ResidualStream {
  std::string name;  // where the stream ends, e.g. "layer1" (a readable label, not a key)
  int64_t channels = 0;
  std::vector<StreamMember> members;
};

struct ChannelCouplings {
  std::vector<ConvBatchNormPair> conv_batch_norm;
  std::vector<ResidualStream> residual_streams;
};

// Implemented by a Module (models/model.h's Model) that knows its own couplings.
class ChannelCoupled {
 public:
  virtual ~ChannelCoupled() = default;
  virtual ChannelCouplings channel_couplings() = 0;
};

// The couplings of any module: its own when it is ChannelCoupled, otherwise the
// Sequential conv->BN pairs.
ChannelCouplings channel_couplings(Module& module);

// Conv2d -> BatchNorm2d pairs that follow each other inside any Sequential of `module`.
std::vector<ConvBatchNormPair> sequential_conv_batch_norm_pairs(Module& module);

// Collects residual streams in forward order (for residual networks' channel_couplings()).
class ResidualStreamBuilder {
 public:
  // Closes the current stream (if any) and opens one of `channels` channels.
  void begin(int64_t channels);
  // Closes the current stream and opens one that carries it on through a zero-padding
  // (option-A) shortcut: every current member re-enters, its offset raised by `offset`.
  void begin_padded(int64_t channels, int64_t offset);
  void add(const std::string& module);
  std::vector<ResidualStream> finish();

 private:
  void close();
  bool open_ = false;
  ResidualStream current_;
  std::vector<ResidualStream> streams_;
};

}  // namespace slab
