// Model: a Module that is a whole network. Its channels are declared like every module's
// (Module::declare_channels, layers/channel_graph.h): networks built from Sequential
// chains describe their forward from their chains; residual models describe their blocks.
#pragma once
#include <string>

#include "layers/channel_graph.h"
#include "layers/module.h"

namespace slab {

class Model : public Module {
 protected:
  // The forward of an image classifier `features` -> flatten -> `head` (the small CNN, VGG).
  ChannelValue declare_features_head(ChannelGraphBuilder& graph, ChannelValue input, Module& features,
                                     Module& head);
};

}  // namespace slab
