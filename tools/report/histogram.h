// Overlaid histograms of one score on several sets (OOD detection: the in-distribution test
// set against the out-of-distribution one): each set's share of its examples per bin, drawn
// as a step outline, so sets of different sizes compare. Each outline is
// <polyline class="series" data-series=NAME data-examples=N>.
#pragma once
#include <string>
#include <vector>

namespace slab::report {

struct Distribution {
  std::string name;
  std::vector<double> values;
  std::string colour;
};

struct Histogram {
  std::string id, title, x_label;
  int bins = 30;
  std::vector<Distribution> sets;
};

std::string render_histogram(const Histogram& histogram);

}  // namespace slab::report
