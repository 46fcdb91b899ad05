#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "core/error.h"
#include "data/sampling.h"

namespace slab::data {

namespace {

void check_size(const char* what, int64_t height, int64_t width) {
  SLAB_CHECK(height > 0 && width > 0, what, ": output size ", height, "x", width, " must be positive");
}

// Python's round(): to nearest, ties to even (the default floating-point rounding mode).
int64_t round_half_even(double value) { return static_cast<int64_t>(std::nearbyint(value)); }

}  // namespace

void crop_with_zero_fill(const ImageView& input, int64_t top, int64_t left, int64_t height, int64_t width,
                         ImageU8& out) {
  out.reshape(input.channels, height, width);
  // Columns x in [x_begin, x_end) read input column x + left; the rest are padding.
  const int64_t x_begin = std::clamp<int64_t>(-left, 0, width);
  const int64_t x_end = std::clamp<int64_t>(input.width - left, x_begin, width);
  for (int64_t c = 0; c < input.channels; ++c)
    for (int64_t y = 0; y < height; ++y) {
      uint8_t* target = out.row(c, y);
      const int64_t source_y = y + top;
      if (source_y < 0 || source_y >= input.height) {
        std::memset(target, 0, static_cast<size_t>(width));
        continue;
      }
      std::memset(target, 0, static_cast<size_t>(x_begin));
      std::memcpy(target + x_begin, input.row(c, source_y) + x_begin + left, static_cast<size_t>(x_end - x_begin));
      std::memset(target + x_end, 0, static_cast<size_t>(width - x_end));
    }
}

// ---- RandomCrop -------------------------------------------------------------------------

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  check_size("RandomCrop", height, width);
  SLAB_CHECK(padding >= 0, "RandomCrop: padding ", padding, " must be >= 0");
}

std::string RandomCrop::describe() const {
  return detail::concat("RandomCrop(", height_, "x", width_, ", padding ", padding_, ")");
}

ImageShape RandomCrop::output_shape(const ImageShape& input) const {
  if (input.fixed())
    SLAB_CHECK(input.height + 2 * padding_ >= height_ && input.width + 2 * padding_ >= width_, describe(),
               ": images of ", input, " padded by ", padding_, " are smaller than the crop");
  return {input.channels, height_, width_};
}

ImageView RandomCrop::apply(const ImageView& input, TransformScratch& scratch, Generator& generator) const {
  const int64_t room_y = input.height + 2 * padding_ - height_;
  const int64_t room_x = input.width + 2 * padding_ - width_;
  SLAB_CHECK(room_y >= 0 && room_x >= 0, describe(), ": an image of ", input.shape(), " padded by ", padding_,
             " is smaller than the crop");
  const auto top = static_cast<int64_t>(generator.below(static_cast<uint64_t>(room_y) + 1)) - padding_;
  const auto left = static_cast<int64_t>(generator.below(static_cast<uint64_t>(room_x) + 1)) - padding_;
  if (top >= 0 && left >= 0 && top + height_ <= input.height && left + width_ <= input.width)
    return input.window(top, left, height_, width_);  // no padding shows: a view suffices
  crop_with_zero_fill(input, top, left, height_, width_, scratch.output);
  return scratch.output.view();
}

// ---- RandomHorizontalFlip ---------------------------------------------------------------

RandomHorizontalFlip::RandomHorizontalFlip(double probability) : probability_(probability) {
  SLAB_CHECK(probability >= 0.0 && probability <= 1.0, "RandomHorizontalFlip: probability ", probability,
             " must be in [0, 1]");
}

std::string RandomHorizontalFlip::describe() const {
  return detail::concat("RandomHorizontalFlip(", probability_, ")");
}

ImageView RandomHorizontalFlip::apply(const ImageView& input, TransformScratch& scratch, Generator& generator) const {
  if (!(generator.next_uniform() < probability_)) return input;
  ImageU8& out = scratch.output;
  out.reshape(input.channels, input.height, input.width);
  for (int64_t c = 0; c < input.channels; ++c)
    for (int64_t y = 0; y < input.height; ++y) {
      const uint8_t* source = input.row(c, y);
      uint8_t* target = out.row(c, y);
      for (int64_t x = 0; x < input.width; ++x) target[x] = source[input.width - 1 - x];
    }
  return out.view();
}

