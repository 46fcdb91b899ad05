#include "data/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace slab::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // room for 255 * 2^22 plus rounding in an int32

double triangle(double t) {
  t = std::fabs(t);
  return t < 1.0 ? 1.0 - t : 0.0;
}

// Weights for one axis: for output o, bounds[2o] is the first input index and bounds[2o+1]
// the number of inputs read; weights[o * taps + k] is the weight of input bounds[2o] + k.
// Returns taps (the row length of `weights`).
int64_t axis_weights(int64_t input_size, int64_t output_size, std::vector<int32_t>& weights,
                     std::vector<int64_t>& bounds, std::vector<double>& real_weights) {
  const double scale = static_cast<double>(input_size) / static_cast<double>(output_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;  // the triangle reaches 1 input pixel each side, stretched
  const int64_t taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  weights.assign(static_cast<size_t>(output_size * taps), 0);
  bounds.resize(static_cast<size_t>(output_size * 2));
  real_weights.resize(static_cast<size_t>(taps));
  double* w = real_weights.data();
  for (int64_t o = 0; o < output_size; ++o) {
    const double centre = (static_cast<double>(o) + 0.5) * scale;
    // Truncation toward zero, then clamping, as Pillow rounds these bounds.
    const int64_t first = std::max<int64_t>(static_cast<int64_t>(centre - support + 0.5), 0);
    const int64_t end = std::min<int64_t>(static_cast<int64_t>(centre + support + 0.5), input_size);
    const int64_t count = end - first;
    double total = 0.0;
    for (int64_t k = 0; k < count; ++k) {
      w[k] = triangle((static_cast<double>(first + k) - centre + 0.5) / filter_scale);
      total += w[k];
    }
    for (int64_t k = 0; k < count; ++k) {
      const double normalised = total != 0.0 ? w[k] / total : w[k];
      const double fixed = normalised * static_cast<double>(1 << kPrecisionBits);
      weights[static_cast<size_t>(o * taps + k)] = static_cast<int32_t>(fixed < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    bounds[static_cast<size_t>(2 * o)] = first;
    bounds[static_cast<size_t>(2 * o + 1)] = count;
  }
  return taps;
}

uint8_t round_to_byte(int32_t sum) {
  const int32_t value = sum >> kPrecisionBits;  // sum carries +0.5 already: this rounds
  return static_cast<uint8_t>(std::clamp(value, 0, 255));
}

}  // namespace

void resample_bilinear(const ImageView& input, int64_t output_height, int64_t output_width, ImageU8& output,
                       ResampleScratch& scratch) {
  SLAB_CHECK(input.height > 0 && input.width > 0 && output_height > 0 && output_width > 0, "resample: cannot resize a ",
             input.height, "x", input.width, " image to ", output_height, "x", output_width);
  const int64_t channels = input.channels;
  const bool horizontal = output_width != input.width;
  const bool vertical = output_height != input.height;
  output.reshape(channels, output_height, output_width);
  if (!horizontal && !vertical) {
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < output_height; ++y)
        std::memcpy(output.row(c, y), input.row(c, y), static_cast<size_t>(output_width));
    return;
  }

  const int64_t vertical_taps = vertical ? axis_weights(input.height, output_height, scratch.vertical_weights,
                                                        scratch.vertical_bounds, scratch.real_weights)
                                         : 0;
  // Rows of the input that the vertical pass reads; only these go through the horizontal pass.
  int64_t first_row = 0, end_row = input.height;
  if (vertical) {
    first_row = scratch.vertical_bounds[0];
    end_row = scratch.vertical_bounds[static_cast<size_t>(2 * output_height - 2)] +
              scratch.vertical_bounds[static_cast<size_t>(2 * output_height - 1)];
  }

  ImageView source = input.window(first_row, 0, end_row - first_row, input.width);
  if (horizontal) {
    const int64_t taps = axis_weights(input.width, output_width, scratch.horizontal_weights, scratch.horizontal_bounds,
                                      scratch.real_weights);
    ImageU8& target = vertical ? scratch.intermediate : output;
    target.reshape(channels, end_row - first_row, output_width);
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < source.height; ++y) {
        const uint8_t* in = source.row(c, y);
        uint8_t* out = target.row(c, y);
        for (int64_t x = 0; x < output_width; ++x) {
          const int64_t first = scratch.horizontal_bounds[static_cast<size_t>(2 * x)];
          const int64_t count = scratch.horizontal_bounds[static_cast<size_t>(2 * x + 1)];
          const int32_t* w = scratch.horizontal_weights.data() + x * taps;
          int32_t sum = 1 << (kPrecisionBits - 1);
          for (int64_t k = 0; k < count; ++k) sum += static_cast<int32_t>(in[first + k]) * w[k];
          out[x] = round_to_byte(sum);
        }
      }
    if (!vertical) return;
    source = scratch.intermediate.view();
  }

  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < output_height; ++y) {
      const int64_t first = scratch.vertical_bounds[static_cast<size_t>(2 * y)] - first_row;
      const int64_t count = scratch.vertical_bounds[static_cast<size_t>(2 * y + 1)];
      const int32_t* w = scratch.vertical_weights.data() + y * vertical_taps;
      uint8_t* out = output.row(c, y);
      for (int64_t x = 0; x < output_width; ++x) {
        int32_t sum = 1 << (kPrecisionBits - 1);
        for (int64_t k = 0; k < count; ++k) sum += static_cast<int32_t>(source.row(c, first + k)[x]) * w[k];
        out[x] = round_to_byte(sum);
      }
    }
}

}  // namespace slab::data
