#include "tools/export/export_program.h"

#include <omp.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/backend.h"
#include "core/error.h"
#include "core/ops.h"
#include "core/random.h"
#include "tools/export/export_source.h"
#include "tools/export/graph_files.h"
#include "tools/export/graph_from_trace.h"
#include "tools/export/graph_runner.h"
#include "tools/export/onnx_writer.h"
#include "tools/export/pytorch_writer.h"
#include "tools/trainer/errors.h"

namespace slab::tools {

namespace {

namespace fs = std::filesystem;

struct ExportOptions {
  std::string run_dir, format, output;
  int64_t sample = 0;
  bool final = false, average = false;
  std::string shrink = "on";
  int threads = 0;
};

ExportChoice choice_of(const ExportOptions& o) {
  SLAB_USAGE_CHECK(int(o.final) + int(o.sample > 0) + int(o.average) <= 1,
                   "give at most one of --final, --sample N and --average");
  ExportChoice choice;
  if (o.sample > 0) choice = {ExportChoice::Kind::Sample, o.sample};
  if (o.average) choice.kind = ExportChoice::Kind::Average;
  choice.shrink = o.shrink == "on";
  return choice;
}

// The exported network's graph: one network's trace, or the average of every sample's.
NetworkGraph export_graph(const ExportSource& source) {
  std::vector<NetworkGraph> graphs;
  for (const auto& network : source.networks) graphs.push_back(trace_network(*network, source.example_shape));
  return graphs.size() == 1 && source.name != "average" ? std::move(graphs.front()) : average_graph(graphs);
}

// max |graph - dense| / max |dense| between the exported graph as slab runs it and the
// networks as their files hold them (before any shrinking), on 2 random examples: the export
// is checked before anything is written.
double self_check(const ExportSource& source, const NetworkGraph& graph) {
  NoGradGuard no_grad;
  Tensor expected;
  if (graph.output_kind == GraphOutput::Logits) {
    expected = source.dense_outputs.front();
  } else {
    expected = softmax(source.dense_outputs.front(), 1);
    for (size_t k = 1; k < source.dense_outputs.size(); ++k) expected = add(expected, softmax(source.dense_outputs[k], 1));
    expected = mul(expected, 1.0 / static_cast<double>(source.dense_outputs.size()));
  }
  const double scale = max(abs(expected)).item();
  return max(abs(sub(run_graph(graph, source.check_input), expected))).item() / (scale > 0 ? scale : 1.0);
}

std::vector<std::string> write_files(const NetworkGraph& graph, const ExportSource& source, const ExportOptions& o) {
  fs::create_directories(o.output);
  const fs::path stem = fs::path(o.output) / source.name;
  const nlohmann::json origin{{"run", fs::absolute(o.run_dir).string()},
                              {"files", source.files},
                              {"dataset", source.config.at("dataset")},
                              {"data_dir", source.config.value("data_dir", std::string())},
                              {"test_limit", source.config.value("test_limit", int64_t{0})},
                              {"image_size", source.config.value("image_size", int64_t{0})},
                              {"model", source.config.at("model")}};
  const std::string weights = stem.string() + ".safetensors";
  if (o.format == "safetensors") {
    save_network(graph, stem.string() + ".json", origin);
    return {stem.string() + ".json", weights};
  }
  if (o.format == "onnx") {
    write_onnx(graph, stem.string() + ".onnx");
    return {stem.string() + ".onnx"};
  }
  save_network(graph, stem.string() + ".json", origin);  // the weights, and the graph they belong to
  write_pytorch(graph, stem.string() + ".py", fs::path(weights).filename().string());
  return {stem.string() + ".py", weights, stem.string() + ".json"};
}

nlohmann::json report(const ExportSource& source, const NetworkGraph& graph, const std::vector<std::string>& files,
                      const ExportOptions& o, double check) {
  int64_t bytes = 0;
  for (const std::string& file : files)
    if (fs::path(file).extension() != ".json" || o.format == "safetensors") bytes += static_cast<int64_t>(fs::file_size(file));
  const GraphCost after = graph_cost(graph);
  return {{"format", o.format},
          {"networks", source.networks.size()},
          {"shrink", source.shrink_summaries},
          {"files", files},
          {"architecture", {{"parameters", source.architecture_cost.parameters},
                            {"multiply_adds", source.architecture_cost.multiply_adds}}},
          {"before", {{"parameters", source.dense_cost.parameters},
                      {"multiply_adds", source.dense_cost.multiply_adds},
                      {"bytes", source.dense_bytes}}},
          {"after", {{"parameters", after.parameters}, {"multiply_adds", after.multiply_adds}, {"bytes", bytes}}},
          {"graph_vs_network", check}};
}

// RUN_DIR/export.json: one entry per exported network and format ("final/onnx"), the
// latest export of each kept.
void add_to_run_report(const std::string& run_dir, const std::string& key, const nlohmann::json& entry) {
  const fs::path path = fs::path(run_dir) / "export.json";
  nlohmann::json all = nlohmann::json::object();
  if (fs::exists(path)) {
    std::ifstream in(path);
    all = nlohmann::json::parse(in, nullptr, false);
    if (!all.is_object()) all = nlohmann::json::object();
  }
  all[key] = entry;
  const std::string temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary);
    SLAB_CHECK(out.good(), "cannot write '", temporary, "'");
    out << all.dump(1) << "\n";
  }
  fs::rename(temporary, path);
}

