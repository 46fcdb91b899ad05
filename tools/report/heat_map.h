// A heat map: one row per layer, one column per epoch, each cell's colour its value in
// [0, 1] on a white-to-dark-blue scale drawn beside it with its ticks. Cells are
// <rect class="cell" data-value=V>; the map is data-rows / data-columns.
#pragma once
#include <string>
#include <vector>

namespace slab::report {

struct HeatMap {
  std::string id, title;
  std::string x_label, y_label, value_label;  // value_label names the colour scale
  std::vector<std::string> rows;
  std::vector<double> columns;               // the x values (epochs)
  std::vector<std::vector<double>> values;   // [row][column], in [0, 1]
};

std::string render_heat_map(const HeatMap& map);
// The scale's colour of v in [0, 1].
std::string heat_colour(double v);

}  // namespace slab::report
