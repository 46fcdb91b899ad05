// MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST), plain or gzip-compressed.
//
// An IDX file is a big-endian header followed by raw bytes:
//   images: magic 2051 (0x00000803: unsigned bytes, 3 dimensions), count, rows, columns,
//           then count * rows * columns pixels, row-major
//   labels: magic 2049 (0x00000801: unsigned bytes, 1 dimension), count, then count labels
// Files are read through zlib's gzread, which passes a plain file through unchanged, so
// "name" and "name.gz" take the same path.
//
// Folder layout: train-images-idx3-ubyte, train-labels-idx1-ubyte (train) and
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (test), each optionally ending in .gz;
// the spelling with a dot before "idx" (train-images.idx3-ubyte) is accepted too.
// A wrong magic number, a zero dimension, unequal counts, a truncated or over-long file and
// a label >= num_classes are each an Error naming the file and the expected value.
#pragma once
#include <memory>
#include <string>

#include "data/dataset.h"

namespace slab::data {

// The split's pair of files in `folder`; `name` labels the dataset in messages.
std::shared_ptr<InMemoryDataset> load_idx_folder(const std::string& folder, Split split,
                                                 const std::string& name = "MNIST-format", int64_t num_classes = 10);

// An explicit pair of files.
std::shared_ptr<InMemoryDataset> load_idx_files(const std::string& images_path, const std::string& labels_path,
                                                const std::string& name = "MNIST-format", int64_t num_classes = 10);

}  // namespace slab::data
