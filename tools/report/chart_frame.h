// The frame every slab-report chart shares: a plot area with linear axes (ticks at 1, 2 or
// 5 times a power of ten, grid lines, the axis labels with their units), a title, and a
// legend under the plot; and the colour palette the series take in order.
#pragma once
#include <string>
#include <vector>

#include "tools/report/svg_writer.h"

namespace slab::report {

struct Axis {
  std::string label;  // with the unit: "epoch", "loss (nats per example)"
  double min = 0, max = 1;
};

// An axis over `values` (finite ones), widened by 5% each side; `from_zero` starts it at 0.
Axis fit_axis(const std::string& label, const std::vector<double>& values, bool from_zero);

// Tick positions in [min, max], about `target` of them, at 1, 2 or 5 times a power of ten.
std::vector<double> nice_ticks(double min, double max, int target);
std::string tick_label(double value, double step);

// The i-th colour of the palette (8 colours that stay apart for common colour blindness).
std::string palette(size_t i);

struct LegendItem {
  std::string name;
  std::string colour;
  bool dashed = false;
};

class ChartFrame {
 public:
  static constexpr double kWidth = 560, kPlotHeight = 250;
  ChartFrame(std::string title, Axis x, Axis y, size_t legend_items);

  double width() const { return kWidth; }
  double height() const;
  Point at(double x, double y) const;  // data -> SVG coordinates
  double left() const { return left_; }
  double right() const { return right_; }
  double top() const { return top_; }
  double bottom() const { return bottom_; }

  void draw(SvgWriter& svg) const;  // title, grid, ticks and axis labels
  void hide_x_ticks() { x_ticks_ = false; }  // a chart that labels its categories itself
  void draw_legend(SvgWriter& svg, const std::vector<LegendItem>& items) const;

 private:
  std::string title_;
  Axis x_, y_;
  size_t legend_items_;
  bool x_ticks_ = true;
  double left_ = 70, right_ = kWidth - 20, top_ = 34, bottom_ = 34 + kPlotHeight;
};

}  // namespace slab::report
