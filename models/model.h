// Model: a Module that is a whole network, and says how its channels are coupled for the
// pruning code (layers/channel_coupling.h, where the coupling types and their meaning are).
//
// The default channel_couplings() is the Sequential conv->BN pairs, right for networks
// built from Sequential chains only (MLP, the small CNN, VGG). Residual models override it,
// listing their streams with ResidualStreamBuilder.
#pragma once
#include "layers/channel_coupling.h"
#include "layers/module.h"

namespace slab {

class Model : public Module, public ChannelCoupled {
 public:
  ChannelCouplings channel_couplings() override;
};

}  // namespace slab
