// Image transforms and the per-dataset pipelines built from them.
//
// A pipeline runs 8-bit geometric steps (crops, flips, resizes: torchvision's semantics on
// PIL images) and ends in one conversion to float that is ToTensor and Normalize together:
//   out[c, y, x] = (pixel / 255 - mean[c]) / std[c]     (float32 arithmetic, as torchvision)
// read from a 256-entry table per channel, so the conversion costs one load per element.
//
// Randomness: a step draws from the Generator it is handed, in a fixed order (one
// pipeline, one sequence of draws), and the loader hands each example the generator
// augmentation_generator(seed, epoch, index) (data/sampling.h). The augmentation of
// example i in epoch e is therefore a pure function of (seed, e, i), whatever thread runs it.
// Every step is immutable after construction, so one pipeline serves all worker threads;
// what changes per call lives in the caller's PipelineScratch.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/random.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/resample.h"

namespace slab::data {

struct TransformScratch {
  ImageU8 output;
  ResampleScratch resample;
};

class ImageTransform {
 public:
  virtual ~ImageTransform() = default;
  virtual std::string describe() const = 0;
  // The shape this step produces from `input` (height/width 0 = varies); throws when a
  // fixed input cannot work (a crop larger than the padded image).
  virtual ImageShape output_shape(const ImageShape& input) const = 0;
  // Transforms `input`; the result views `input` itself or scratch.output.
  virtual ImageView apply(const ImageView& input, TransformScratch& scratch, Generator& generator) const = 0;
};

// out(c, y, x) = input(c, y + top, x + left), or 0 where that lies outside the input
// (top/left may be negative: that is zero padding).
void crop_with_zero_fill(const ImageView& input, int64_t top, int64_t left, int64_t height, int64_t width,
                         ImageU8& out);

// torchvision RandomCrop(size, padding): zero-pad every side by `padding`, then cut a
// height x width window at a uniform position: top = below(H + 2p - h + 1), then
// left = below(W + 2p - w + 1).
class RandomCrop final : public ImageTransform {
 public:
  RandomCrop(int64_t height, int64_t width, int64_t padding);
  std::string describe() const override;
  ImageShape output_shape(const ImageShape& input) const override;
  ImageView apply(const ImageView& input, TransformScratch& scratch, Generator& generator) const override;

 private:
  int64_t height_, width_, padding_;
};

// torchvision RandomHorizontalFlip(p): mirror left-right when a uniform draw is < p
// (one draw per example, flipped or not).
class RandomHorizontalFlip final : public ImageTransform {
 public:
  explicit RandomHorizontalFlip(double probability = 0.5);
  std::string describe() const override;
  ImageShape output_shape(const ImageShape& input) const override { return input; }
  ImageView apply(const ImageView& input, TransformScratch& scratch, Generator& generator) const override;

 private:
  double probability_;
};

// torchvision Resize with bilinear resampling (data/resample.h). Resize(size) scales the
// smaller edge to `size` keeping the aspect ratio (the longer edge becomes
// floor(size * long / short)); Resize(height, width) scales to exactly that.
class Resize final : public ImageTransform {
 public:
  explicit Resize(int64_t smaller_edge);
  Resize(int64_t height, int64_t width);
  std::string describe() const override;
  ImageShape output_shape(const ImageShape& input) const override;
  ImageView apply(const ImageView& input, TransformScratch& scratch, Generator& generator) const override;

 private:
  ImageShape target(int64_t channels, int64_t height, int64_t width) const;
  int64_t smaller_edge_ = 0;  // > 0: smaller-edge mode
  int64_t height_ = 0, width_ = 0;
};

// torchvision CenterCrop: the window at top = round((H - h) / 2), left = round((W - w) / 2)
// (round half to even, as Python); an image smaller than the crop is first zero-padded by
// floor(d/2) before and ceil(d/2) after.
class CenterCrop final : public ImageTransform {
 public:
  CenterCrop(int64_t height, int64_t width);
  std::string describe() const override;
  ImageShape output_shape(const ImageShape& input) const override;
  ImageView apply(const ImageView& input, TransformScratch& scratch, Generator& generator) const override;

