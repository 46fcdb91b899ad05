#include "tools/report/reliability_diagram.h"

#include <cstdio>

#include "tools/report/chart_frame.h"

namespace slab::report {

std::string render_reliability_diagram(const ReliabilityDiagram& d) {
  const ChartFrame frame(d.title, {"confidence (max softmax probability)", 0, 1}, {"accuracy in the bin", 0, 1}, 3);
  char ece[64];
  std::snprintf(ece, sizeof ece, "%.4f", d.ece);
  SvgWriter svg(frame.width(), frame.height(), d.title, "chart reliability",
                "data-chart=\"" + d.id + "\" data-test-size=\"" + std::to_string(d.test_size) + "\" data-ece=\"" + ece +
                    "\"");
  frame.draw(svg);
  const size_t bins = d.count.size();
  for (size_t b = 0; b < bins; ++b) {
    const double lo = static_cast<double>(b) / static_cast<double>(bins), hi = static_cast<double>(b + 1) / static_cast<double>(bins);
    const Point top_left = frame.at(lo, d.accuracy[b]), bottom_right = frame.at(hi, 0);
    svg.rect(top_left.x + 1, top_left.y, bottom_right.x - top_left.x - 2, bottom_right.y - top_left.y,
             "class=\"bin\"", "data-count=\"" + std::to_string(d.count[b]) + "\"");
    if (d.count[b] == 0) continue;
    const Point mean = frame.at(d.confidence[b], d.accuracy[b]);
    svg.line({mean.x, mean.y - 4}, {mean.x, mean.y + 4}, "confidence-tick");
    svg.text({(top_left.x + bottom_right.x) / 2, top_left.y - 4}, std::to_string(d.count[b]), "middle", "bin-count");
  }
  svg.line(frame.at(0, 0), frame.at(1, 1), "diagonal");
  frame.draw_legend(svg, {{"accuracy of the bin (bar; its count above it)", "#4a7fb5", false},
                          {"perfect calibration (accuracy = confidence)", "#888888", true},
                          {std::string("mean confidence of the bin (tick); ECE ") + ece, "#d55e00", false}});
  return svg.finish();
}

}  // namespace slab::report
