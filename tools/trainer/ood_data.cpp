#include "tools/trainer/ood_data.h"

#include "core/error.h"
#include "data/resample.h"
#include "tools/trainer/training_data.h"

namespace slab::tools {

namespace {

class ConvertedDataset final : public data::Dataset {
 public:
  ConvertedDataset(std::shared_ptr<const data::Dataset> base, const data::ImageShape& like)
      : base_(std::move(base)), like_(like) {}
  std::string name() const override {
    return base_->name() + " as " + std::to_string(like_.channels) + "x" + std::to_string(like_.height) + "x" +
           std::to_string(like_.width);
  }
  int64_t size() const override { return base_->size(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  data::ImageShape image_shape() const override { return like_; }
  int64_t label(int64_t index) const override { return base_->label(index); }
  data::ImageView image(int64_t index, data::ImageU8& scratch) const override {
    thread_local data::ImageU8 decoded, resized;
    thread_local data::ResampleScratch resample;
    data::ImageView view = base_->image(index, decoded);
    if (view.height != like_.height || view.width != like_.width) {
      data::resample_bilinear(view, like_.height, like_.width, resized, resample);
      view = resized.view();
    }
    scratch.reshape(like_.channels, like_.height, like_.width);
    for (int64_t c = 0; c < like_.channels; ++c)
      for (int64_t y = 0; y < like_.height; ++y)
        for (int64_t x = 0; x < like_.width; ++x) scratch.row(c, y)[x] = pixel(view, c, y, x);
    return scratch.view();
  }

 private:
  // Channel c of the output at (y, x): the gray value for every channel, or the rounded mean
  // of the input's channels when the output has one and the input more.
  uint8_t pixel(const data::ImageView& view, int64_t c, int64_t y, int64_t x) const {
    if (view.channels == like_.channels) return view.row(c, y)[x];
    if (view.channels == 1) return view.row(0, y)[x];
    int64_t sum = 0;
    for (int64_t k = 0; k < view.channels; ++k) sum += view.row(k, y)[x];
    return static_cast<uint8_t>((sum + view.channels / 2) / view.channels);
  }

  std::shared_ptr<const data::Dataset> base_;
  data::ImageShape like_;
};

}  // namespace

std::shared_ptr<const data::Dataset> converted_to(std::shared_ptr<const data::Dataset> base,
                                                  const data::ImageShape& like) {
  const data::ImageShape shape = base->image_shape();
  SLAB_CHECK(like.fixed() && like.channels > 0, "OOD set: the in-distribution images have no fixed size");
  SLAB_CHECK(shape.channels == like.channels || shape.channels == 1 || like.channels == 1, "OOD set: ",
             base->name(), " has ", shape.channels, " channels; cannot convert to ", like.channels);
  if (shape == like) return base;
  return std::make_shared<ConvertedDataset>(std::move(base), like);
}

std::shared_ptr<const data::Dataset> load_ood_set(const std::string& dataset, const std::string& folder,
                                                  const data::ImageShape& like, int64_t limit) {
  SLAB_CHECK(dataset != "imagenet", "--ood-dataset: imagenet is not an OOD set (its images vary in size)");
  return converted_to(load_test_data(dataset, folder, 0, limit).test, like);
}

}  // namespace slab::tools
