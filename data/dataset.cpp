#include "data/dataset.h"

#include <utility>

#include "core/error.h"

namespace slab::data {

const char* split_name(Split split) { return split == Split::train ? "train" : "test"; }

void Dataset::check_index(int64_t index) const {
  SLAB_CHECK(index >= 0 && index < size(), name(), ": example index ", index, " out of range (the dataset holds ",
             size(), " examples)");
}

int64_t Dataset::fetch(int64_t index, float* out) const {
  const ImageShape shape = image_shape();
  SLAB_CHECK(shape.fixed(), name(), ": fetch needs images of one size, but they vary; put a Resize + CenterCrop or ",
             "a RandomResizedCrop pipeline in front (data/transforms.h)");
  ImageU8 scratch;
  const ImageView view = image(index, scratch);
  for (int64_t c = 0; c < view.channels; ++c)
    for (int64_t y = 0; y < view.height; ++y) {
      const uint8_t* source = view.row(c, y);
      for (int64_t x = 0; x < view.width; ++x) *out++ = static_cast<float>(source[x]) / 255.0f;
    }
  return label(index);
}

InMemoryDataset::InMemoryDataset(std::string name, ImageShape shape, int64_t num_classes, std::vector<uint8_t> pixels,
                                 std::vector<int64_t> labels, std::vector<std::string> class_names)
    : name_(std::move(name)),
      shape_(shape),
      num_classes_(num_classes),
      pixels_(std::move(pixels)),
      labels_(std::move(labels)),
      class_names_(std::move(class_names)) {
  SLAB_CHECK(shape_.fixed() && shape_.channels > 0, name_, ": in-memory images need a fixed shape, got ", shape_);
  SLAB_CHECK(pixels_.size() == labels_.size() * static_cast<size_t>(shape_.numel()), name_, ": ", pixels_.size(),
             " pixel bytes for ", labels_.size(), " labels of images ", shape_, " (expected ",
             labels_.size() * static_cast<size_t>(shape_.numel()), ")");
  SLAB_CHECK(class_names_.empty() || static_cast<int64_t>(class_names_.size()) == num_classes_, name_, ": ",
             class_names_.size(), " class names for ", num_classes_, " classes");
  for (size_t i = 0; i < labels_.size(); ++i)
    SLAB_CHECK(labels_[i] >= 0 && labels_[i] < num_classes_, name_, ": label ", labels_[i], " of example ", i,
               " is outside [0, ", num_classes_, ")");
}

int64_t InMemoryDataset::label(int64_t index) const {
  check_index(index);
  return labels_[static_cast<size_t>(index)];
}

ImageView InMemoryDataset::image(int64_t index, ImageU8& /*scratch*/) const {
  check_index(index);
  const int64_t plane = shape_.height * shape_.width;
  return {pixels_.data() + index * shape_.numel(), shape_.channels, shape_.height, shape_.width, plane, shape_.width};
}

}  // namespace slab::data
