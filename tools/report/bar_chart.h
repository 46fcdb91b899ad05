// Grouped bars: one group per category (a layer), one bar per series in it (the channels
// alive at the start, after the first epoch, at the end). Bars are <rect class="bar"
// data-series=NAME data-value=V>.
#pragma once
#include <string>
#include <vector>

namespace slab::report {

struct BarSeries {
  std::string name, colour;
  std::vector<double> values;  // one per category
};

struct BarChart {
  std::string id, title, x_label, y_label;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
};

std::string render_bar_chart(const BarChart& chart);

}  // namespace slab::report