 private:
  int64_t height_, width_;
};

struct CropWindow {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// torchvision RandomResizedCrop(size, scale, ratio) with bilinear resampling. The window:
// up to 10 tries of area fraction a ~ U(scale) and aspect r = exp(U(log ratio)),
// w = round(sqrt(A a r)), h = round(sqrt(A a / r)) (half to even); the first that fits is
// placed at top = below(H - h + 1), left = below(W - w + 1). If none fits, the central crop
// with the aspect ratio clamped into `ratio`. The window is then resized to the output size.
class RandomResizedCrop final : public ImageTransform {
 public:
  RandomResizedCrop(int64_t height, int64_t width, double scale_min = 0.08, double scale_max = 1.0,
                    double ratio_min = 3.0 / 4.0, double ratio_max = 4.0 / 3.0);
  std::string describe() const override;
  ImageShape output_shape(const ImageShape& input) const override;
  ImageView apply(const ImageView& input, TransformScratch& scratch, Generator& generator) const override;

  CropWindow sample_window(int64_t image_height, int64_t image_width, Generator& generator) const;

 private:
  int64_t height_, width_;
  double scale_min_, scale_max_, ratio_min_, ratio_max_;
};

// Per-channel mean and standard deviation of the [0, 1] pixels.
struct ChannelStats {
  std::vector<float> mean;
  std::vector<float> std;
};
// The constants the usual training code uses. CIFAR-10's std is the kuangliu
// pytorch-cifar value (0.2023, 0.1994, 0.2010), the code base whose models the paper's code
// uses (assumed, not checked against the paper's code); the exact per-pixel std over the
// training set is (0.2470, 0.2435, 0.2616). A program that wants the other passes its own.
ChannelStats cifar10_stats();
ChannelStats cifar100_stats();
ChannelStats imagenet_stats();
ChannelStats mnist_stats();
ChannelStats fashion_mnist_stats();

struct PipelineScratch {
  ImageU8 decoded;                      // a decoded image-folder file
  std::vector<TransformScratch> steps;  // one per step
};

class Pipeline {
 public:
  Pipeline();  // no steps, ToTensor only: pixel / 255

  Pipeline& then(std::shared_ptr<const ImageTransform> step);
  Pipeline& normalize(const ChannelStats& stats);

  // The shape of a fetched example for images of `input` shape; throws unless it is fixed
  // and matches the normalisation's channel count.
  ImageShape output_shape(const ImageShape& input) const;

  // Example `index` of `dataset` through the steps into `out` (output_shape().numel()
  // floats, CHW); returns the label.
  int64_t fetch(const Dataset& dataset, int64_t index, Generator& generator, float* out,
                PipelineScratch& scratch) const;
  // The same with the generator of (seed, epoch, index) (data/sampling.h).
  int64_t fetch(const Dataset& dataset, int64_t index, uint64_t seed, int64_t epoch, float* out,
                PipelineScratch& scratch) const;

  std::string describe() const;  // "RandomCrop(32x32, padding 4) -> ... -> Normalize(...)"

 private:
  std::vector<std::shared_ptr<const ImageTransform>> steps_;
  std::vector<float> table_;    // 256 floats per channel: (v / 255 - mean[c]) / std[c]
  int64_t table_channels_ = 0;  // 0: no Normalize (one shared table of v / 255)
  ChannelStats stats_;
};

// The standard pipelines.
Pipeline cifar_train_pipeline(const ChannelStats& stats);                   // RandomCrop(32, 4), flip, normalise
Pipeline eval_pipeline(const ChannelStats& stats);                          // normalise only (CIFAR, MNIST test)
Pipeline imagenet_train_pipeline(int64_t size = 224);                       // RandomResizedCrop, flip, normalise
Pipeline imagenet_eval_pipeline(int64_t resize = 256, int64_t crop = 224);  // Resize, CenterCrop, normalise

}  // namespace slab::data
