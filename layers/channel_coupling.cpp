#include "layers/channel_coupling.h"

#include "layers/batch_norm.h"
#include "layers/conv2d.h"
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

ChannelCouplings channel_couplings(Module& module) {
  if (auto* coupled = dynamic_cast<ChannelCoupled*>(&module)) return coupled->channel_couplings();
  return {sequential_conv_batch_norm_pairs(module), {}};
}

void ResidualStreamBuilder::close() {
  // A single member is no sum (e.g. a stem whose first block has a projection shortcut).
  if (open_ && current_.members.size() >= 2) streams_.push_back(current_);
  open_ = false;
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
