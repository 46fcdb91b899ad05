#include "tools/report/chart_frame.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace slab::report {

namespace {
constexpr size_t kLegendColumns = 2;
constexpr double kLegendRow = 18;
}  // namespace

Axis fit_axis(const std::string& label, const std::vector<double>& values, bool from_zero) {
  double lo = 1e300, hi = -1e300;
  for (double v : values)
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  if (lo > hi) lo = 0, hi = 1;
  if (from_zero) lo = std::min(lo, 0.0);
  if (hi - lo < 1e-12) {
    const double pad = std::max(std::abs(hi) * 0.1, 1e-3);
    return {label, lo - (from_zero && lo == 0 ? 0 : pad), hi + pad};
  }
  const double pad = 0.05 * (hi - lo);
  return {label, from_zero && lo == 0 ? 0 : lo - pad, hi + pad};
}

std::vector<double> nice_ticks(double min, double max, int target) {
  const double raw = (max - min) / std::max(target, 1);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(min / step - 1e-9) * step; t <= max + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string tick_label(double value, double step) {
  const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 6);
  char text[64];
  if (std::abs(value) >= 1e5 || (std::abs(value) < 1e-3 && value != 0))
    std::snprintf(text, sizeof text, "%.2g", value);
  else
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string palette(size_t i) {
  static const char* colours[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                  "#e69f00", "#56b4e9", "#000000", "#999933"};
  return colours[i % 8];
}

ChartFrame::ChartFrame(std::string title, Axis x, Axis y, size_t legend_items)
    : title_(std::move(title)), x_(std::move(x)), y_(std::move(y)), legend_items_(legend_items) {}

double ChartFrame::height() const {
  const size_t rows = (legend_items_ + kLegendColumns - 1) / kLegendColumns;
  return bottom_ + 44 + static_cast<double>(rows) * kLegendRow;
}

Point ChartFrame::at(double x, double y) const {
  const double fx = (x - x_.min) / (x_.max - x_.min), fy = (y - y_.min) / (y_.max - y_.min);
  return {left_ + fx * (right_ - left_), bottom_ - fy * (bottom_ - top_)};
}

void ChartFrame::draw(SvgWriter& svg) const {
  svg.text({kWidth / 2, 20}, title_, "middle", "chart-title");
  const std::vector<double> xs = nice_ticks(x_.min, x_.max, 6), ys = nice_ticks(y_.min, y_.max, 5);
  const double x_step = xs.size() > 1 ? xs[1] - xs[0] : 1, y_step = ys.size() > 1 ? ys[1] - ys[0] : 1;
  for (double t : ys) {
    const double y = at(x_.min, t).y;
    svg.line({left_, y}, {right_, y}, "grid");
    svg.text({left_ - 6, y + 4}, tick_label(t, y_step), "end", "tick");
  }
  for (double t : xs) {
    if (!x_ticks_) break;
    const double x = at(t, y_.min).x;
    svg.line({x, bottom_}, {x, bottom_ + 5}, "axis");
    svg.text({x, bottom_ + 18}, tick_label(t, x_step), "middle", "tick");
  }
  svg.line({left_, top_}, {left_, bottom_}, "axis");
  svg.line({left_, bottom_}, {right_, bottom_}, "axis");
  svg.text({(left_ + right_) / 2, bottom_ + 36}, x_.label, "middle", "axis-label");
  svg.text({16, (top_ + bottom_) / 2}, y_.label, "middle", "axis-label", -90);
}

void ChartFrame::draw_legend(SvgWriter& svg, const std::vector<LegendItem>& items) const {
  svg.open_group("class=\"legend\"");
  const double column_width = (right_ - left_) / kLegendColumns;
  for (size_t i = 0; i < items.size(); ++i) {
    const double x = left_ + static_cast<double>(i % kLegendColumns) * column_width;
    const double y = bottom_ + 56 + static_cast<double>(i / kLegendColumns) * kLegendRow;
    svg.polyline({{x, y - 4}, {x + 22, y - 4}}, items[i].dashed ? "legend-line dashed" : "legend-line",
                 "style=\"stroke:" + items[i].colour + "\"");
    svg.text({x + 28, y}, items[i].name, "start", "legend-text");
  }
  svg.close_group();
}

}  // namespace slab::report
