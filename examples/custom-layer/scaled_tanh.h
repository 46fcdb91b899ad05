// ScaledTanh: a layer with a learnt amplitude per channel, y = a[c] tanh(x[n, c, ...])
// (channel_scaled_tanh.h). Inputs [n, c] or [n, c, h, w]; a starts at 1 (plain tanh).
//
// Prior grouping (layers/module.h): the amplitude is PriorGrouping::None. A per-channel
// scale is like a BatchNorm weight: the spike-and-slab prior always gives it the slab and
// never prunes it; the groups that carry the pruning are the kernels of the convolutions
// before and after it (ConvKernels) and a Linear's input columns (LinearColumns). A rank-1
// tensor can only be None (optim/prior_state.h checks the rank).
//
// The layer maps channel c to channel c and a zero channel to a zero one (tanh(0) = 0),
// so a channel pruned before it stays dead after it; slab's channel walk does not know
// this layer, so a model using it lists the readers through it itself (tanh_cnn.h).
#pragma once
#include "layers/module.h"

namespace custom_layer {

class ScaledTanh : public slab::Module {
 public:
  explicit ScaledTanh(int64_t channels);
  slab::Tensor forward(const slab::Tensor& input) override;
  std::string type_name() const override { return "ScaledTanh"; }

  const int64_t channels;
  slab::Tensor amplitude;  // [channels]
};

}  // namespace custom_layer