// ---- Resize ------------------------------------------------------------------------------

Resize::Resize(int64_t smaller_edge) : smaller_edge_(smaller_edge) {
  SLAB_CHECK(smaller_edge > 0, "Resize: smaller edge ", smaller_edge, " must be positive");
}

Resize::Resize(int64_t height, int64_t width) : height_(height), width_(width) { check_size("Resize", height, width); }

std::string Resize::describe() const {
  if (smaller_edge_ > 0) return detail::concat("Resize(smaller edge ", smaller_edge_, ", bilinear)");
  return detail::concat("Resize(", height_, "x", width_, ", bilinear)");
}

ImageShape Resize::target(int64_t channels, int64_t height, int64_t width) const {
  if (smaller_edge_ == 0) return {channels, height_, width_};
  // torchvision: new_long = int(size * long / short), the division in floating point.
  const bool portrait = width <= height;
  const int64_t shorter = portrait ? width : height, longer = portrait ? height : width;
  const auto new_longer =
      static_cast<int64_t>(static_cast<double>(smaller_edge_ * longer) / static_cast<double>(shorter));
  return portrait ? ImageShape{channels, new_longer, smaller_edge_} : ImageShape{channels, smaller_edge_, new_longer};
}

ImageShape Resize::output_shape(const ImageShape& input) const {
  if (smaller_edge_ > 0 && !input.fixed()) return {input.channels, 0, 0};
  return target(input.channels, input.height, input.width);
}

ImageView Resize::apply(const ImageView& input, TransformScratch& scratch, Generator& /*generator*/) const {
  const ImageShape size = target(input.channels, input.height, input.width);
  if (size.height == input.height && size.width == input.width) return input;
  resample_bilinear(input, size.height, size.width, scratch.output, scratch.resample);
  return scratch.output.view();
}

// ---- CenterCrop --------------------------------------------------------------------------

CenterCrop::CenterCrop(int64_t height, int64_t width) : height_(height), width_(width) {
  check_size("CenterCrop", height, width);
}

std::string CenterCrop::describe() const { return detail::concat("CenterCrop(", height_, "x", width_, ")"); }

ImageShape CenterCrop::output_shape(const ImageShape& input) const { return {input.channels, height_, width_}; }

ImageView CenterCrop::apply(const ImageView& input, TransformScratch& scratch, Generator& /*generator*/) const {
  // Padding first (only where the image is smaller than the crop), then the centred window
  // of the padded image; both expressed as one offset into the original.
  const int64_t pad_top = height_ > input.height ? (height_ - input.height) / 2 : 0;
  const int64_t pad_left = width_ > input.width ? (width_ - input.width) / 2 : 0;
  const int64_t padded_height = std::max(input.height, height_), padded_width = std::max(input.width, width_);
  const int64_t top = round_half_even(static_cast<double>(padded_height - height_) / 2.0) - pad_top;
  const int64_t left = round_half_even(static_cast<double>(padded_width - width_) / 2.0) - pad_left;
  if (top >= 0 && left >= 0 && top + height_ <= input.height && left + width_ <= input.width)
    return input.window(top, left, height_, width_);
  crop_with_zero_fill(input, top, left, height_, width_, scratch.output);
  return scratch.output.view();
}

// ---- RandomResizedCrop -------------------------------------------------------------------

RandomResizedCrop::RandomResizedCrop(int64_t height, int64_t width, double scale_min, double scale_max,
                                     double ratio_min, double ratio_max)
    : height_(height),
      width_(width),
      scale_min_(scale_min),
      scale_max_(scale_max),
      ratio_min_(ratio_min),
      ratio_max_(ratio_max) {
  check_size("RandomResizedCrop", height, width);
  SLAB_CHECK(scale_min > 0.0 && scale_min <= scale_max, "RandomResizedCrop: scale (", scale_min, ", ", scale_max,
             ") must satisfy 0 < min <= max");
  SLAB_CHECK(ratio_min > 0.0 && ratio_min <= ratio_max, "RandomResizedCrop: ratio (", ratio_min, ", ", ratio_max,
             ") must satisfy 0 < min <= max");
}

