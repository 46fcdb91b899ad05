#include "tools/report/report_page.h"

#include "tools/report/report_sections.h"
#include "tools/report/svg_writer.h"

namespace slab::report {

namespace {

const char* kStyle = R"(body { font-family: sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
section { margin-bottom: 2em; }
figure { display: inline-block; vertical-align: top; margin: 0.5em; width: 560px; }
figcaption { font-size: 0.8em; color: #555; }
svg.chart { background: #fff; border: 1px solid #ddd; }
.chart-title { font-size: 13px; font-weight: bold; }
.tick, .bar-label, .legend-text, .bin-count { font-size: 10px; fill: #333; }
.axis-label { font-size: 11px; fill: #222; }
.axis { stroke: #333; stroke-width: 1; }
.grid { stroke: #e6e6e6; stroke-width: 1; }
.series { fill: none; stroke-width: 1.8; }
.legend-line { fill: none; stroke-width: 2.5; }
.dashed { stroke-dasharray: 5 3; }
.marker { stroke: #888; stroke-width: 1; stroke-dasharray: 3 3; }
.diagonal { stroke: #888; stroke-width: 1; stroke-dasharray: 5 3; }
.bin { fill: #4a7fb5; opacity: 0.8; }
.confidence-tick { stroke: #d55e00; stroke-width: 2; }
table.metrics { border-collapse: collapse; font-size: 0.85em; }
table.metrics th, table.metrics td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
table.metrics th:first-child { text-align: left; }
.note { font-size: 0.85em; color: #555; }
.backend { font-family: monospace; }
pre.config { font-size: 0.75em; background: #f6f6f6; padding: 0.5em; max-height: 20em; overflow: auto; }
)";

}  // namespace

std::string report_page(const std::vector<RunData>& runs) {
  std::string names;
  for (const RunData& run : runs) names += (names.empty() ? "" : ", ") + run.label;
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>slab report: " +
                     escape_xml(names) + "</title>\n<style>\n" + kStyle + "</style>\n</head>\n<body>\n";
  html += "<h1>slab report: " + escape_xml(names) + "</h1>\n<p class=\"note\">" + std::to_string(runs.size()) +
          " run folder(s); every chart is drawn from the files in them (docs/run-folder.md).</p>\n";
  html += metrics_table(runs) + training_curves(runs) + pruning_charts(runs) + calibration_charts(runs) +
          ood_charts(runs) + configuration(runs);
  return html + "</body>\n</html>\n";
}

}  // namespace slab::report
