// Line charts: one polyline per series with a marker at each point (one point per epoch for
// the training curves), optional vertical markers (the epochs a posterior sample was taken).
// Each series is <polyline class="series" data-series=NAME data-points=N>, so a test can
// count its points.
#pragma once
#include <string>
#include <vector>

#include "tools/report/chart_frame.h"

namespace slab::report {

struct Series {
  std::string name;
  std::vector<double> x, y;  // same length
  std::string colour;
  bool dashed = false;
};

struct LineChart {
  std::string id;     // data-chart
  std::string title;  // what the chart shows, readable without the code
  std::string x_label, y_label;
  bool y_from_zero = false;
  std::vector<Series> series;
  std::vector<double> marker_x;  // vertical lines
  std::string marker_label;      // their legend entry
};

std::string render_line_chart(const LineChart& chart);

}  // namespace slab::report
