#include "models/vgg.h"

#include <vector>

#include "layers/activation.h"
#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/pooling.h"

namespace slab {

namespace {
constexpr int64_t kPool = 0;  // "M" in the configurations

std::vector<int64_t> vgg_configuration(int64_t depth) {
  switch (depth) {
    case 11:
      return {64, kPool, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool};
    case 13:
      return {64, 64, kPool, 128, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool};
    case 16:
      return {64, 64, kPool, 128, 128, kPool, 256, 256, 256, kPool, 512, 512, 512, kPool, 512, 512, 512, kPool};
    case 19:
      return {64,  64,  kPool, 128, 128,   kPool, 256, 256, 256, 256,  kPool,
              512, 512, 512,   512, kPool, 512,   512, 512, 512, kPool};
    default:
      break;
  }
  SLAB_FAIL("VGG: depth ", depth, " is not one of 11, 13, 16, 19");
}
}  // namespace

VGG::VGG(int64_t depth_, int64_t in, int64_t classes, Generator& generator) : depth(depth_), in_channels(in) {
  features = register_module("features", std::make_shared<Sequential>());
  int64_t channels = in;
  for (int64_t entry : vgg_configuration(depth)) {
    if (entry == kPool) {
      features->emplace<MaxPool2d>(2);
      continue;
    }
    features->emplace<Conv2d>(channels, entry, 3, generator, conv_options(1, 1, true));
    features->emplace<BatchNorm2d>(entry);
    features->emplace<ReLU>();
    channels = entry;
  }
  features->emplace<AvgPool2d>(1, 1);
  LinearOptions head;
  head.grouping = PriorGrouping::None;
  classifier = register_module("classifier", std::make_shared<Linear>(512, classes, generator, head));
}

Tensor VGG::forward(const Tensor& input) {
  SLAB_CHECK(
      input.defined() && input.dim() == 4 && input.size(1) == in_channels && input.size(2) == 32 && input.size(3) == 32,
      "VGG-", depth, ": expected images [n, ", in_channels, ", 32, 32], got shape ",
      input.defined() ? input.shape() : Shape{});
  return classifier->forward(flatten(features->forward(input), 1));
}

}  // namespace slab
