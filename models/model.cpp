#include "models/model.h"

namespace slab {

ChannelCouplings Model::channel_couplings() {
  return {sequential_conv_batch_norm_pairs(*this), {}, sequential_channel_readers(*this)};
}

ChannelCouplings Model::couplings_with_head(Module& features, const std::string& features_name,
                                            const std::string& head_name) {
  ChannelCouplings couplings = Model::channel_couplings();
  const std::string source = trailing_conv(features, features_name);
  if (!source.empty()) couplings.readers.push_back({source, head_name, false});
  return couplings;
}

}  // namespace slab
