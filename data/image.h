// 8-bit images as the data room passes them between a dataset and its transforms.
// Pixels are planar CHW (channel planes of row-major rows), the layout of CIFAR's records
// and of the float tensors a batch ends up in, so a crop or flip is a row copy per plane and
// the final conversion to float walks both buffers in the same order.
#pragma once
#include <cstdint>
#include <ostream>
#include <vector>

namespace slab::data {

// Extents of an example. height == 0 or width == 0 means "varies from example to example"
// (an image folder before a fixed-size transform).
struct ImageShape {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;

  bool fixed() const { return height > 0 && width > 0; }
  int64_t numel() const { return channels * height * width; }
  bool operator==(const ImageShape&) const = default;
};

inline std::ostream& operator<<(std::ostream& out, const ImageShape& shape) {
  out << '[' << shape.channels << ", ";
  if (shape.fixed())
    out << shape.height << ", " << shape.width;
  else
    out << "varying, varying";
  return out << ']';
}

// A read-only window on planar pixels: pixel (c, y, x) is
// pixels[c * channel_stride + y * row_stride + x]. Strides let a crop be a view.
struct ImageView {
  const uint8_t* pixels = nullptr;
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t channel_stride = 0;
  int64_t row_stride = 0;

  const uint8_t* row(int64_t channel, int64_t y) const { return pixels + channel * channel_stride + y * row_stride; }
  ImageShape shape() const { return {channels, height, width}; }
  // The sub-rectangle with top-left corner (top, left); the caller keeps it inside.
  ImageView window(int64_t top, int64_t left, int64_t window_height, int64_t window_width) const {
    return {pixels + top * row_stride + left, channels, window_height, window_width, channel_stride, row_stride};
  }
};

// An owned, contiguous planar image. Reshaping keeps the vector's capacity, so a buffer that
// is reused per example stops allocating once it has seen the largest example.
struct ImageU8 {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  std::vector<uint8_t> pixels;

  void reshape(int64_t new_channels, int64_t new_height, int64_t new_width) {
    channels = new_channels;
    height = new_height;
    width = new_width;
    pixels.resize(static_cast<size_t>(channels * height * width));
  }
  uint8_t* row(int64_t channel, int64_t y) { return pixels.data() + (channel * height + y) * width; }
  ImageView view() const { return {pixels.data(), channels, height, width, height * width, width}; }
};

}  // namespace slab::data