std::string RandomResizedCrop::describe() const {
  return detail::concat("RandomResizedCrop(", height_, "x", width_, ", scale (", scale_min_, ", ", scale_max_,
                        "), ratio (", ratio_min_, ", ", ratio_max_, "), bilinear)");
}

ImageShape RandomResizedCrop::output_shape(const ImageShape& input) const { return {input.channels, height_, width_}; }

CropWindow RandomResizedCrop::sample_window(int64_t image_height, int64_t image_width, Generator& generator) const {
  const double area = static_cast<double>(image_height) * static_cast<double>(image_width);
  const double log_ratio_min = std::log(ratio_min_), log_ratio_max = std::log(ratio_max_);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * (scale_min_ + (scale_max_ - scale_min_) * generator.next_uniform());
    const double aspect = std::exp(log_ratio_min + (log_ratio_max - log_ratio_min) * generator.next_uniform());
    const int64_t width = round_half_even(std::sqrt(target_area * aspect));
    const int64_t height = round_half_even(std::sqrt(target_area / aspect));
    if (width > 0 && width <= image_width && height > 0 && height <= image_height) {
      const auto top = static_cast<int64_t>(generator.below(static_cast<uint64_t>(image_height - height) + 1));
      const auto left = static_cast<int64_t>(generator.below(static_cast<uint64_t>(image_width - width) + 1));
      return {top, left, height, width};
    }
  }
  // Fallback: the whole image, narrowed to the nearest allowed aspect ratio, centred.
  const double image_ratio = static_cast<double>(image_width) / static_cast<double>(image_height);
  int64_t width = image_width, height = image_height;
  if (image_ratio < ratio_min_)
    height = round_half_even(static_cast<double>(width) / ratio_min_);
  else if (image_ratio > ratio_max_)
    width = round_half_even(static_cast<double>(height) * ratio_max_);
  return {(image_height - height) / 2, (image_width - width) / 2, height, width};
}

ImageView RandomResizedCrop::apply(const ImageView& input, TransformScratch& scratch, Generator& generator) const {
  const CropWindow window = sample_window(input.height, input.width, generator);
  resample_bilinear(input.window(window.top, window.left, window.height, window.width), height_, width_, scratch.output,
                    scratch.resample);
  return scratch.output.view();
}

// ---- normalisation constants -------------------------------------------------------------

ChannelStats cifar10_stats() { return {{0.4914f, 0.4822f, 0.4465f}, {0.2023f, 0.1994f, 0.2010f}}; }
ChannelStats cifar100_stats() { return {{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}}; }
ChannelStats imagenet_stats() { return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}; }
ChannelStats mnist_stats() { return {{0.1307f}, {0.3081f}}; }
ChannelStats fashion_mnist_stats() { return {{0.2860f}, {0.3530f}}; }

// ---- Pipeline ----------------------------------------------------------------------------

Pipeline::Pipeline() : table_(256) {
  for (int v = 0; v < 256; ++v) table_[static_cast<size_t>(v)] = static_cast<float>(v) / 255.0f;
}

Pipeline& Pipeline::then(std::shared_ptr<const ImageTransform> step) {
  SLAB_CHECK(step != nullptr, "Pipeline::then: null transform");
  steps_.push_back(std::move(step));
  return *this;
}

Pipeline& Pipeline::normalize(const ChannelStats& stats) {
  SLAB_CHECK(!stats.mean.empty() && stats.mean.size() == stats.std.size(), "Normalize: ", stats.mean.size(),
             " means and ", stats.std.size(), " standard deviations; expected one of each per channel");
  for (size_t c = 0; c < stats.std.size(); ++c)
    SLAB_CHECK(stats.std[c] > 0.0f, "Normalize: standard deviation ", stats.std[c], " of channel ", c,
               " must be positive");
  stats_ = stats;
  table_channels_ = static_cast<int64_t>(stats.mean.size());
  table_.resize(static_cast<size_t>(table_channels_ * 256));
  for (int64_t c = 0; c < table_channels_; ++c)
    for (int v = 0; v < 256; ++v) {
      // The same float32 operations as ToTensor then Normalize, so the table is bit-exact.
      const float unit = static_cast<float>(v) / 255.0f;
      table_[static_cast<size_t>(c * 256 + v)] =
          (unit - stats.mean[static_cast<size_t>(c)]) / stats.std[static_cast<size_t>(c)];
    }
  return *this;
}

