#include "models/small_cnn.h"

#include "layers/activation.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/pooling.h"

namespace slab {

SmallCNN::SmallCNN(int64_t in, int64_t classes, Generator& generator, int64_t width1, int64_t width2)
    : in_channels(in) {
  features = register_module("features", std::make_shared<Sequential>());
  features->emplace<Conv2d>(in, width1, 3, generator, conv_options(1, 1, false));
  features->emplace<BatchNorm2d>(width1);
  features->emplace<ReLU>();
  features->emplace<MaxPool2d>(2);
  features->emplace<Conv2d>(width1, width2, 3, generator, conv_options(1, 1, false));
  features->emplace<BatchNorm2d>(width2);
  features->emplace<ReLU>();
  features->emplace<MaxPool2d>(2);
  LinearOptions head;
  head.grouping = PriorGrouping::None;
  classifier = register_module("classifier", std::make_shared<Linear>(width2 * 7 * 7, classes, generator, head));
}

Tensor SmallCNN::forward(const Tensor& input) {
  SLAB_CHECK(
      input.defined() && input.dim() == 4 && input.size(1) == in_channels && input.size(2) == 28 && input.size(3) == 28,
      "SmallCNN: expected images [n, ", in_channels, ", 28, 28], got shape ",
      input.defined() ? input.shape() : Shape{});
  return classifier->forward(flatten(features->forward(input), 1));
}

}  // namespace slab
