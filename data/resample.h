// Bilinear resampling of 8-bit images, antialiased when shrinking: the arithmetic of
// Pillow's Image.resize(..., BILINEAR), which is what torchvision's Resize and
// RandomResizedCrop run on PIL images (the usual ImageNet pipeline).
//
// Each axis is a 1-D convolution with the triangle filter f(t) = max(0, 1 - |t|) stretched
// by s = max(1, in/out) so that shrinking averages over every input pixel instead of
// sampling two:
//   output pixel o has centre c = (o + 0.5) * in/out in input coordinates;
//   it reads inputs i in [floor-ish(c - s + 0.5), c + s + 0.5) clamped to the image,
//   with weights f((i + 0.5 - c) / s) normalised to sum to 1.
// Weights are held as 22-bit fixed point (rounded half away from zero) and sums rounded to
// the nearest byte and clamped to 0..255, one axis after the other (horizontal first, the
// intermediate rounded to bytes), as Pillow does, so results match it exactly for the
// same input bytes.
#pragma once
#include <cstdint>
#include <vector>

#include "data/image.h"

namespace slab::data {

// Reusable buffers: once sized for the largest image, a resize allocates nothing.
struct ResampleScratch {
  std::vector<int32_t> horizontal_weights, vertical_weights;
  std::vector<int64_t> horizontal_bounds, vertical_bounds;  // (first input, count) per output
  std::vector<double> real_weights;                         // one output's weights before fixed-point rounding
  ImageU8 intermediate;
};

// Resamples all of `input` (which may be a window of a larger image) to
// output_height x output_width into `output`.
void resample_bilinear(const ImageView& input, int64_t output_height, int64_t output_width, ImageU8& output,
                       ResampleScratch& scratch);

}  // namespace slab::data
