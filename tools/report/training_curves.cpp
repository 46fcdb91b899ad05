#include "tools/report/line_chart.h"
#include "tools/report/report_sections.h"

namespace slab::report {

namespace {

// Two series per run (training solid, test dashed), one colour per run.
LineChart train_and_test(const std::vector<RunData>& runs, const std::string& id, const std::string& title,
                         const std::string& y_label, const std::string& train_key, const std::string& test_key,
                         double scale) {
  LineChart chart{id, title, "epoch", y_label, false, {}, {}, ""};
  for (size_t r = 0; r < runs.size(); ++r) {
    const std::vector<double> epochs = column(runs[r], "epoch");
    std::vector<double> train = column(runs[r], train_key), test = column(runs[r], test_key);
    for (double& v : train) v *= scale;
    for (double& v : test) v *= scale;
    chart.series.push_back({runs[r].label + ": training", epochs, train, palette(r), false});
    chart.series.push_back({runs[r].label + ": test", epochs, test, palette(r), true});
  }
  return chart;
}

LineChart learning_rate(const std::vector<RunData>& runs) {
  LineChart chart{"learning-rate", "Learning rate (C^2 for the samplers) at each epoch's last step", "epoch",
                  "learning rate", true, {}, {}, "epoch a posterior sample was saved"};
  for (size_t r = 0; r < runs.size(); ++r) {
    chart.series.push_back({runs[r].label, column(runs[r], "epoch"), column(runs[r], "lr"), palette(r), false});
    for (const nlohmann::json& e : runs[r].epochs)
      if (e.contains("sample") && e["sample"].is_string() && !e["sample"].get<std::string>().empty())
        chart.marker_x.push_back(number_of(e, "epoch"));
  }
  return chart;
}

std::string temperatures(const std::vector<RunData>& runs) {
  std::string text;
  for (const RunData& run : runs) {
    if (!run.has_samples() && run.optimizer().find("sghmc") == std::string::npos) continue;
    text += (text.empty() ? "" : "; ") + run.label + ": temperature T = " +
            cell(number_of(run.config, "temperature_value"), "%g");
  }
  return text.empty() ? "" : " Sampler temperature (constant over the run): " + text + ".";
}

}  // namespace

std::string training_curves(const std::vector<RunData>& runs) {
  std::string html = "<section id=\"training\">\n<h2>Training</h2>\n";
  html += figure(render_line_chart(train_and_test(runs, "loss", "Cross-entropy loss per epoch",
                                                  "loss (nats per example)", "train_loss", "test_loss", 1)),
                 "Training loss: the mean over the epoch's batches, as the weights moved; test loss: after the epoch.");
  html += figure(render_line_chart(train_and_test(runs, "accuracy", "Accuracy per epoch", "accuracy (%)",
                                                  "train_acc", "test_acc", 100)),
                 "Share of examples whose most probable class is the label.");
  html += figure(render_line_chart(learning_rate(runs)),
                 "The schedule's value at the epoch's last step; vertical dashed lines mark the epochs that ended "
                 "with a posterior sample." +
                     temperatures(runs));
  return html + "</section>\n";
}

}  // namespace slab::report
