// slab-train-imagenet: trains on an ImageNet-style image folder (data-dir/train/<class>/...,
// data-dir/val/<class>/...; JPEG/PNG decoded with stb_image) with RandomResizedCrop + flip,
// evaluating on resize-to-8/7 + centre crop. Default: ResNet-18 (torchvision form), 90 epochs
// of SGD, batch 256, 4 loader workers. --image-size shrinks the crop for small folders.
// Flags: tools/trainer/config.h, docs/programs.md.
#include "tools/trainer/trainer.h"

int main(int argc, char** argv) {
  slab::tools::ProgramDefaults defaults;
  defaults.program = "slab-train-imagenet";
  defaults.dataset = "imagenet";
  defaults.data_dir = "data/imagenet";
  defaults.model = "resnet18-imagenet";
  defaults.epochs = 90;
  defaults.batch_size = 256;
  defaults.sgd_learning_rate = 0.1;
  defaults.workers = 4;
  defaults.image_size = 224;
  return slab::tools::train_program_main(defaults, argc, argv);
}
