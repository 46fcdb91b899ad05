#include "tools/report/heat_map.h"

#include <algorithm>
#include <cstdio>

#include "tools/report/chart_frame.h"
#include "tools/report/svg_writer.h"

namespace slab::report {

std::string heat_colour(double v) {
  v = std::clamp(v, 0.0, 1.0);
  // From white (247, 251, 255) to dark blue (8, 48, 107), linear in each channel.
  const int r = static_cast<int>(247 + (8 - 247) * v + 0.5), g = static_cast<int>(251 + (48 - 251) * v + 0.5),
            b = static_cast<int>(255 + (107 - 255) * v + 0.5);
  char text[16];
  std::snprintf(text, sizeof text, "#%02x%02x%02x", r, g, b);
  return text;
}

std::string render_heat_map(const HeatMap& map) {
  const double left = 150, top = 34, right = 480, row_height = 22;
  const double bottom = top + row_height * static_cast<double>(std::max<size_t>(map.rows.size(), 1));
  const double width = 560, height = bottom + 50;
  const size_t columns = std::max<size_t>(map.columns.size(), 1);
  const double cell = (right - left) / static_cast<double>(columns);
  SvgWriter svg(width, height, map.title, "chart heat-map",
                "data-chart=\"" + map.id + "\" data-rows=\"" + std::to_string(map.rows.size()) + "\" data-columns=\"" +
                    std::to_string(map.columns.size()) + "\"");
  svg.text({width / 2, 20}, map.title, "middle", "chart-title");
  for (size_t r = 0; r < map.rows.size(); ++r) {
    const double y = top + row_height * static_cast<double>(r);
    svg.text({left - 6, y + row_height / 2 + 4}, map.rows[r], "end", "tick");
    for (size_t c = 0; c < map.columns.size(); ++c) {
      const double v = map.values[r][c];
      svg.rect(left + cell * static_cast<double>(c), y, cell, row_height,
               "class=\"cell\" style=\"fill:" + heat_colour(v) + "\"", "data-value=\"" + coordinate(v) + "\"");
    }
  }
  const size_t every = std::max<size_t>(1, map.columns.size() / 10);
  for (size_t c = 0; c < map.columns.size(); c += every)
    svg.text({left + cell * (static_cast<double>(c) + 0.5), bottom + 16}, coordinate(map.columns[c]), "middle", "tick");
  svg.text({(left + right) / 2, bottom + 36}, map.x_label, "middle", "axis-label");
  svg.text({14, (top + bottom) / 2}, map.y_label, "middle", "axis-label", -90);
  // The colour scale: 0 at the bottom, 1 at the top.
  const double scale_left = right + 24, scale_height = std::max(bottom - top, 100.0);
  for (int k = 0; k < 20; ++k)
    svg.rect(scale_left, top + scale_height * (19 - k) / 20, 14, scale_height / 20 + 0.5,
             "style=\"fill:" + heat_colour((k + 0.5) / 20) + "\"", "");
  for (double t : {0.0, 0.5, 1.0})
    svg.text({scale_left + 18, top + scale_height * (1 - t) + 4}, tick_label(t, 0.1), "start", "tick");
  svg.text({width - 6, (top + top + scale_height) / 2}, map.value_label, "middle", "axis-label", -90);
  return svg.finish();
}

}  // namespace slab::report
