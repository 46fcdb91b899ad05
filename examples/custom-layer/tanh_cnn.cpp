#include "tanh_cnn.h"

#include <mutex>

#include "layers/batch_norm.h"
#include "layers/conv2d.h"
#include "layers/pooling.h"
#include "models/factory.h"
#include "scaled_tanh.h"

namespace custom_layer {

TanhCNN::TanhCNN(int64_t in, int64_t classes, slab::Generator& generator, int64_t width1, int64_t width2)
    : in_channels(in) {
  using namespace slab;
  features = register_module("features", std::make_shared<Sequential>());
  features->emplace<Conv2d>(in, width1, 3, generator, conv_options(1, 1, false));  // features.0
  features->emplace<BatchNorm2d>(width1);
  features->emplace<ScaledTanh>(width1);
  features->emplace<MaxPool2d>(2);
  features->emplace<Conv2d>(width1, width2, 3, generator, conv_options(1, 1, false));  // features.4
  features->emplace<BatchNorm2d>(width2);
  features->emplace<ScaledTanh>(width2);
  features->emplace<MaxPool2d>(2);
  LinearOptions head;
  head.grouping = PriorGrouping::None;
  classifier = register_module("classifier", std::make_shared<Linear>(width2 * 7 * 7, classes, generator, head));
}

slab::Tensor TanhCNN::forward(const slab::Tensor& input) {
  SLAB_CHECK(
      input.defined() && input.dim() == 4 && input.size(1) == in_channels && input.size(2) == 28 && input.size(3) == 28,
      "TanhCNN: expected images [n, ", in_channels, ", 28, 28], got shape ",
      input.defined() ? input.shape() : slab::Shape{});
  return classifier->forward(slab::flatten(features->forward(input), 1));
}

void register_tanh_cnn() {
  static std::once_flag once;
  std::call_once(once, [] {
    slab::register_model("tanh-cnn", "the small CNN with ScaledTanh activations, widths 16 and 32 (examples/custom-layer)",
                         [](const std::string&, int64_t classes, int64_t in, uint64_t seed) {
                           slab::Generator generator(seed);
                           return std::make_shared<TanhCNN>(in, classes, generator);
                         });
    slab::register_model("tanh-cnn-<c1>-<c2>", "the same with other widths",
                         [](const std::string& name, int64_t classes, int64_t in,
                            uint64_t seed) -> std::shared_ptr<slab::Module> {
                           const auto widths = slab::model_name_numbers(name, "tanh-cnn-");
                           if (!widths || widths->size() != 2) return nullptr;  // not a name of this pattern
                           slab::Generator generator(seed);
                           return std::make_shared<TanhCNN>(in, classes, generator, (*widths)[0], (*widths)[1]);
                         });
  });
}

}  // namespace custom_layer
