#include "tools/report/line_chart.h"
#include "tools/report/reliability_diagram.h"
#include "tools/report/report_sections.h"

namespace slab::report {

namespace {

ReliabilityDiagram diagram_of(const RunData& run, const nlohmann::json& model, size_t index) {
  ReliabilityDiagram d;
  d.id = "reliability-" + run.label + "-" + std::to_string(index);
  d.title = run.label + ": " + model.value("name", std::string("model"));
  const nlohmann::json& bins = model["reliability"];
  d.count = bins["count"].get<std::vector<int64_t>>();
  d.accuracy = bins["accuracy"].get<std::vector<double>>();
  d.confidence = bins["confidence"].get<std::vector<double>>();
  d.test_size = run.calibration->value("test_size", int64_t{0});
  d.ece = number_of(model["metrics"], "ece");
  return d;
}

LineChart running(const std::vector<RunData>& runs, const std::string& key, const std::string& title,
                  const std::string& y_label, double scale) {
  LineChart chart{"running-" + key, title, "posterior samples in the average", y_label, false, {}, {}, ""};
  for (size_t r = 0; r < runs.size(); ++r) {
    if (!runs[r].calibration || !runs[r].calibration->contains("running_average")) continue;
    Series s{runs[r].label, {}, {}, palette(r), false};
    for (const nlohmann::json& row : (*runs[r].calibration)["running_average"]) {
      s.x.push_back(number_of(row, "samples"));
      s.y.push_back(scale * number_of(row, key));
    }
    if (!s.x.empty()) chart.series.push_back(s);
  }
  return chart;
}

}  // namespace

std::string calibration_charts(const std::vector<RunData>& runs) {
  std::string html;
  for (const RunData& run : runs) {
    if (!run.calibration) continue;
    const nlohmann::json& models = (*run.calibration)["models"];
    for (size_t i = 0; i < models.size(); ++i)
      html += figure(render_reliability_diagram(diagram_of(run, models[i], i)),
                     "Test examples in 15 equal-width bins of confidence (k/15, (k+1)/15]; the counts sum to the "
                     "test-set size, " +
                         std::to_string(run.calibration->value("test_size", 0)) + ".");
  }
  const LineChart accuracy = running(runs, "accuracy", "Model average's accuracy as samples are added",
                                     "test accuracy (%)", 100);
  if (!accuracy.series.empty()) {
    const std::string caption = "The average of the first k samples' softmax outputs, samples in the order saved.";
    html += figure(render_line_chart(accuracy), caption);
    html += figure(render_line_chart(running(runs, "nll", "Model average's NLL as samples are added",
                                             "test NLL (nats per example)", 1)),
                   caption);
    html += figure(render_line_chart(running(runs, "ece", "Model average's ECE as samples are added",
                                             "test ECE (15 bins)", 1)),
                   caption);
  }
  return html.empty() ? "" : "<section id=\"calibration\">\n<h2>Calibration</h2>\n" + html + "</section>\n";
}

}  // namespace slab::report
