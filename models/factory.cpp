#include "models/factory.h"

#include <charconv>
#include <map>

#include "core/random.h"
#include "models/mlp.h"
#include "models/preact_resnet.h"
#include "models/resnet.h"
#include "models/resnet_cifar.h"
#include "models/small_cnn.h"
#include "models/vgg.h"
#include "models/wide_resnet.h"

namespace slab {

namespace {

std::string known_names() {
  std::string text;
  for (const std::string& name : model_names()) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// "mlp-784-256-10" -> {784, 256, 10}; false when a part after `prefix` is not a positive integer.
bool parse_numbers(const std::string& name, const std::string& prefix, std::vector<int64_t>& numbers) {
  if (name.rfind(prefix, 0) != 0) return false;
  size_t begin = prefix.size();
  while (begin <= name.size()) {
    size_t end = name.find('-', begin);
    if (end == std::string::npos) end = name.size();
    int64_t value = 0;
    const auto [ptr, error] = std::from_chars(name.data() + begin, name.data() + end, value);
    if (error != std::errc() || ptr != name.data() + end || value <= 0) return false;
    numbers.push_back(value);
    begin = end + 1;
  }
  return !numbers.empty();
}

}  // namespace

std::vector<std::string> model_names() {
  return {"mlp-<in>-<hidden>-...",
          "small-cnn",
          "small-cnn-<c1>-<c2>",
          "vgg11-bn",
          "vgg13-bn",
          "vgg16-bn",
          "vgg19-bn",
          "resnet20",
          "resnet32",
          "resnet44",
          "resnet56",
          "resnet110",
          "resnet18",
          "resnet34",
          "resnet50",
          "resnet18-imagenet",
          "resnet34-imagenet",
          "resnet50-imagenet",
          "preact-resnet18",
          "preact-resnet34",
          "wrn-<depth>-<k>"};
}

std::shared_ptr<Module> make_model(const std::string& name, int64_t num_classes, int64_t in_channels, uint64_t seed) {
  SLAB_CHECK(num_classes > 0, "make_model('", name, "'): num_classes must be positive, got ", num_classes);
  SLAB_CHECK(in_channels > 0, "make_model('", name, "'): in_channels must be positive, got ", in_channels);
  Generator generator(seed);

  std::vector<int64_t> numbers;
  if (parse_numbers(name, "mlp-", numbers)) {
    const std::vector<int64_t> hidden(numbers.begin() + 1, numbers.end());
    return std::make_shared<MLP>(numbers[0], hidden, num_classes, generator);
  }
  numbers.clear();
  if (parse_numbers(name, "wrn-", numbers) && numbers.size() == 2)
    return std::make_shared<WideResNet>(numbers[0], numbers[1], in_channels, num_classes, generator);
  numbers.clear();
  if (parse_numbers(name, "small-cnn-", numbers) && numbers.size() == 2)
    return std::make_shared<SmallCNN>(in_channels, num_classes, generator, numbers[0], numbers[1]);

  if (name == "small-cnn") return std::make_shared<SmallCNN>(in_channels, num_classes, generator);
  static const std::map<std::string, int64_t> vgg = {
      {"vgg11-bn", 11}, {"vgg13-bn", 13}, {"vgg16-bn", 16}, {"vgg19-bn", 19}};
  if (auto it = vgg.find(name); it != vgg.end())
    return std::make_shared<VGG>(it->second, in_channels, num_classes, generator);
  static const std::map<std::string, int64_t> cifar_resnet = {
      {"resnet20", 20}, {"resnet32", 32}, {"resnet44", 44}, {"resnet56", 56}, {"resnet110", 110}};
  if (auto it = cifar_resnet.find(name); it != cifar_resnet.end())
    return std::make_shared<CifarResNet>(it->second, in_channels, num_classes, generator);
  static const std::map<std::string, std::pair<int64_t, ResNetStyle>> resnet = {
      {"resnet18", {18, ResNetStyle::Cifar}},
      {"resnet34", {34, ResNetStyle::Cifar}},
      {"resnet50", {50, ResNetStyle::Cifar}},
      {"resnet18-imagenet", {18, ResNetStyle::ImageNet}},
      {"resnet34-imagenet", {34, ResNetStyle::ImageNet}},
      {"resnet50-imagenet", {50, ResNetStyle::ImageNet}}};
  if (auto it = resnet.find(name); it != resnet.end())
    return std::make_shared<ResNet>(it->second.first, it->second.second, in_channels, num_classes, generator);
  if (name == "preact-resnet18") return std::make_shared<PreActResNet>(18, in_channels, num_classes, generator);
  if (name == "preact-resnet34") return std::make_shared<PreActResNet>(34, in_channels, num_classes, generator);

  SLAB_FAIL("unknown model '", name, "'; known models: ", known_names());
}

}  // namespace slab
