// Pooling layers over NCHW images: MaxPool2d, AvgPool2d (count_include_pad, as PyTorch),
// AdaptiveAvgPool2d. No parameters.
#pragma once
#include <array>

#include "layers/module.h"

namespace slab {

class MaxPool2d : public Module {
 public:
  // stride 0 means "equal to the kernel", PyTorch's default.
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  MaxPool2d(std::array<int64_t, 2> kernel_size, std::array<int64_t, 2> stride, std::array<int64_t, 2> padding);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "MaxPool2d"; }
  // Padding is -infinity for a maximum, so a constant channel stays constant.
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    return graph.pass_through(*this, input, keeps_constants());
  }

  Pool2dOptions options;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  AvgPool2d(std::array<int64_t, 2> kernel_size, std::array<int64_t, 2> stride, std::array<int64_t, 2> padding);
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "AvgPool2d"; }
  // Zero padding counted in the average makes a constant channel smaller at the borders.
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    const bool padded = options.padding[0] > 0 || options.padding[1] > 0;
    return graph.pass_through(*this, input, padded ? breaks_constants() : keeps_constants());
  }

  Pool2dOptions options;
};

// Averages each channel over the bins of PyTorch's adaptive pooling
// (bin i covers [floor(i H / out), ceil((i + 1) H / out))).
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(std::array<int64_t, 2> output_size);
  explicit AdaptiveAvgPool2d(int64_t output_size) : AdaptiveAvgPool2d({output_size, output_size}) {}
  Tensor forward(const Tensor& input) override;
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  ChannelValue declare_channels(ChannelGraphBuilder& graph, ChannelValue input) override {
    return graph.pass_through(*this, input, keeps_constants());
  }

  const std::array<int64_t, 2> output_size;
};

}  // namespace slab
