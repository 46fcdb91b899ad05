#include "tools/report/histogram.h"

#include <algorithm>
#include <cmath>

#include "tools/report/chart_frame.h"

namespace slab::report {

namespace {

std::vector<double> shares(const std::vector<double>& values, double lo, double hi, int bins) {
  std::vector<double> share(static_cast<size_t>(bins), 0.0);
  for (double v : values) {
    const int b = std::clamp(static_cast<int>((v - lo) / (hi - lo) * bins), 0, bins - 1);
    share[static_cast<size_t>(b)] += 1;
  }
  for (double& s : share) s /= std::max<double>(1, static_cast<double>(values.size()));
  return share;
}

}  // namespace

std::string render_histogram(const Histogram& h) {
  std::vector<double> all;
  for (const Distribution& d : h.sets) all.insert(all.end(), d.values.begin(), d.values.end());
  double lo = all.empty() ? 0 : *std::min_element(all.begin(), all.end());
  double hi = all.empty() ? 1 : *std::max_element(all.begin(), all.end());
  if (hi - lo < 1e-12) hi = lo + 1;
  std::vector<std::vector<double>> share;
  double top = 0;
  for (const Distribution& d : h.sets) {
    share.push_back(shares(d.values, lo, hi, h.bins));
    top = std::max(top, *std::max_element(share.back().begin(), share.back().end()));
  }
  std::vector<LegendItem> legend;
  for (const Distribution& d : h.sets) legend.push_back({d.name + " (" + std::to_string(d.values.size()) + " examples)", d.colour});
  const ChartFrame frame(h.title, {h.x_label, lo, hi}, {"share of the set's examples per bin", 0, top * 1.05 + 1e-9},
                         legend.size());
  SvgWriter svg(frame.width(), frame.height(), h.title, "chart histogram", "data-chart=\"" + h.id + "\"");
  frame.draw(svg);
  const double width = (hi - lo) / h.bins;
  for (size_t s = 0; s < h.sets.size(); ++s) {
    std::vector<Point> outline{frame.at(lo, 0)};
    for (int b = 0; b < h.bins; ++b) {
      const double v = share[s][static_cast<size_t>(b)];
      outline.push_back(frame.at(lo + b * width, v));
      outline.push_back(frame.at(lo + (b + 1) * width, v));
    }
    outline.push_back(frame.at(hi, 0));
    svg.polyline(outline, "series histogram-outline",
                 "style=\"stroke:" + h.sets[s].colour + "\" data-series=\"" + escape_xml(h.sets[s].name) +
                     "\" data-examples=\"" + std::to_string(h.sets[s].values.size()) + "\"");
  }
  frame.draw_legend(svg, legend);
  return svg.finish();
}

}  // namespace slab::report
