// slab's own architectures, registered through the same entries as a user's model
// (models/factory.h): this list is the one place that names them.
#include "core/random.h"
#include "models/factory.h"
#include "models/mlp.h"
#include "models/preact_resnet.h"
#include "models/resnet.h"
#include "models/resnet_cifar.h"
#include "models/small_cnn.h"
#include "models/vgg.h"
#include "models/wide_resnet.h"

namespace slab::detail {

namespace {

// A builder for an exact name: `make(generator, num_classes, in_channels)`.
template <typename Make>
ModelBuilder exact(Make make) {
  return [make](const std::string&, int64_t num_classes, int64_t in_channels, uint64_t seed) -> std::shared_ptr<Module> {
    Generator generator(seed);
    return make(generator, num_classes, in_channels);
  };
}

}  // namespace

std::vector<RegisteredModel> builtin_models() {
  std::vector<RegisteredModel> models;
  models.push_back({"mlp-<in>-<hidden>-...",
                    "fully connected ReLU net in -> hidden... -> classes on flattened inputs, e.g. mlp-784-256-256 "
                    "(models/mlp.h)",
                    [](const std::string& name, int64_t num_classes, int64_t, uint64_t seed) -> std::shared_ptr<Module> {
                      const auto numbers = model_name_numbers(name, "mlp-");
                      if (!numbers) return nullptr;
                      Generator generator(seed);
                      const std::vector<int64_t> hidden(numbers->begin() + 1, numbers->end());
                      return std::make_shared<MLP>(numbers->front(), hidden, num_classes, generator);
                    }});
  models.push_back({"small-cnn", "the Fashion-MNIST CNN for 28x28 images, widths 16 and 32 (models/small_cnn.h)",
                    exact([](Generator& g, int64_t classes, int64_t in) {
                      return std::make_shared<SmallCNN>(in, classes, g);
                    })});
  models.push_back({"small-cnn-<c1>-<c2>", "the same with other widths",
                    [](const std::string& name, int64_t num_classes, int64_t in_channels,
                       uint64_t seed) -> std::shared_ptr<Module> {
                      const auto numbers = model_name_numbers(name, "small-cnn-");
                      if (!numbers || numbers->size() != 2) return nullptr;
                      Generator generator(seed);
                      return std::make_shared<SmallCNN>(in_channels, num_classes, generator, (*numbers)[0],
                                                        (*numbers)[1]);
                    }});
  for (int64_t depth : {11, 13, 16, 19})
    models.push_back({"vgg" + std::to_string(depth) + "-bn", "CIFAR VGG with BatchNorm (models/vgg.h)",
                      exact([depth](Generator& g, int64_t classes, int64_t in) {
                        return std::make_shared<VGG>(depth, in, classes, g);
                      })});
  for (int64_t depth : {20, 32, 44, 56, 110})
    models.push_back({"resnet" + std::to_string(depth),
                      "He et al.'s CIFAR ResNets, option-A shortcuts (models/resnet_cifar.h)",
                      exact([depth](Generator& g, int64_t classes, int64_t in) {
                        return std::make_shared<CifarResNet>(depth, in, classes, g);
                      })});
  for (int64_t depth : {18, 34, 50})
    models.push_back({"resnet" + std::to_string(depth), "ResNets in the CIFAR form, kuangliu's names (models/resnet.h)",
                      exact([depth](Generator& g, int64_t classes, int64_t in) {
                        return std::make_shared<ResNet>(depth, ResNetStyle::Cifar, in, classes, g);
                      })});
  for (int64_t depth : {18, 34, 50})
    models.push_back({"resnet" + std::to_string(depth) + "-imagenet", "the torchvision form and names (models/resnet.h)",
                      exact([depth](Generator& g, int64_t classes, int64_t in) {
                        return std::make_shared<ResNet>(depth, ResNetStyle::ImageNet, in, classes, g);
                      })});
  for (int64_t depth : {18, 34})
    models.push_back({"preact-resnet" + std::to_string(depth), "pre-activation ResNets (models/preact_resnet.h)",
                      exact([depth](Generator& g, int64_t classes, int64_t in) {
                        return std::make_shared<PreActResNet>(depth, in, classes, g);
                      })});
  models.push_back({"wrn-<depth>-<k>", "Wide ResNet of depth 6n + 4 and widening k, e.g. wrn-28-10 (models/wide_resnet.h)",
                    [](const std::string& name, int64_t num_classes, int64_t in_channels,
                       uint64_t seed) -> std::shared_ptr<Module> {
                      const auto numbers = model_name_numbers(name, "wrn-");
                      if (!numbers || numbers->size() != 2) return nullptr;
                      Generator generator(seed);
                      return std::make_shared<WideResNet>((*numbers)[0], (*numbers)[1], in_channels, num_classes,
                                                          generator);
                    }});
  return models;
}

}  // namespace slab::detail
