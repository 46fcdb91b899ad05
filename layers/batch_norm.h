// BatchNorm1d / BatchNorm2d, PyTorch's nn.BatchNorm with track_running_stats = True.
//
// Training: y = (x - mean_B) / sqrt(var_B + eps) * weight + bias over the batch (and
// spatial) positions of each channel; running = (1 - momentum) running + momentum batch,
// with the unbiased batch variance in running_var; num_batches_tracked += 1.
// Evaluation: the running statistics replace the batch ones.
// State dict entries, as PyTorch: weight, bias (parameters), running_mean, running_var
// (float buffers), num_batches_tracked (an int64 buffer of shape []).
// Prior grouping: none (docs/algorithm.md#prior-groups: BatchNorm is always in the slab, never
// pruned; bayes/ zeroes the BN channel of a pruned filter itself).
#pragma once
#include "layers/module.h"

namespace slab {

struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;  // false: no weight and bias (y is only normalised)
};

class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  // relu(forward(input)) in one pass over memory each way (core/ops.h batch_norm_relu): the
  // models call it where a ReLU follows, and Sequential where a ReLU module comes next.
  Tensor forward_relu(const Tensor& input);
  // A normaliser; it shrinks by slicing its parameters and running statistics.
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override;
  void keep_channels(const ChannelNode& node, const KeptChannels& kept) override;

  int64_t num_features;  // changes only when the network shrinks (keep_channels)
  const BatchNormOptions options;
  Tensor weight;               // [num_features], 1 at start (undefined when !affine)
  Tensor bias;                 // [num_features], 0 at start (undefined when !affine)
  Tensor running_mean;         // [num_features], 0 at start
  Tensor running_var;          // [num_features], 1 at start
  Tensor num_batches_tracked;  // int64 [], 0 at start

 protected:
  BatchNorm(int64_t num_features, const BatchNormOptions& options);
  // Throws unless the input's rank suits the layer (1d: [n, c] or [n, c, l]; 2d: [n, c, h, w]).
  virtual void check_rank(const Tensor& input) const = 0;

 private:
  Tensor normalise(const Tensor& input, bool relu);
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, const BatchNormOptions& options = {}) : BatchNorm(num_features, options) {}
  std::string type_name() const override { return "BatchNorm1d"; }

 protected:
  void check_rank(const Tensor& input) const override;
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, const BatchNormOptions& options = {}) : BatchNorm(num_features, options) {}
  std::string type_name() const override { return "BatchNorm2d"; }

 protected:
  void check_rank(const Tensor& input) const override;
};

}  // namespace slab
