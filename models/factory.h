// make_model: a model by name, the one place that maps the programs' --model values to
// architectures.
//
// Names (10 classes and 3 input channels give the parameter counts of the PyTorch models):
//   mlp-<in>-<h1>-...-<hk>   fully connected ReLU net in -> h1 -> ... -> hk -> num_classes
//                            (in is the input width: images are flattened; in_channels is
//                            ignored), e.g. mlp-784-256-256, or mlp-1000-5-3 with 1 class
//   small-cnn                Fashion-MNIST CNN for 28x28 images, widths 16 and 32
//   small-cnn-<c1>-<c2>      the same with other widths (models/small_cnn.h)
//   vgg11-bn vgg13-bn vgg16-bn vgg19-bn              CIFAR VGG with BN (models/vgg.h)
//   resnet20 resnet32 resnet44 resnet56 resnet110    He et al. CIFAR ResNets (option A)
//   resnet18 resnet34 resnet50                       CIFAR form, kuangliu names (models/resnet.h)
//   resnet18-imagenet resnet34-imagenet resnet50-imagenet   torchvision form and names
//   preact-resnet18 preact-resnet34                  (models/preact_resnet.h)
//   wrn-<depth>-<k>          Wide ResNet, e.g. wrn-28-10 (models/wide_resnet.h)
// An unknown name is an Error that lists these.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"

namespace slab {

std::shared_ptr<Module> make_model(const std::string& name, int64_t num_classes, int64_t in_channels, uint64_t seed);

// The names make_model knows, patterns written with <...>.
std::vector<std::string> model_names();

}  // namespace slab
