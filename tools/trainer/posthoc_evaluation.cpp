#include "tools/trainer/posthoc_evaluation.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "bayes/metrics.h"
#include "bayes/model_average.h"
#include "bayes/ood_metrics.h"
#include "bayes/temperature_scaling.h"
#include "tools/trainer/calibration_record.h"
#include "tools/trainer/evaluate.h"
#include "tools/trainer/run_folder.h"

namespace slab::tools {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// The per-example scores of one predictive distribution on the test and the OOD set,
// each oriented so that higher means "more in-distribution".
struct Scores {
  std::vector<double> msp_in, msp_out, entropy_in, entropy_out, mi_in, mi_out;
};

std::vector<double> negated(std::vector<double> v) {
  for (double& x : v) x = -x;
  return v;
}

Scores scores_of(const Tensor& p_in, const Tensor& p_out) {
  Scores s;
  s.msp_in = max_softmax_probability(p_in);
  s.msp_out = max_softmax_probability(p_out);
  s.entropy_in = negated(predictive_entropy(p_in));
  s.entropy_out = negated(predictive_entropy(p_out));
  return s;
}

Json detection_json(const DetectionMetrics& m) {
  Json j;
  j["auroc"] = m.auroc;
  j["aupr_in"] = m.aupr_in;
  j["aupr_out"] = m.aupr_out;
  j["fpr95"] = m.fpr95;
  return j;
}

Json ood_entry(const std::string& name, const std::string& kind, const Scores& s) {
  Json j;
  j["name"] = name;
  j["kind"] = kind;
  j["max_softmax"] = detection_json(detection_metrics(s.msp_in, s.msp_out));
  j["entropy"] = detection_json(detection_metrics(s.entropy_in, s.entropy_out));
  if (!s.mi_in.empty()) j["mutual_information"] = detection_json(detection_metrics(s.mi_in, s.mi_out));
  return j;
}

// The running sums behind the model average and its mutual information.
struct Pooled {
  ModelAverage test, holdout, ood;
  std::vector<double> entropy_test, entropy_ood;  // sums over samples of each sample's entropy
  Tensor test_labels, holdout_labels;
  Tensor last_test, last_holdout, last_ood;       // the last model's own predictions
  int64_t models = 0;
};

void add_entropies(std::vector<double>& sum, const Tensor& p) {
  const std::vector<double> h = predictive_entropy(p);
  if (sum.empty()) sum.assign(h.size(), 0.0);
  for (size_t i = 0; i < h.size(); ++i) sum[i] += h[i];
}

// H(mean p) - mean H(p_s) per example, negated (a score: higher = more in-distribution).
std::vector<double> mutual_information_score(const Tensor& mean, const std::vector<double>& entropy_sum, int64_t n) {
  std::vector<double> mi = predictive_entropy(mean);
  for (size_t i = 0; i < mi.size(); ++i) mi[i] = -(mi[i] - entropy_sum[i] / static_cast<double>(n));
  return mi;
}

void predict_model(const NamedModel& named, bool single, const PosthocSets& sets, Device device, Pooled& pool,
                   Json& ood_models) {
  const std::shared_ptr<Module> model = named.load();
  const Predictions test = predict(*model, *sets.test, device);
  pool.test_labels = test.labels;
  pool.last_test = test.probabilities;
  pool.test.add(test.probabilities);
  if (sets.holdout) {
    const Predictions holdout = predict(*model, *sets.holdout, device);
    pool.holdout_labels = holdout.labels;
    pool.last_holdout = holdout.probabilities;
    pool.holdout.add(holdout.probabilities);
  }
  if (sets.ood) {
    pool.last_ood = predict(*model, *sets.ood, device).probabilities;
    pool.ood.add(pool.last_ood);
    add_entropies(pool.entropy_test, test.probabilities);
    add_entropies(pool.entropy_ood, pool.last_ood);
    ood_models.push_back(ood_entry(named.name, single ? "final" : "sample", scores_of(test.probabilities, pool.last_ood)));
  }
  ++pool.models;
}

void write_scores_csv(const std::string& path, const Scores& s) {
  std::string text = "set,max_softmax,entropy,mutual_information\n";
  char line[128];
  auto rows = [&](const char* set, const std::vector<double>& msp, const std::vector<double>& h,
                  const std::vector<double>& mi) {
    for (size_t i = 0; i < msp.size(); ++i) {
      std::snprintf(line, sizeof line, "%s,%.6g,%.6g,%.6g\n", set, msp[i], -h[i], mi.empty() ? 0.0 : -mi[i]);
      text += line;
    }
  };
  rows("in", s.msp_in, s.entropy_in, s.mi_in);
  rows("out", s.msp_out, s.entropy_out, s.mi_out);
  write_file_atomically(path, text);
}

Json read_json_or_empty(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Json::object();
  Json j = Json::parse(in, nullptr, false);
  return j.is_discarded() ? Json::object() : j;
}

// Temperature scaling of the final predictive distribution: T from the held-out set, the
// test metrics before and after, the scaled model's bins added to calibration.json.
struct Scaled {
  double temperature = 1;
  ClassificationMetrics test;
  Tensor test_p, ood_p;
};

Scaled fit_and_scale(const Tensor& holdout_p, const Tensor& test_p, const Tensor& ood_p, const Pooled& pool,
                     const PosthocSets& sets, const std::string& run_dir) {
  Scaled s;
  s.temperature = fit_temperature(holdout_p, pool.holdout_labels);
  s.test_p = scale_temperature(test_p, s.temperature);
  if (ood_p.defined()) s.ood_p = scale_temperature(ood_p, s.temperature);
  s.test = classification_metrics(s.test_p, pool.test_labels);
  Json t;
  t["temperature"] = s.temperature;
  t["fitted_on"] = sets.holdout_name;
  t["holdout_size"] = pool.holdout_labels.numel();
  t["holdout_nll_before"] = temperature_nll(holdout_p, pool.holdout_labels, 1.0);
  t["holdout_nll_after"] = temperature_nll(holdout_p, pool.holdout_labels, s.temperature);
  t["test_before"] = metrics_json(classification_metrics(test_p, pool.test_labels));
  t["test_after"] = metrics_json(s.test);
  const std::string calibration = (fs::path(run_dir) / "calibration.json").string();
  Json c = read_json_or_empty(calibration);
  if (c.contains("models")) {
    Json kept = Json::array();  // a second slab-eval replaces the scaled entry, not adds one
    for (const Json& m : c["models"])
      if (m.value("kind", "") != "temperature-scaled") kept.push_back(m);
    c["models"] = kept;
  } else {
    c["test_size"] = s.test.count;
    c["models"] = Json::array();
  }
  char name[96];
  std::snprintf(name, sizeof name, "temperature-scaled (T = %.3f)", s.temperature);
  c["models"].push_back(calibration_entry(name, "temperature-scaled", s.test, calibration_bins(s.test_p, pool.test_labels)));
  write_file_atomically(calibration, c.dump(2) + "\n");
  write_file_atomically((fs::path(run_dir) / "temperature.json").string(), t.dump(2) + "\n");
  std::printf("temperature scaling: T = %.4f (fitted on %s); test %s\n", s.temperature, sets.holdout_name.c_str(),
              s.test.describe().c_str());
  return s;
}

void print_ood(const Json& models, const PosthocSets& sets) {
  std::printf("OOD: %s (in) against %s (out, %s)\n", sets.test_name.c_str(), sets.ood_name.c_str(),
              sets.ood_transform.c_str());
  std::printf("  %-40s %-18s %7s %8s %8s %7s\n", "model", "score", "AUROC", "AUPR-in", "AUPR-out", "FPR95");
  for (const Json& m : models)
    for (const char* score : {"max_softmax", "entropy", "mutual_information"})
      if (m.contains(score))
        std::printf("  %-40s %-18s %7.4f %8.4f %8.4f %7.4f\n", m["name"].get<std::string>().c_str(), score,
                    m[score]["auroc"].get<double>(), m[score]["aupr_in"].get<double>(),
                    m[score]["aupr_out"].get<double>(), m[score]["fpr95"].get<double>());
}

std::string key_values(const std::optional<Scaled>& scaled, const Json& final_ood, const Json& scaled_ood) {
  char text[512] = "";
  size_t used = 0;
  auto add = [&](const char* key, double value) {
    used += static_cast<size_t>(std::snprintf(text + used, sizeof text - used, " %s=%.4f", key, value));
  };
  if (!final_ood.is_null()) {
    add("ood_auroc", final_ood["max_softmax"]["auroc"].get<double>());
    add("ood_auroc_entropy", final_ood["entropy"]["auroc"].get<double>());
    if (final_ood.contains("mutual_information")) add("ood_auroc_mi", final_ood["mutual_information"]["auroc"].get<double>());
  }
  if (scaled) {
    add("temperature", scaled->temperature);
    for (auto [key, value] : {std::pair{"ts_acc", scaled->test.accuracy}, {"ts_nll", scaled->test.nll},
                              {"ts_ece", scaled->test.ece}, {"ts_brier", scaled->test.brier}})
      add(key, value);
    if (!scaled_ood.is_null()) add("ts_ood_auroc", scaled_ood["max_softmax"]["auroc"].get<double>());
  }
  return used > 0 ? std::string(text + 1) : std::string();
}

}  // namespace

