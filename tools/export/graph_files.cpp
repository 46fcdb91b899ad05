#include "tools/export/graph_files.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/safetensors.h"

namespace slab::tools {

namespace fs = std::filesystem;

nlohmann::json network_json(const NetworkGraph& graph, const std::string& weights, const nlohmann::json& source) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const GraphNode& node : graph.nodes)
    nodes.push_back({{"op", node.op},
                     {"inputs", node.inputs},
                     {"output", node.output},
                     {"attributes", node.attributes},
                     {"shape", std::vector<int64_t>(node.output_shape.begin(), node.output_shape.end())}});
  return {{"format", kNetworkFormat},
          {"weights", weights},
          {"input", {{"name", graph.input}, {"shape", std::vector<int64_t>(graph.input_shape.begin(), graph.input_shape.end())}}},
          {"output", {{"name", graph.output}, {"kind", graph.output_kind == GraphOutput::Logits ? "logits" : "probabilities"}}},
          {"parameters", graph.parameters},
          {"nodes", nodes},
          {"source", source}};
}

void save_network(const NetworkGraph& graph, const std::string& json_path, const nlohmann::json& source) {
  const fs::path weights_path = fs::path(json_path).replace_extension(".safetensors");
  save_safetensors(weights_path.string(), graph.weights, {{"slab.format", kNetworkFormat}});
  const std::string temporary = json_path + ".tmp";
  {
    std::ofstream out(temporary);
    SLAB_CHECK(out.good(), "cannot write '", temporary, "'");
    out << network_json(graph, weights_path.filename().string(), source).dump(1) << "\n";
    SLAB_CHECK(out.good(), "writing '", temporary, "' failed");
  }
  fs::rename(temporary, json_path);
}

namespace {

Shape shape_of(const nlohmann::json& j) {
  const std::vector<int64_t> v = j.get<std::vector<int64_t>>();
  return Shape(v.begin(), v.end());
}

NetworkGraph graph_from_json(const nlohmann::json& j, const SafetensorsContents& weights) {
  NetworkGraph graph;
  graph.input = j.at("input").at("name").get<std::string>();
  graph.input_shape = shape_of(j.at("input").at("shape"));
  graph.output = j.at("output").at("name").get<std::string>();
  const std::string kind = j.at("output").at("kind").get<std::string>();
  SLAB_CHECK(kind == "logits" || kind == "probabilities", "output kind '", kind,
             "' (expected logits or probabilities)");
  graph.output_kind = kind == "logits" ? GraphOutput::Logits : GraphOutput::Probabilities;
  for (const auto& name : j.at("parameters")) graph.parameters.insert(name.get<std::string>());
  for (const auto& n : j.at("nodes"))
    graph.nodes.push_back({n.at("op").get<std::string>(), n.at("inputs").get<std::vector<std::string>>(),
                           n.at("output").get<std::string>(), n.at("attributes"), shape_of(n.at("shape"))});
  for (const auto& [name, tensor] : weights.tensors) graph.weights.emplace_back(name, tensor);
  return graph;
}

}  // namespace

LoadedNetwork load_network(const std::string& json_path) {
  SLAB_CHECK(fs::is_regular_file(json_path), "'", json_path, "': no such file (expected a network written by slab-export)");
  std::ifstream in(json_path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    SLAB_FAIL("'", json_path, "' is not JSON (", e.what(), ")");
  }
  SLAB_CHECK(j.is_object() && j.value("format", std::string()) == kNetworkFormat, "'", json_path,
             "' is not a network written by slab-export (expected \"format\": \"", kNetworkFormat, "\")");
  const fs::path weights_path = fs::path(json_path).parent_path() / j.at("weights").get<std::string>();
  const SafetensorsContents weights = load_safetensors(weights_path.string());
  check_all_finite(weights, weights_path.string());
  LoadedNetwork loaded;
  try {
    loaded.graph = graph_from_json(j, weights);
  } catch (const nlohmann::json::exception& e) {
    SLAB_FAIL("'", json_path, "': not a valid network graph (", e.what(), ")");
  }
  loaded.source = j.value("source", nlohmann::json::object());
  return loaded;
}

}  // namespace slab::tools
