#include "layers/synthetic_pruning.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "core/error.h"
#include "layers/channel_graph.h"

namespace slab {

namespace {

// Sets elements [first, size(0)) along dim 0 of `tensor` to zero.
void zero_rows_from(const Tensor& tensor, int64_t first) {
  if (!tensor.defined() || first >= tensor.size(0)) return;
  NoGradGuard no_grad;
  const int64_t rows = tensor.size(0), per_row = tensor.numel() / rows;
  std::vector<double> values = tensor.to_vector();
  std::fill(values.begin() + first * per_row, values.end(), 0.0);
  tensor.copy_from(from_vector(values, tensor.shape(), {tensor.dtype(), tensor.device()}));
}

}  // namespace

int64_t prune_channels_synthetically(Module& model, double fraction) {
  SLAB_CHECK(fraction >= 0 && fraction < 1, "prune_channels_synthetically: the fraction must be in [0, 1), not ", fraction);
  const ChannelGraph graph = channel_graph(model);
  int64_t pruned = 0;
  for (const ConvBatchNormPair& pair : mixer_normaliser_pairs(graph)) {
    const ChannelNode* mixer = graph.node_named(pair.conv);
    const ChannelNode* normaliser = graph.node_named(pair.batch_norm);
    SLAB_CHECK(mixer != nullptr && normaliser != nullptr, "prune_channels_synthetically: no node ", pair.conv,
               " or ", pair.batch_norm);
    const int64_t channels = mixer->mixer.weight.size(0);
    // ceil((1 - p) C), the product's rounding error kept from lifting an exact count (0.75 x 16).
    const int64_t kept = static_cast<int64_t>(std::ceil((1.0 - fraction) * static_cast<double>(channels) - 1e-9));
    zero_rows_from(mixer->mixer.weight, kept);
    zero_rows_from(mixer->mixer.bias, kept);
    zero_rows_from(normaliser->normaliser.scale, kept);
    zero_rows_from(normaliser->normaliser.shift, kept);
    pruned += channels - kept;
  }
  return pruned;
}

}  // namespace slab