// "kept" is of the architecture (parameters, multiply-adds) or of the checkpoint (bytes: the
// architecture has no file).
void print_report(const nlohmann::json& r) {
  auto share = [](int64_t part, int64_t whole) {
    return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
  };
  auto line = [&](const char* what, const char* key) {
    const int64_t before = r["before"][key].get<int64_t>(), after = r["after"][key].get<int64_t>();
    const bool costed = r["architecture"].contains(key);
    const int64_t architecture = costed ? r["architecture"][key].get<int64_t>() : 0;
    const std::string first = costed ? std::to_string(architecture) : std::string("-");
    std::printf("  %-14s %14s %14lld %14lld  %6.1f%%\n", what, first.c_str(), static_cast<long long>(before),
                static_cast<long long>(after), share(after, costed ? architecture : before));
  };
  std::printf("  %-14s %14s %14s %14s  %7s\n", "", "architecture", "checkpoint", "exported", "kept");
  line("parameters", "parameters");
  line("multiply-adds", "multiply_adds");
  line("bytes", "bytes");
}

int run_export(const ExportOptions& o) {
  const ExportChoice choice = choice_of(o);
  const ExportSource source = load_network_for_export(o.run_dir, choice);
  std::printf("run: %s, %s (%zu network%s of %s)\n", o.run_dir.c_str(), source.name.c_str(), source.networks.size(),
              source.networks.size() == 1 ? "" : "s", source.config.at("model").get<std::string>().c_str());
  for (const std::string& summary : source.shrink_summaries) std::printf("%s\n", summary.c_str());
  const NetworkGraph graph = export_graph(source);
  const double check = self_check(source, graph);
  SLAB_CHECK(check <= 1e-5, "slab-export: the exported graph differs from the network by ", check,
             " (max |difference| / max |output| on two random examples): not written");
  const std::vector<std::string> files = write_files(graph, source, o);
  const nlohmann::json r = report(source, graph, files, o, check);
  add_to_run_report(o.run_dir, source.name + "/" + o.format, r);
  std::printf("graph: %zu nodes, %zu weights; slab runs it within %.3g (relative) of the checkpoint\n", graph.nodes.size(),
              graph.weights.size(), check);
  print_report(r);
  for (const std::string& file : files) std::printf("wrote %s\n", file.c_str());
  std::printf("format=%s file=%s parameters=%lld macs=%lld bytes=%lld macs_before=%lld macs_architecture=%lld\n",
              o.format.c_str(), files.front().c_str(), static_cast<long long>(r["after"]["parameters"].get<int64_t>()),
              static_cast<long long>(r["after"]["multiply_adds"].get<int64_t>()),
              static_cast<long long>(r["after"]["bytes"].get<int64_t>()),
              static_cast<long long>(r["before"]["multiply_adds"].get<int64_t>()),
              static_cast<long long>(r["architecture"]["multiply_adds"].get<int64_t>()));
  return 0;
}

}  // namespace

int export_program_main(int argc, char** argv) {
  ExportOptions o;
  const std::string program = argc > 0 ? fs::path(argv[0]).filename().string() : "slab-export";
  CLI::App app(program + ": write a run's network as safetensors + graph JSON, ONNX or a PyTorch module", program);
  app.add_option("RUN_DIR", o.run_dir, "a run folder written by a slab-train program")->required();
  app.add_option("--format", o.format, "safetensors, onnx or pytorch")
      ->required()
      ->check(CLI::IsMember({"safetensors", "onnx", "pytorch"}));
  app.add_flag("--final", o.final, "the run's final checkpoint (the default)");
  app.add_option("--sample", o.sample, "the posterior sample saved at epoch N (1-based)")->check(CLI::PositiveNumber);
  app.add_flag("--average", o.average, "the model average of all the run's samples, as one network");
  app.add_option("--shrink", o.shrink, "on: remove the dead channels first (layers/shrink.h); off: export the dense shape")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--output", o.output, "folder for the files (default RUN_DIR/export)");
  app.add_option("--threads", o.threads, "CPU threads (0: OpenMP's default)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : kExitUsage;
  }
  try {
    SLAB_USAGE_CHECK(o.threads >= 0, "--threads: expected an integer >= 0, got ", o.threads);
    if (o.threads > 0) omp_set_num_threads(o.threads);
    if (o.output.empty()) o.output = (fs::path(o.run_dir) / "export").string();
    return run_export(o);
  } catch (const std::exception& error) {
    return report_error(error);
  }
}

}  // namespace slab::tools
