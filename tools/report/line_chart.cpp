#include "tools/report/line_chart.h"

#include <algorithm>

namespace slab::report {

std::string render_line_chart(const LineChart& chart) {
  std::vector<double> xs, ys;
  for (const Series& s : chart.series) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    ys.insert(ys.end(), s.y.begin(), s.y.end());
  }
  xs.insert(xs.end(), chart.marker_x.begin(), chart.marker_x.end());
  std::vector<LegendItem> legend;
  for (const Series& s : chart.series) legend.push_back({s.name, s.colour, s.dashed});
  if (!chart.marker_x.empty()) legend.push_back({chart.marker_label, "#888888", true});
  const ChartFrame frame(chart.title, fit_axis(chart.x_label, xs, false), fit_axis(chart.y_label, ys, chart.y_from_zero),
                         legend.size());
  SvgWriter svg(frame.width(), frame.height(), chart.title, "chart line-chart", "data-chart=\"" + chart.id + "\"");
  frame.draw(svg);
  for (double x : chart.marker_x) {
    const double px = frame.at(x, 0).x;
    svg.line({px, frame.top()}, {px, frame.bottom()}, "marker");
  }
  for (const Series& s : chart.series) {
    std::vector<Point> points;
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) points.push_back(frame.at(s.x[i], s.y[i]));
    svg.polyline(points, s.dashed ? "series dashed" : "series",
                 "style=\"stroke:" + s.colour + "\" data-series=\"" + escape_xml(s.name) + "\" data-points=\"" +
                     std::to_string(points.size()) + "\"");
    for (const Point& p : points) svg.circle(p, 2.5, "class=\"dot\" style=\"fill:" + s.colour + "\"");
  }
  frame.draw_legend(svg, legend);
  return svg.finish();
}

}  // namespace slab::report
