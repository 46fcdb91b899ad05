// A reliability diagram: for each of the 15 equal-width confidence bins, a bar as high as
// the accuracy of the test examples whose confidence (max softmax probability) falls in the
// bin, the bin's mean confidence as a tick, the diagonal of perfect calibration, and the
// bin's count written above it. Bars are <rect class="bin" data-count=C>; the chart is
// data-test-size=N (the counts sum to it).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace slab::report {

struct ReliabilityDiagram {
  std::string id, title;
  std::vector<int64_t> count;
  std::vector<double> accuracy, confidence;  // per bin (0 where the bin is empty)
  int64_t test_size = 0;
  double ece = 0;
};

std::string render_reliability_diagram(const ReliabilityDiagram& diagram);

}  // namespace slab::report
