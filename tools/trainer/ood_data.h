// The out-of-distribution set of slab-eval --ood-data-dir (docs/run-folder.md#ood-sets):
// the test split of another dataset, converted to the in-distribution images' form so the
// model reads it through its own test pipeline (its normalisation included):
//   size      resampled bilinearly (data/resample.h, Pillow's arithmetic) to the
//             in-distribution height x width when they differ (MNIST 28x28 -> 32x32);
//   channels  a gray image is copied into each of 3 channels (MNIST -> RGB); an RGB image
//             becomes gray as the mean of its channels, rounded (CIFAR-10 -> 1 channel).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "data/dataset.h"

namespace slab::tools {

// `dataset` is a dataset kind (mnist, fashion-mnist, cifar10, cifar100); `limit` > 0 keeps
// its first n test images.
std::shared_ptr<const data::Dataset> load_ood_set(const std::string& dataset, const std::string& folder,
                                                  const data::ImageShape& like, int64_t limit);

// The conversion above as a view on `base` (exposed for tests).
std::shared_ptr<const data::Dataset> converted_to(std::shared_ptr<const data::Dataset> base,
                                                  const data::ImageShape& like);

}  // namespace slab::tools
