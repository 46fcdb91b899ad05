#include "tools/export/evaluate_network.h"

#include <cstdio>
#include <memory>

#include "data/loader.h"
#include "tools/export/graph_files.h"
#include "tools/export/graph_runner.h"
#include "tools/trainer/evaluate.h"
#include "tools/trainer/training_data.h"

namespace slab::tools {

ClassificationMetrics evaluate_exported_network(const std::string& json_path, const NetworkEvalOptions& options) {
  LoadedNetwork loaded = load_network(json_path);
  const nlohmann::json& source = loaded.source;
  const std::string dataset = source.value("dataset", std::string());
  SLAB_CHECK(!dataset.empty(), "'", json_path, "' does not say which dataset its network was trained on");
  const std::string data_dir = options.data_dir.empty() ? source.value("data_dir", std::string()) : options.data_dir;
  const int64_t test_limit = options.test_limit >= 0 ? options.test_limit : source.value("test_limit", int64_t{0});
  const TrainingData data = load_test_data(dataset, data_dir, source.value("image_size", int64_t{0}), test_limit);
  GraphModule network(std::move(loaded.graph));
  std::printf("network: %s (%zu nodes, %s of %s)\ntest: %s, %lld examples\n", json_path.c_str(),
              network.graph().nodes.size(),
              network.graph().output_kind == GraphOutput::Logits ? "logits" : "averaged probabilities",
              source.value("model", std::string("?")).c_str(), data.test->name().c_str(),
              static_cast<long long>(data.test->size()));
  data::LoaderOptions loader_options;
  loader_options.batch_size = options.batch_size;
  loader_options.shuffle = false;
  loader_options.workers = options.workers;
  data::Loader loader(data.test, data.test_pipeline, loader_options);
  const Predictions predictions = predict(network, loader, Device::cpu());
  return classification_metrics(predictions.probabilities, predictions.labels);
}

}  // namespace slab::tools