ImageShape Pipeline::output_shape(const ImageShape& input) const {
  ImageShape shape = input;
  for (const auto& step : steps_) shape = step->output_shape(shape);
  SLAB_CHECK(shape.fixed(), "pipeline ", describe(), " gives images of varying size from images of ", input,
             "; add a fixed-size step (Resize(h, w), CenterCrop or RandomResizedCrop)");
  SLAB_CHECK(table_channels_ == 0 || table_channels_ == shape.channels, "pipeline ", describe(), ": Normalize has ",
             table_channels_, " channels but the images have ", shape.channels);
  return shape;
}

int64_t Pipeline::fetch(const Dataset& dataset, int64_t index, Generator& generator, float* out,
                        PipelineScratch& scratch) const {
  if (scratch.steps.size() < steps_.size()) scratch.steps.resize(steps_.size());
  ImageView view = dataset.image(index, scratch.decoded);
  for (size_t s = 0; s < steps_.size(); ++s) view = steps_[s]->apply(view, scratch.steps[s], generator);
  // `out` holds output_shape() floats: an image that came out another size must not be written.
  const ImageShape expected = output_shape(dataset.image_shape());
  SLAB_CHECK(view.shape() == expected, dataset.name(), ": example ", index, " came out of pipeline ", describe(),
             " as ", view.shape(), "; expected ", expected);
  for (int64_t c = 0; c < view.channels; ++c) {
    const float* table = table_.data() + (table_channels_ == 0 ? 0 : c * 256);
    for (int64_t y = 0; y < view.height; ++y) {
      const uint8_t* row = view.row(c, y);
      for (int64_t x = 0; x < view.width; ++x) out[x] = table[row[x]];
      out += view.width;
    }
  }
  return dataset.label(index);
}

int64_t Pipeline::fetch(const Dataset& dataset, int64_t index, uint64_t seed, int64_t epoch, float* out,
                        PipelineScratch& scratch) const {
  Generator generator = augmentation_generator(seed, epoch, index);
  return fetch(dataset, index, generator, out, scratch);
}

std::string Pipeline::describe() const {
  std::ostringstream text;
  for (const auto& step : steps_) text << step->describe() << " -> ";
  if (table_channels_ == 0) {
    text << "ToTensor";
  } else {
    text << "Normalize(mean";
    for (float m : stats_.mean) text << ' ' << m;
    text << ", std";
    for (float s : stats_.std) text << ' ' << s;
    text << ')';
  }
  return text.str();
}

Pipeline cifar_train_pipeline(const ChannelStats& stats) {
  Pipeline pipeline;
  pipeline.then(std::make_shared<RandomCrop>(32, 32, 4)).then(std::make_shared<RandomHorizontalFlip>(0.5));
  pipeline.normalize(stats);
  return pipeline;
}

Pipeline eval_pipeline(const ChannelStats& stats) {
  Pipeline pipeline;
  pipeline.normalize(stats);
  return pipeline;
}

Pipeline imagenet_train_pipeline(int64_t size) {
  Pipeline pipeline;
  pipeline.then(std::make_shared<RandomResizedCrop>(size, size)).then(std::make_shared<RandomHorizontalFlip>(0.5));
  pipeline.normalize(imagenet_stats());
  return pipeline;
}

Pipeline imagenet_eval_pipeline(int64_t resize, int64_t crop) {
  Pipeline pipeline;
  pipeline.then(std::make_shared<Resize>(resize)).then(std::make_shared<CenterCrop>(crop, crop));
  pipeline.normalize(imagenet_stats());
  return pipeline;
}

}  // namespace slab::data
