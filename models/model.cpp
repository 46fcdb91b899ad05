#include "models/model.h"

namespace slab {

ChannelCouplings Model::channel_couplings() { return {sequential_conv_batch_norm_pairs(*this), {}}; }

}  // namespace slab
