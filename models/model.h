// Model: a Module that is a whole network, and says how its channels are coupled for the
// pruning code (layers/channel_coupling.h, where the coupling types and their meaning are).
//
// The default channel_couplings() is the Sequential conv->BN pairs, right for networks
// built from Sequential chains only (MLP, the small CNN, VGG). Residual models override it,
// listing their streams with ResidualStreamBuilder.
#pragma once
#include <string>

#include "layers/channel_coupling.h"
#include "layers/module.h"

namespace slab {

class Model : public Module, public ChannelCoupled {
 public:
  ChannelCouplings channel_couplings() override;

 protected:
  // The default couplings plus `head_name` (a Linear after a flatten) reading the last conv
  // of the Sequential `features` (the small CNN, VGG).
  ChannelCouplings couplings_with_head(Module& features, const std::string& features_name,
                                       const std::string& head_name);
};

}  // namespace slab