std::string posthoc_evaluation(const std::vector<NamedModel>& models, bool average, const PosthocSets& sets,
                               Device device, const std::string& run_dir) {
  if (!sets.holdout && !sets.ood) return "";
  SLAB_CHECK(!models.empty(), "post-hoc evaluation: no model");
  Json ood_models = Json::array();
  Pooled pool;
  for (const NamedModel& model : models) predict_model(model, !average, sets, device, pool, ood_models);
  const Tensor test_p = average ? pool.test.mean() : pool.last_test;
  const Tensor ood_p = sets.ood ? (average ? pool.ood.mean() : pool.last_ood) : Tensor();
  Json final_ood, scaled_ood;
  Scores final_scores;
  if (sets.ood) {
    final_scores = scores_of(test_p, ood_p);
    if (average) {
      final_scores.mi_in = mutual_information_score(test_p, pool.entropy_test, pool.models);
      final_scores.mi_out = mutual_information_score(ood_p, pool.entropy_ood, pool.models);
      final_ood = ood_entry("model average of " + std::to_string(pool.models) + " samples", "average", final_scores);
      ood_models.push_back(final_ood);
    } else {
      final_ood = ood_models.back();
    }
  }
  std::optional<Scaled> scaled;
  if (sets.holdout)
    scaled = fit_and_scale(average ? pool.holdout.mean() : pool.last_holdout, test_p, ood_p, pool, sets, run_dir);
  if (sets.ood) {
    if (scaled) {
      char name[96];
      std::snprintf(name, sizeof name, "temperature-scaled (T = %.3f)", scaled->temperature);
      scaled_ood = ood_entry(name, "temperature-scaled", scores_of(scaled->test_p, scaled->ood_p));
      ood_models.push_back(scaled_ood);
    }
    Json j;
    j["in_distribution"] = sets.test_name;
    j["out_of_distribution"] = sets.ood_name;
    j["transform"] = sets.ood_transform;
    j["in_size"] = pool.test_labels.numel();
    j["out_size"] = ood_p.size(0);
    j["score_orientation"] = "higher = more in-distribution: max softmax, -entropy, -mutual information";
    j["models"] = ood_models;
    write_file_atomically((fs::path(run_dir) / "ood.json").string(), j.dump(2) + "\n");
    write_scores_csv((fs::path(run_dir) / "ood_scores.csv").string(), final_scores);
    print_ood(ood_models, sets);
  }
  return key_values(scaled, final_ood, scaled_ood);
}

}  // namespace slab::tools
