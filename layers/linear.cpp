#include "layers/linear.h"

#include "layers/init.h"

namespace slab {

Linear::Linear(int64_t in, int64_t out, Generator& generator, const LinearOptions& options)
    : in_features(in), out_features(out) {
  SLAB_CHECK(in > 0 && out > 0, "Linear: feature counts must be positive, got in_features ", in, ", out_features ",
             out);
  SLAB_CHECK(options.grouping != PriorGrouping::ConvKernels,
             "Linear: a Linear weight cannot be grouped as convolution kernels (use LinearColumns or None)");
  weight = register_parameter("weight", Tensor::empty({out, in}), options.grouping);
  if (options.bias) bias = register_parameter("bias", Tensor::empty({out}), PriorGrouping::None);
  pytorch_default_init(weight, bias, generator);
}

Tensor Linear::forward(const Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() >= 1 && input.size(-1) == in_features, "Linear(", in_features, " -> ",
             out_features, "): expected an input whose last dimension is ", in_features, ", got shape ",
             input.defined() ? input.shape() : Shape{});
  return linear(input, weight, bias);
}

}  // namespace slab
