// CIFAR-10 and CIFAR-100 in the official binary format ("CIFAR-10 binary version").
//
// A record is the label byte(s) followed by 3072 pixel bytes: the 32x32 red plane, then
// green, then blue, each row-major -- already the planar CHW layout slab keeps in memory.
//   CIFAR-10:  1 label byte (0..9),                         3073 bytes per record
//   CIFAR-100: 1 coarse label (0..19), 1 fine label (0..99), 3074 bytes per record
//              (slab uses the fine label: 100 classes)
//
// Folder layouts:
//   CIFAR-10:  data_batch_1.bin .. data_batch_5.bin (train; whichever exist, read in that
//              order), test_batch.bin (test), batches.meta.txt (class names, optional)
//   CIFAR-100: train.bin, test.bin, fine_label_names.txt (optional)
// The folder may also be the parent of the archive's folder (cifar-10-batches-bin,
// cifar-100-binary). Every problem -- a missing or empty folder, a file whose size is not a
// whole number of records, a label out of range -- is an Error naming the file and what
// was expected.
#pragma once
#include <memory>
#include <string>

#include "data/dataset.h"

namespace slab::data {

constexpr int64_t kCifarImageBytes = 3 * 32 * 32;

std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& folder, Split split);
std::shared_ptr<InMemoryDataset> load_cifar100(const std::string& folder, Split split);

}  // namespace slab::data
