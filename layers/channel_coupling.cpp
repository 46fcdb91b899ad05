#include "layers/channel_coupling.h"

#include "layers/activation.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "layers/sequential.h"

namespace slab {

std::vector<ConvBatchNormPair> sequential_conv_batch_norm_pairs(Module& module) {
  std::vector<ConvBatchNormPair> pairs;
  for (auto& [name, child] : module.named_modules()) {
    if (dynamic_cast<Sequential*>(child) == nullptr) continue;
    const auto& items = child->children();
    const std::string prefix = name.empty() ? "" : name + ".";
    for (size_t i = 0; i + 1 < items.size(); ++i) {
      if (dynamic_cast<Conv2d*>(items[i].second.get()) && dynamic_cast<BatchNorm2d*>(items[i + 1].second.get()))
        pairs.push_back({prefix + items[i].first, prefix + items[i + 1].first});
    }
  }
  return pairs;
}

namespace {

// Modules that map channel c of their input to channel c of their output and a zero
// channel to a zero channel. A BatchNorm does so only as the conv's own pair (item right
// after it), whose effect the conv's dead set already includes; anywhere else its shift
// revives a zero channel.
bool channel_wise(Module* m, bool right_after_conv) {
  if (dynamic_cast<BatchNorm2d*>(m)) return right_after_conv;
  return dynamic_cast<ReLU*>(m) || dynamic_cast<MaxPool2d*>(m) || dynamic_cast<AvgPool2d*>(m) ||
         dynamic_cast<Dropout*>(m);
}

// A walk along a chain's items: `source` is the last conv whose channels reach the current
// point unmixed ("" when none). A conv becomes the source, a channel-wise module keeps it,
// anything else (a Linear, a flatten, a residual block) ends it.
struct ChainWalk {
  std::string source;
  bool right_after_conv = false;
  void pass(Module* m, const std::string& name) {
    const bool conv = dynamic_cast<Conv2d*>(m) != nullptr;
    if (conv) source = name;
    else if (!channel_wise(m, right_after_conv)) source.clear();
    right_after_conv = conv;
  }
};

}  // namespace

std::vector<ChannelReader> sequential_channel_readers(Module& module) {
  std::vector<ChannelReader> readers;
  for (auto& [name, child] : module.named_modules()) {
    if (dynamic_cast<Sequential*>(child) == nullptr) continue;
    const std::string prefix = name.empty() ? "" : name + ".";
    ChainWalk walk;
    for (const auto& [item_name, item] : child->children()) {
      Module* m = item.get();
      const bool reads_channels = dynamic_cast<Conv2d*>(m) || dynamic_cast<Linear*>(m);
      if (reads_channels && !walk.source.empty()) readers.push_back({walk.source, prefix + item_name, false});
      walk.pass(m, prefix + item_name);
    }
  }
  return readers;
}

std::string trailing_conv(Module& chain, const std::string& chain_name) {
  ChainWalk walk;
  for (const auto& [name, item] : chain.children()) walk.pass(item.get(), chain_name + "." + name);
  return walk.source;
}

ChannelCouplings channel_couplings(Module& module) {
  if (auto* coupled = dynamic_cast<ChannelCoupled*>(&module)) return coupled->channel_couplings();
  return {sequential_conv_batch_norm_pairs(module), {}, sequential_channel_readers(module)};
}

void ResidualStreamBuilder::close() {
  if (!open_) return;
  // A single member is no sum (e.g. a stem whose first block has a projection shortcut):
  // its readers read that member's channels.
  const bool sum = current_.members.size() >= 2;
  if (sum) streams_.push_back(current_);
  for (const std::string& reader : current_readers_) {
    if (sum) readers_.push_back({current_.name, reader, true});
    else if (current_.members.size() == 1) readers_.push_back({current_.members[0].module, reader, false});
  }
  current_readers_.clear();
  open_ = false;
}

void ResidualStreamBuilder::read_by(const std::string& module) {
  SLAB_CHECK(open_, "ResidualStreamBuilder: read_by('", module, "') before begin()");
  current_readers_.push_back(module);
}

void ResidualStreamBuilder::begin(int64_t channels) {
  close();
  current_ = ResidualStream{};
  current_.channels = channels;
  open_ = true;
}

void ResidualStreamBuilder::begin_padded(int64_t channels, int64_t offset) {
  SLAB_CHECK(open_, "ResidualStreamBuilder: a padded shortcut needs a stream to carry on");
  std::vector<StreamMember> carried = current_.members;
  for (StreamMember& member : carried) member.channel_offset += offset;
  begin(channels);
  current_.members = std::move(carried);
}

void ResidualStreamBuilder::add(const std::string& module) {
  SLAB_CHECK(open_, "ResidualStreamBuilder: add('", module, "') before begin()");
  current_.members.push_back({module, 0});
  // The stream is labelled by the block of its latest member ("layer1.2.bn2" -> "layer1.2").
  const size_t dot = module.rfind('.');
  current_.name = dot == std::string::npos ? module : module.substr(0, dot);
}

std::vector<ResidualStream> ResidualStreamBuilder::finish() {
  close();
  return std::move(streams_);
}

}  // namespace slab
