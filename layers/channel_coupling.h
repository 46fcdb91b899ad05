// Channel couplings: what the pruning code needs to know about how a network's channels
// are tied together (docs/algorithm.md#batchnorm-of-pruned-filters, and the sparsity report: a
// channel is removed only when it is dead through BatchNorm and residual additions).
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
//  * readers: (source, reader) pairs where the Conv2d or Linear `reader` reads the output
//    channels of `source` through channel-wise ops only (ReLU, pooling, flatten, dropout):
//    channel c feeds a conv reader's input channel c, or a Linear reader's input columns
//    [c k, (c + 1) k) after a flatten of k positions per channel. The source is a conv (its
//    channel after its paired BatchNorm), a BatchNorm, or a residual stream
//    (`from_stream`, by the stream's name; a reader of a stream inside a stage reads a
//    partial sum, and the stream's final dead set is a subset of the partial sum's, so
//    using it never overcounts). A dead source channel removes the reader's weights that
//    read it (the sparsity report counts them).
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

struct ChannelReader {
  std::string source;
  std::string reader;
  bool from_stream = false;
};

struct ChannelCouplings {
  std::vector<ConvBatchNormPair> conv_batch_norm;
  std::vector<ResidualStream> residual_streams;
  std::vector<ChannelReader> readers;
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
// Conv2d -> (channel-wise ops) -> Conv2d or Linear inside any Sequential of `module` (a
// network whose head outside the Sequential reads its last conv adds that reader itself).
std::vector<ChannelReader> sequential_channel_readers(Module& module);
// The qualified name of the last Conv2d of `chain` (named `chain_name`) when only
// channel-wise ops follow it, else "": the source a head after the chain reads.
std::string trailing_conv(Module& chain, const std::string& chain_name);

// Collects residual streams in forward order (for residual networks' channel_couplings()).
class ResidualStreamBuilder {
 public:
  // Closes the current stream (if any) and opens one of `channels` channels.
  void begin(int64_t channels);
  // Closes the current stream and opens one that carries it on through a zero-padding
  // (option-A) shortcut: every current member re-enters, its offset raised by `offset`.
  void begin_padded(int64_t channels, int64_t offset);
  void add(const std::string& module);
  // `module` (a Conv2d or Linear) reads the current sum of the stream.
  void read_by(const std::string& module);
  std::vector<ResidualStream> finish();
  // Valid after finish(): the readers of every stream (of its single member when a
  // "stream" had one member and so is no sum).
  const std::vector<ChannelReader>& readers() const { return readers_; }

 private:
  void close();
  bool open_ = false;
  ResidualStream current_;
  std::vector<std::string> current_readers_;
  std::vector<ResidualStream> streams_;
  std::vector<ChannelReader> readers_;
};

}  // namespace slab
