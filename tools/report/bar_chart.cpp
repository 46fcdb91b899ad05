#include "tools/report/bar_chart.h"

#include <algorithm>

#include "tools/report/chart_frame.h"

namespace slab::report {

std::string render_bar_chart(const BarChart& chart) {
  std::vector<double> values{0};
  for (const BarSeries& s : chart.series) values.insert(values.end(), s.values.begin(), s.values.end());
  std::vector<LegendItem> legend;
  for (const BarSeries& s : chart.series) legend.push_back({s.name, s.colour});
  const double n = static_cast<double>(std::max<size_t>(chart.categories.size(), 1));
  ChartFrame frame(chart.title, {chart.x_label, 0, n}, fit_axis(chart.y_label, values, true), legend.size());
  frame.hide_x_ticks();
  SvgWriter svg(frame.width(), frame.height(), chart.title, "chart bar-chart", "data-chart=\"" + chart.id + "\"");
  frame.draw(svg);
  const double groups = static_cast<double>(std::max<size_t>(chart.series.size(), 1));
  for (size_t c = 0; c < chart.categories.size(); ++c) {
    const double x0 = static_cast<double>(c) + 0.1;
    for (size_t s = 0; s < chart.series.size(); ++s) {
      const double v = chart.series[s].values[c];
      const Point top_left = frame.at(x0 + 0.8 * static_cast<double>(s) / groups, v);
      const Point bottom_right = frame.at(x0 + 0.8 * static_cast<double>(s + 1) / groups, 0);
      svg.rect(top_left.x, top_left.y, bottom_right.x - top_left.x - 1, bottom_right.y - top_left.y,
               "class=\"bar\" style=\"fill:" + chart.series[s].colour + "\"",
               "data-series=\"" + escape_xml(chart.series[s].name) + "\" data-value=\"" + coordinate(v) + "\"");
    }
    svg.text({frame.at(static_cast<double>(c) + 0.5, 0).x, frame.bottom() + 18}, chart.categories[c], "middle", "tick");
  }
  frame.draw_legend(svg, legend);
  return svg.finish();
}

}  // namespace slab::report
