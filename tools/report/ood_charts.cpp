#include "tools/report/chart_frame.h"
#include "tools/report/histogram.h"
#include "tools/report/report_sections.h"
#include "tools/report/svg_writer.h"

namespace slab::report {

namespace {

std::string ood_table(const RunData& run) {
  std::string html = "<table class=\"metrics\">\n<thead><tr><th>model</th><th>score</th><th>AUROC</th>"
                     "<th>AUPR-in</th><th>AUPR-out</th><th>FPR at 95% TPR</th></tr></thead>\n<tbody>\n";
  for (const nlohmann::json& m : (*run.ood)["models"])
    for (const char* score : {"max_softmax", "entropy", "mutual_information"}) {
      if (!m.contains(score)) continue;
      html += "<tr><th>" + escape_xml(m.value("name", "")) + "</th><td>" + score + "</td>";
      for (const char* key : {"auroc", "aupr_in", "aupr_out", "fpr95"})
        html += "<td>" + cell(number_of(m[score], key), "%.4f") + "</td>";
      html += "</tr>\n";
    }
  return html + "</tbody></table>\n";
}

std::string histograms(const RunData& run) {
  const OodScores& s = *run.ood_scores;
  const std::string in = run.ood ? (*run.ood).value("in_distribution", "in-distribution") : "in-distribution";
  const std::string out = run.ood ? (*run.ood).value("out_of_distribution", "out-of-distribution") : "out-of-distribution";
  const char* names[] = {"max softmax probability", "predictive entropy (nats)", "mutual information (nats)"};
  const char* ids[] = {"msp", "entropy", "mi"};
  std::string html;
  for (size_t k = 0; k < 3; ++k) {
    if (k == 2 && !run.has_samples()) continue;  // mutual information needs several samples
    Histogram h{"ood-" + std::string(ids[k]) + "-" + run.label, run.label + ": " + names[k] + " on the two sets",
                names[k], 30, {{"test set (in distribution)", s.in[k], palette(0)}, {"OOD set", s.out[k], palette(1)}}};
    html += figure(render_histogram(h), "In distribution: " + in + ". Out of distribution: " + out + ".");
  }
  return html;
}

}  // namespace

std::string ood_charts(const std::vector<RunData>& runs) {
  std::string html;
  for (const RunData& run : runs) {
    if (!run.ood) continue;
    html += "<h3>" + escape_xml(run.label) + "</h3>\n<p class=\"note\">" +
            escape_xml((*run.ood).value("in_distribution", "") + " against " +
                       (*run.ood).value("out_of_distribution", "") + "; " + (*run.ood).value("transform", "")) +
            ". The test set is the positive class; every score is oriented so that higher means more "
            "in-distribution.</p>\n" + ood_table(run);
    if (run.ood_scores) html += histograms(run);
  }
  return html.empty() ? "" : "<section id=\"ood\">\n<h2>Out-of-distribution detection</h2>\n" + html + "</section>\n";
}

}  // namespace slab::report
