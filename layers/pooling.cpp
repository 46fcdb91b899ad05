#include "layers/pooling.h"

namespace slab {

namespace {

Pool2dOptions make_pool_options(const char* layer, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                                std::array<int64_t, 2> padding) {
  Pool2dOptions options;
  for (int d = 0; d < 2; ++d) {
    SLAB_CHECK(kernel[d] > 0, layer, ": kernel size must be positive, got ", kernel[d]);
    SLAB_CHECK(stride[d] >= 0, layer, ": stride must be positive (or 0 for the kernel size), got ", stride[d]);
    // PyTorch: "pad should be at most half of effective kernel size".
    SLAB_CHECK(padding[d] >= 0 && 2 * padding[d] <= kernel[d], layer, ": padding ", padding[d],
               " must lie in [0, kernel / 2] for a kernel of ", kernel[d]);
    options.kernel[d] = kernel[d];
    options.stride[d] = stride[d] == 0 ? kernel[d] : stride[d];
    options.padding[d] = padding[d];
  }
  return options;
}

void check_image(const char* layer, const Tensor& input) {
  SLAB_CHECK(input.defined() && input.dim() == 4, layer, ": expected an input [n, c, h, w], got shape ",
             input.defined() ? input.shape() : Shape{});
}

}  // namespace

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding)
    : MaxPool2d({kernel, kernel}, {stride, stride}, {padding, padding}) {}
MaxPool2d::MaxPool2d(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride, std::array<int64_t, 2> padding)
    : options(make_pool_options("MaxPool2d", kernel, stride, padding)) {}

Tensor MaxPool2d::forward(const Tensor& input) {
  check_image("MaxPool2d", input);
  return max_pool2d(input, options);
}

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding)
    : AvgPool2d({kernel, kernel}, {stride, stride}, {padding, padding}) {}
AvgPool2d::AvgPool2d(std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride, std::array<int64_t, 2> padding)
    : options(make_pool_options("AvgPool2d", kernel, stride, padding)) {}

Tensor AvgPool2d::forward(const Tensor& input) {
  check_image("AvgPool2d", input);
  return avg_pool2d(input, options);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::array<int64_t, 2> size) : output_size(size) {
  SLAB_CHECK(size[0] > 0 && size[1] > 0, "AdaptiveAvgPool2d: output size must be positive, got ", size[0], "x",
             size[1]);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  check_image("AdaptiveAvgPool2d", input);
  return adaptive_avg_pool2d(input, output_size);
}

}  // namespace slab
