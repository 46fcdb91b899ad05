#include "tools/trainer/sparsity_record.h"

namespace slab::tools {

namespace {

nlohmann::ordered_json layer_json(const LayerSparsity& l) {
  nlohmann::ordered_json j;
  j["name"] = l.name;
  j["kind"] = l.kind;
  j["parameters"] = l.parameters;
  j["zeros"] = l.zeros;
  j["sparsity"] = l.parameters ? static_cast<double>(l.zeros) / static_cast<double>(l.parameters) : 0.0;
  j["filters"] = l.filters;
  j["pruned_filters"] = l.pruned_filters;
  j["dead_filters"] = l.dead_filters;
  j["columns"] = l.columns;
  j["pruned_columns"] = l.pruned_columns;
  j["dead_columns"] = l.dead_columns;
  j["weights"] = l.weights;
  j["removed_weights"] = l.removed_weights;
  j["dense_macs"] = l.dense_macs;
  j["kept_macs"] = l.kept_macs;
  return j;
}

}  // namespace

nlohmann::ordered_json sparsity_record(const SparsityReport& report, int64_t epoch) {
  nlohmann::ordered_json j;
  j["epoch"] = epoch;
  j["sparsity"] = report.sparsity();
  j["parameters"] = report.parameters;
  j["zeros"] = report.zeros;
  j["conv_removed"] = report.conv_removed();
  j["macs_measured"] = report.macs_measured;
  j["dense_macs"] = report.dense_macs;
  j["kept_macs"] = report.kept_macs;
  j["flops_kept"] = report.flops_kept();
  j["layers"] = nlohmann::ordered_json::array();
  for (const LayerSparsity& layer : report.layers) j["layers"].push_back(layer_json(layer));
  return j;
}

}  // namespace slab::tools
