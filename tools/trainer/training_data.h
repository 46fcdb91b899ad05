// The training programs' data: one function that loads a dataset kind's training and test
// splits with their standard pipelines (data/transforms.h), so a program only names its
// dataset. Also the subset view behind --train-limit / --test-limit.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/shape.h"
#include "data/dataset.h"
#include "data/transforms.h"

namespace slab::tools {

struct TrainingData {
  std::shared_ptr<const data::Dataset> train, test;
  std::shared_ptr<const data::Dataset> holdout;  // --holdout: never trained on (else null)
  data::Pipeline train_pipeline, test_pipeline;
  int64_t num_classes = 0;
  int64_t in_channels = 0;
  Shape example_shape;  // of one input, [1, C, H, W] (the sparsity report's forward pass)
};

// The classes and channels of a dataset kind when they are fixed (imagenet: 0 classes, read
// from the folder).
int64_t dataset_num_classes(const std::string& dataset);
int64_t dataset_in_channels(const std::string& dataset);

// Loads `dataset` ("fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet") from
// `folder`. A missing or empty folder is an Error naming the folder and the files that were
// expected; the loaders' own errors name a bad file. `image_size` is the imagenet crop.
// `train_limit`/`test_limit` > 0 keep only n examples of a split (limit_examples). Image
// folders: the validation folder must have the training folder's classes by name, and every
// kept image's header is checked (limits included) before this returns, so a bad file is
// reported at start-up, not mid-epoch.
TrainingData load_training_data(const std::string& dataset, const std::string& folder, int64_t image_size,
                                int64_t train_limit, int64_t test_limit);

// --holdout: moves the last `count` training examples into `data.holdout` (count 0: none).
// The held-out examples are read with the test pipeline.
void hold_out(TrainingData& data, int64_t count);

// Only the test split (slab-eval); an image folder's headers are checked as above.
TrainingData load_test_data(const std::string& dataset, const std::string& folder, int64_t image_size,
                            int64_t test_limit);

// `count` examples of `dataset` (all when count is 0 or at least its size): an image folder,
// which is sorted by class, gives data::class_preserving_subset (every class in turn); the
// other datasets (CIFAR, MNIST-format files, not sorted by class) give first_examples.
std::shared_ptr<const data::Dataset> limit_examples(std::shared_ptr<const data::Dataset> dataset, int64_t count);

// The first `count` examples of `dataset` (all when count is 0 or at least its size).
std::shared_ptr<const data::Dataset> first_examples(std::shared_ptr<const data::Dataset> dataset, int64_t count);

}  // namespace slab::tools
