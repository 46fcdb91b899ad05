#include <functional>

#include "tools/report/report_sections.h"
#include "tools/report/svg_writer.h"

namespace slab::report {

namespace {

// The entry of ood.json of `kind` ("average", "final", "temperature-scaled").
nlohmann::json ood_entry(const RunData& run, const std::string& kind) {
  if (!run.ood) return nullptr;
  for (const nlohmann::json& m : (*run.ood)["models"])
    if (m.value("kind", "") == kind) return m;
  return nullptr;
}

double ood_auroc(const RunData& run, const std::string& kind, const std::string& score) {
  const nlohmann::json entry = ood_entry(run, kind);
  return entry.is_object() && entry.contains(score) ? number_of(entry[score], "auroc") : number_of(nullptr, "");
}

nlohmann::json summary_part(const RunData& run, const std::string& a, const std::string& b = "") {
  if (!run.summary || !run.summary->contains(a)) return nullptr;
  const nlohmann::json& part = (*run.summary)[a];
  return b.empty() ? part : part.contains(b) ? part[b] : nlohmann::json(nullptr);
}

nlohmann::json temperature_part(const RunData& run) {
  return run.temperature && run.temperature->contains("test_after") ? (*run.temperature)["test_after"]
                                                                    : nlohmann::json(nullptr);
}

struct Row {
  std::string name;
  std::function<std::string(const RunData&)> value;
};

std::vector<Row> rows() {
  auto metric = [](std::function<nlohmann::json(const RunData&)> part, std::string key, double scale, const char* f) {
    return [=](const RunData& r) { return cell(scale * number_of(part(r), key), f); };
  };
  auto test = [](const RunData& r) { return summary_part(r, "test"); };
  auto bma = [](const RunData& r) { return summary_part(r, "posterior", "bma"); };
  return {
      {"optimizer", [](const RunData& r) { return r.optimizer(); }},
      {"epochs", [](const RunData& r) { return std::to_string(r.epochs.size()); }},
      {"final weights: test accuracy (%)", metric(test, "accuracy", 100, "%.2f")},
      {"final weights: NLL", metric(test, "nll", 1, "%.4f")},
      {"final weights: ECE", metric(test, "ece", 1, "%.4f")},
      {"final weights: Brier", metric(test, "brier", 1, "%.4f")},
      {"model average: accuracy (%)", metric(bma, "accuracy", 100, "%.2f")},
      {"model average: NLL", metric(bma, "nll", 1, "%.4f")},
      {"model average: ECE", metric(bma, "ece", 1, "%.4f")},
      {"model average: Brier", metric(bma, "brier", 1, "%.4f")},
      {"temperature T (fitted on the held-out set)",
       [](const RunData& r) { return cell(r.temperature ? number_of(*r.temperature, "temperature") : number_of(nullptr, ""), "%.3f"); }},
      {"temperature-scaled: accuracy (%)", metric(temperature_part, "accuracy", 100, "%.2f")},
      {"temperature-scaled: NLL", metric(temperature_part, "nll", 1, "%.4f")},
      {"temperature-scaled: ECE", metric(temperature_part, "ece", 1, "%.4f")},
      {"temperature-scaled: Brier", metric(temperature_part, "brier", 1, "%.4f")},
      {"OOD AUROC, max softmax (average or final weights)",
       [](const RunData& r) { return cell(r.has_samples() ? ood_auroc(r, "average", "max_softmax") : ood_auroc(r, "final", "max_softmax"), "%.4f"); }},
      {"OOD AUROC, mutual information (average)", [](const RunData& r) { return cell(ood_auroc(r, "average", "mutual_information"), "%.4f"); }},
      {"OOD AUROC, max softmax, temperature-scaled",
       [](const RunData& r) { return cell(ood_auroc(r, "temperature-scaled", "max_softmax"), "%.4f"); }},
      {"parameters that are zero", metric([](const RunData& r) { return summary_part(r, "sparsity"); }, "sparsity", 1, "%.4f")},
      {"FLOPs kept", metric([](const RunData& r) { return summary_part(r, "sparsity"); }, "flops_kept", 1, "%.3f")},
      {"training time (s)", [](const RunData& r) { return cell(r.summary ? number_of(*r.summary, "seconds") : number_of(nullptr, ""), "%.0f"); }},
  };
}

}  // namespace

std::string metrics_table(const std::vector<RunData>& runs) {
  std::string html = "<section id=\"final-metrics\">\n<h2>Final metrics</h2>\n<table class=\"metrics\">\n<thead><tr><th>metric</th>";
  for (const RunData& run : runs) html += "<th>" + escape_xml(run.label) + "</th>";
  html += "</tr></thead>\n<tbody>\n";
  for (const Row& row : rows()) {
    html += "<tr><th>" + escape_xml(row.name) + "</th>";
    for (const RunData& run : runs) html += "<td>" + escape_xml(row.value(run)) + "</td>";
    html += "</tr>\n";
  }
  return html +
         "</tbody></table>\n<p class=\"note\">On the test set. NLL in nats per example; ECE over 15 equal-width "
         "confidence bins; Brier summed over classes. A dash: the run folder does not hold it (temperature scaling "
         "needs a run trained with --holdout and slab-eval; OOD scores need slab-eval --ood-data-dir).</p>\n</section>\n";
}

}  // namespace slab::report
