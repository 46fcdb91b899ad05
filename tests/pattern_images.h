// Small in-memory image sets for the training-loop tests (resume, deferred loss reads):
// `count` noisy 1x28x28 images in 4 classes, where class k lights the pixels that `lit`
// marks for it, so a model learns something and its gradients are not degenerate.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "tools/trainer/trainer.h"

namespace slab::testing {

struct PatternImageOptions {
  std::string name;         // the dataset's name in messages
  int64_t count = 0;        // training images; image i has class i % 4
  int64_t test_count = 0;   // the test set is the first test_count training images (0: all)
  uint64_t seed = 0;        // of the pixel noise
  uint8_t lit_level = 160;  // brightness of a lit pixel and of a dark one, before noise
  uint8_t dark_level = 20;  //   (noise adds 0..63)
};

// lit(label, y, x): whether pixel (y, x) is lit in an image of class `label`.
template <class LitPixel>
tools::TrainingData pattern_images(const PatternImageOptions& options, LitPixel lit) {
  constexpr int64_t side = 28;
  const int64_t count = options.count;
  Generator generator(options.seed, 0);
  std::vector<uint8_t> pixels(static_cast<size_t>(count * side * side));
  std::vector<int64_t> labels(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t label = i % 4;
    labels[static_cast<size_t>(i)] = label;
    for (int64_t y = 0; y < side; ++y)
      for (int64_t x = 0; x < side; ++x) {
        const uint32_t noise = generator.next_u32() >> 26;  // 0..63
        pixels[static_cast<size_t>((i * side + y) * side + x)] =
            static_cast<uint8_t>((lit(label, y, x) ? options.lit_level : options.dark_level) + noise);
      }
  }
  const data::ImageShape shape{1, side, side};
  tools::TrainingData data;
  data.train = std::make_shared<data::InMemoryDataset>(options.name + " train", shape, 4, pixels, labels);
  if (options.test_count == 0) {
    data.test = data.train;
  } else {
    const int64_t n = options.test_count;
    data.test = std::make_shared<data::InMemoryDataset>(
        options.name + " test", shape, 4, std::vector<uint8_t>(pixels.begin(), pixels.begin() + n * side * side),
        std::vector<int64_t>(labels.begin(), labels.begin() + n));
  }
  data.train_pipeline = data::eval_pipeline(data::fashion_mnist_stats());
  data.test_pipeline = data::eval_pipeline(data::fashion_mnist_stats());
  data.num_classes = 4;
  data.in_channels = 1;
  data.example_shape = {1, 1, side, side};
  return data;
}

// The program defaults the training-loop tests run the pattern images with: the small CNN,
// 3 epochs of batches of 16 (the data stand in for Fashion-MNIST, so no folder is read).
inline tools::ProgramDefaults pattern_run_defaults(const std::string& program) {
  tools::ProgramDefaults defaults;
  defaults.program = program;
  defaults.dataset = "fashion-mnist";
  defaults.data_dir = "unused";
  defaults.model = "small-cnn";
  defaults.epochs = 3;
  defaults.batch_size = 16;
  defaults.sgd_learning_rate = 0.02;
  return defaults;
}

}  // namespace slab::testing
