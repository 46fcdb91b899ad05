#include "tools/report/bar_chart.h"
#include "tools/report/heat_map.h"
#include "tools/report/line_chart.h"
#include "tools/report/report_sections.h"

namespace slab::report {

namespace {

bool weighted(const nlohmann::json& layer) {
  const std::string kind = layer.value("kind", "");
  return (kind == "conv" || kind == "linear") && layer.value("weights", 0) > 0;
}

HeatMap removed_map(const RunData& run) {
  HeatMap map{"sparsity-heat-map-" + run.label,
              run.label + ": share of each layer's weights removed, per epoch",
              "epoch",
              "layer",
              "share removed",
              {},
              {},
              {}};
  for (const nlohmann::json& layer : run.sparsity.front()["layers"])
    if (weighted(layer)) map.rows.push_back(layer["name"].get<std::string>());
  map.values.assign(map.rows.size(), {});
  for (const nlohmann::json& record : run.sparsity) {
    map.columns.push_back(number_of(record, "epoch"));
    size_t row = 0;
    for (const nlohmann::json& layer : record["layers"])
      if (weighted(layer) && row < map.rows.size())
        map.values[row++].push_back(number_of(layer, "removed_weights") / number_of(layer, "weights"));
    for (; row < map.rows.size(); ++row) map.values[row].push_back(0);
  }
  return map;
}

BarChart channels(const RunData& run) {
  BarChart chart{"channels-" + run.label, run.label + ": output channels of each conv layer", "conv layer",
                 "channels", {}, {}};
  BarSeries all{"all filters (before training)", palette(5), {}},
      first{"alive after epoch " + cell(number_of(run.sparsity.front(), "epoch"), "%.0f"), palette(2), {}},
      last{"alive after epoch " + cell(number_of(run.sparsity.back(), "epoch"), "%.0f"), palette(1), {}};
  const nlohmann::json& end_layers = run.sparsity.back()["layers"];
  for (size_t i = 0; i < run.sparsity.front()["layers"].size(); ++i) {
    const nlohmann::json& layer = run.sparsity.front()["layers"][i];
    if (layer.value("kind", "") != "conv" || i >= end_layers.size()) continue;
    chart.categories.push_back(layer["name"].get<std::string>());
    all.values.push_back(number_of(layer, "filters"));
    first.values.push_back(number_of(layer, "filters") - number_of(layer, "dead_filters"));
    last.values.push_back(number_of(end_layers[i], "filters") - number_of(end_layers[i], "dead_filters"));
  }
  chart.series = {all, first, last};
  return chart;
}

LineChart macs_kept(const std::vector<RunData>& runs) {
  LineChart chart{"macs-kept", "Multiply-adds per example kept by the pruned model", "epoch",
                  "MACs kept (% of the dense model)", true, {}, {}, ""};
  for (size_t r = 0; r < runs.size(); ++r) {
    if (runs[r].sparsity.empty()) continue;
    Series s{runs[r].label, {}, {}, palette(r), false};
    for (const nlohmann::json& record : runs[r].sparsity) {
      s.x.push_back(number_of(record, "epoch"));
      s.y.push_back(100 * number_of(record, "flops_kept"));
    }
    chart.series.push_back(s);
  }
  return chart;
}

}  // namespace

std::string pruning_charts(const std::vector<RunData>& runs) {
  std::string html;
  for (const RunData& run : runs) {
    if (run.sparsity.empty()) continue;
    html += figure(render_heat_map(removed_map(run)),
                   "A weight is removed when it is zero, in a dead filter, or reads a dead channel "
                   "(the weights a pruned model drops); one column per epoch, after the epoch.");
    html += figure(render_bar_chart(channels(run)),
                   "A channel is dead when its filter and the BatchNorm after it make it identically zero.");
  }
  if (html.empty()) return "";
  html += figure(render_line_chart(macs_kept(runs)),
                 "Multiply-adds of the convolutions' live filters and the nonzero weights, per example, as a share of "
                 "the dense model's.");
  return "<section id=\"pruning\">\n<h2>Pruning (sghmc-spl)</h2>\n" + html + "</section>\n";
}

}  // namespace slab::report
