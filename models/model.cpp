#include "models/model.h"

namespace slab {

ChannelValue Model::declare_features_head(ChannelGraphBuilder& graph, ChannelValue input, Module& features,
                                          Module& head) {
  return graph.child("classifier", head, graph.flatten(graph.child("features", features, input)));
}

}  // namespace slab
