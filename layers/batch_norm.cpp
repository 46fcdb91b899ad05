#include "layers/batch_norm.h"

#ifdef SLAB_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

namespace slab {

BatchNorm::BatchNorm(int64_t features, const BatchNormOptions& opts) : num_features(features), options(opts) {
  SLAB_CHECK(features > 0, "BatchNorm: num_features must be positive, got ", features);
  SLAB_CHECK(opts.eps > 0, "BatchNorm: eps must be positive, got ", opts.eps);
  SLAB_CHECK(opts.momentum >= 0 && opts.momentum <= 1, "BatchNorm: momentum must lie in [0, 1], got ", opts.momentum);
  if (opts.affine) {
    weight = register_parameter("weight", ones({features}), PriorGrouping::None);
    bias = register_parameter("bias", zeros({features}), PriorGrouping::None);
  }
  running_mean = register_buffer("running_mean", zeros({features}));
  running_var = register_buffer("running_var", ones({features}));
  num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, {DType::i64}));
}

ChannelValue BatchNorm::declare_channels(ChannelGraphBuilder& graph, ChannelValue input) {
  return graph.normaliser(*this, input, {weight, bias, running_mean, running_var, options.eps});
}

void BatchNorm::keep_channels(const ChannelNode&, const KeptChannels& kept) {
  for (const Tensor& t : {weight, bias, running_mean, running_var}) keep_along(t, 0, kept.output);
  num_features = static_cast<int64_t>(kept.output.size());
}

Tensor BatchNorm::forward(const Tensor& input) { return normalise(input, false); }

Tensor BatchNorm::forward_relu(const Tensor& input) { return normalise(input, true); }

Tensor BatchNorm::normalise(const Tensor& input, bool relu) {
  SLAB_CHECK(input.defined(), type_name(), ": undefined input");
  check_rank(input);
  SLAB_CHECK(input.size(1) == num_features, type_name(), "(", num_features, "): input of shape ", input.shape(),
             " has ", input.size(1), " channels, expected ", num_features);
  const bool training = is_training();
  // [n, c, l] (BatchNorm1d on sequences) is normalised as [n, c, l, 1].
  const bool sequence = input.dim() == 3;
  const Tensor x = sequence ? input.reshape({input.size(0), input.size(1), input.size(2), 1}) : input;
  Tensor y = relu ? batch_norm_relu(x, weight, bias, running_mean, running_var, training, options.momentum, options.eps)
                  : batch_norm(x, weight, bias, running_mean, running_var, training, options.momentum, options.eps);
  if (training) {
    // PyTorch counts the batches seen in training; with a fixed momentum the count is
    // informational, but it is part of the state dict, so it is kept exactly.
    if (num_batches_tracked.device().is_cpu()) {
      num_batches_tracked.data<int64_t>()[0] += 1;
    } else {
#ifdef SLAB_WITH_CUDA
      // On the device: reading the count back would make every layer wait for the GPU.
      cuda::add_to_int64(num_batches_tracked.data<int64_t>(), 1, num_batches_tracked.device().index);
#endif
    }
  }
  return sequence ? y.reshape(input.shape()) : y;
}

void BatchNorm1d::check_rank(const Tensor& input) const {
  SLAB_CHECK(input.dim() == 2 || input.dim() == 3, "BatchNorm1d(", num_features,
             "): expected an input [n, c] or [n, c, l], got shape ", input.shape());
}

void BatchNorm2d::check_rank(const Tensor& input) const {
  SLAB_CHECK(input.dim() == 4, "BatchNorm2d(", num_features, "): expected an input [n, c, h, w], got shape ",
             input.shape());
}

}  // namespace slab
