// trace_network: a Module as a NetworkGraph (tools/export/network_graph.h), from one
// evaluation-mode forward pass of an example input under the op tracer (core/trace.h).
//
// The graph is what the traced ops computed: walking back from the output, each tensor is
// the network's input, a parameter or buffer of the module (named by its state-dict key), or
// the output of a traced op, which becomes one or two graph nodes. A traced op with no graph
// equivalent, or a tensor made outside the traced ops, is an Error that names the op and the
// shapes. The one constant accepted is a block of zeros concatenated along the channels
// (the option-A shortcut of the CIFAR ResNets, whose shrunken form also narrows its input:
// slice_channels): it becomes pad_channels.
#pragma once
#include "layers/module.h"
#include "tools/export/network_graph.h"

namespace slab::tools {

// Traces `model` (switched to evaluation mode and left there) on one example of shape
// `input_shape` ([1, C, H, W]). The graph holds the module's tensors themselves (no copy).
NetworkGraph trace_network(Module& model, const Shape& input_shape);

}  // namespace slab::tools
