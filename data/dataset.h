// The dataset interface: a fixed list of labelled images, indexable from any thread.
// Storage stays 8-bit (a CIFAR-10 training set is 150 MB as bytes, 600 MB as float); the
// conversion to float happens per fetch, inside the caller's buffer, so a batch is
// assembled without an intermediate copy. Transforms (data/transforms.h) sit between the
// 8-bit image and that float buffer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace slab::data {

enum class Split { train, test };

const char* split_name(Split split);

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual std::string name() const = 0;  // for messages: "CIFAR-10 train (/path)"
  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  // Extents of the stored images; height/width 0 when they vary (image folders).
  virtual ImageShape image_shape() const = 0;
  virtual int64_t label(int64_t index) const = 0;
  // The 8-bit image `index`: a view on memory the dataset owns, or on `scratch` when it has
  // to decode. Valid until `scratch` is next used. Safe to call from several threads at
  // once, each with its own scratch.
  virtual ImageView image(int64_t index, ImageU8& scratch) const = 0;

  // Example `index` as float CHW in [0, 1] (pixel / 255, as torchvision's ToTensor) into
  // `out` (image_shape().numel() floats); returns the label. Needs a fixed image shape.
  int64_t fetch(int64_t index, float* out) const;

 protected:
  void check_index(int64_t index) const;  // throws naming the dataset and its size
};

// A dataset held in memory: n images of one shape as planar bytes, plus labels.
// CIFAR and MNIST-format files load into this.
class InMemoryDataset final : public Dataset {
 public:
  InMemoryDataset(std::string name, ImageShape shape, int64_t num_classes, std::vector<uint8_t> pixels,
                  std::vector<int64_t> labels, std::vector<std::string> class_names = {});

  std::string name() const override { return name_; }
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t num_classes() const override { return num_classes_; }
  ImageShape image_shape() const override { return shape_; }
  int64_t label(int64_t index) const override;
  ImageView image(int64_t index, ImageU8& scratch) const override;

  const std::vector<int64_t>& labels() const { return labels_; }
  const std::vector<std::string>& class_names() const { return class_names_; }  // may be empty

 private:
  std::string name_;
  ImageShape shape_;
  int64_t num_classes_;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
  std::vector<std::string> class_names_;
};

}  // namespace slab::data
