// The exporter (tools/export/): every model of models/ traced into a graph that slab's own
// interpreter runs with the model's outputs, saved and loaded again (safetensors + JSON),
// and written as ONNX and as a PyTorch module that ONNX Runtime and PyTorch run within 1e-4
// of slab (per output: max|a - b| <= 1e-4 max|b|, the same argmax per example); the model
// average as one graph; a shrunken ResNet-20 (its option-A shortcut sliced and padded); an
// op the exporter does not know is an error naming it. The Python checks
// (tools/export/check_exported.py) need tools/python-env.sh's environment and skip visibly
// (tests/skip.h) without it.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/ops.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "layers/shrink.h"
#include "layers/synthetic_pruning.h"
#include "models/factory.h"
#include "tests/equal_within.h"
#include "tests/run_command.h"
#include "tests/scratch.h"
#include "tests/skip.h"
#include "tools/export/graph_files.h"
#include "tools/export/graph_from_trace.h"
#include "tools/export/graph_runner.h"
#include "tools/export/onnx_writer.h"
#include "tools/export/pytorch_writer.h"
#include "core/trace.h"

namespace fs = std::filesystem;
using namespace slab;
using namespace slab::tools;

namespace {

using slab::testing::Outcome;
using slab::testing::relative_difference;
using slab::testing::same_argmax;
using slab::testing::run;

// Gives BatchNorm running statistics and affine parameters values away from 0 and 1, so an
// export that dropped or swapped them shows.
void perturb_batch_norms(Module& model, Generator& generator) {
  NoGradGuard no_grad;
  for (const auto& [name, tensor] : model.named_buffers()) {
    if (name.size() > 12 && name.compare(name.size() - 12, 12, "running_mean") == 0)
      generator.fill_uniform(tensor, -0.2, 0.2);
    if (name.size() > 11 && name.compare(name.size() - 11, 11, "running_var") == 0)
      generator.fill_uniform(tensor, 0.5, 1.5);
  }
  for (const NamedParameter& p : model.named_parameters())
    if (p.tensor.dim() == 1 && p.name.find("bn") != std::string::npos) generator.fill_uniform(p.tensor, 0.5, 1.5);
}

// Runs tools/export/check_exported.py on `file` (--onnx or --pytorch) against slab's output.
void check_in_python(const std::string& flag, const std::string& file, const Tensor& x, const Tensor& expected,
                     const std::string& folder) {
  if (slab::testing::python_env().empty()) {
    slab::testing::skip("no Python environment with onnxruntime and torch (tools/python-env.sh)");
    return;
  }
  const std::string reference = folder + "/reference.safetensors";
  save_safetensors(reference, {{"input", x}, {"output", expected}});
  const Outcome checked = run(slab::testing::python_env() + " " + SLAB_SOURCE_DIR "/tools/export/check_exported.py " + flag + " " + file +
                              " --reference " + reference + " --tol 1e-4");
  CAPTURE(flag);
  CAPTURE(checked.output);
  CHECK(checked.code == 0);
  MESSAGE(flag, " ", fs::path(file).filename().string(), ": ", checked.output.substr(0, checked.output.find('\n')));
}

// An empty scratch folder that exists.
std::string scratch(const std::string& name) {
  const std::string folder = slab::testing::scratch_folder("export", name);
  fs::create_directories(folder);
  return folder;
}

struct ModelCase {
  std::string name;
  Shape example;
};

}  // namespace

TEST_CASE("every model exports: slab's graph, the saved graph, ONNX Runtime and PyTorch give its outputs") {
  const std::vector<ModelCase> cases{
      {"small-cnn", {1, 1, 28, 28}},        {"mlp-784-64-32", {1, 1, 28, 28}}, {"resnet20", {1, 3, 32, 32}},
      {"resnet18", {1, 3, 32, 32}},         {"vgg11-bn", {1, 3, 32, 32}},      {"preact-resnet18", {1, 3, 32, 32}},
      {"wrn-10-1", {1, 3, 32, 32}},         {"resnet18-imagenet", {1, 3, 64, 64}},
      {"resnet50-imagenet", {1, 3, 32, 32}}};
  for (const ModelCase& c : cases) {
    CAPTURE(c.name);
    Generator generator(11);
    auto model = make_model(c.name, 10, c.example[1], 3);
    perturb_batch_norms(*model, generator);
    const NetworkGraph graph = trace_network(*model, c.example);
    Shape batch = c.example;
    batch[0] = 3;
    const Tensor x = randn(batch, generator);
    NoGradGuard no_grad;
    const Tensor expected = (*model)(x);
    const Tensor got = run_graph(graph, x);
    CHECK(relative_difference(got, expected) <= 1e-6);
    CHECK(same_argmax(got, expected));

    const std::string folder = scratch(c.name);
    save_network(graph, folder + "/network.json", {{"model", c.name}});
    const LoadedNetwork loaded = load_network(folder + "/network.json");
    CHECK(loaded.source.at("model") == c.name);
    CHECK(relative_difference(run_graph(loaded.graph, x), expected) <= 1e-6);

    write_onnx(graph, folder + "/network.onnx");
    check_in_python("--onnx", folder + "/network.onnx", x, expected, folder);
    write_pytorch(graph, folder + "/network.py", "network.safetensors");
    check_in_python("--pytorch", folder + "/network.py", x, expected, folder);
  }
}

TEST_CASE("the model average is one graph whose output is the mean of the members' softmax") {
  Generator generator(5);
  std::vector<NetworkGraph> members;
  std::vector<std::shared_ptr<Module>> models;
  for (uint64_t seed : {1, 2, 3}) {
    models.push_back(make_model("resnet20", 10, 3, seed));
    perturb_batch_norms(*models.back(), generator);
    {  // confident members: no near-ties between classes for the argmax comparison
      NoGradGuard no_grad;
      for (const NamedParameter& p : models.back()->named_parameters())
        if (p.name == "linear.weight") mul_(p.tensor, 20.0);
    }
    members.push_back(trace_network(*models.back(), {1, 3, 32, 32}));
  }
  const NetworkGraph average = average_graph(members);
  CHECK(average.output_kind == GraphOutput::Probabilities);
  CHECK(graph_cost(average).parameters == 3 * graph_cost(members.front()).parameters);
  CHECK(graph_cost(average).multiply_adds == 3 * graph_cost(members.front()).multiply_adds);
  const Tensor x = randn({4, 3, 32, 32}, generator);
  NoGradGuard no_grad;
  Tensor expected = softmax((*models[0])(x), 1);
  for (size_t k = 1; k < models.size(); ++k) expected = add(expected, softmax((*models[k])(x), 1));
  expected = mul(expected, 1.0 / 3.0);
  CHECK(relative_difference(run_graph(average, x), expected) <= 1e-6);
  // As a Module (what slab-eval evaluates), log p: its softmax gives back p.
  GraphModule module(average);
  CHECK(relative_difference(softmax(module(x), 1), expected) <= 1e-5);
  const std::string folder = scratch("average");
  write_onnx(average, folder + "/average.onnx");
  check_in_python("--onnx", folder + "/average.onnx", x, expected, folder);
  save_network(average, folder + "/average.json", {});
  write_pytorch(average, folder + "/average.py", "average.safetensors");
  check_in_python("--pytorch", folder + "/average.py", x, expected, folder);
}

TEST_CASE("a shrunken network exports: ResNet-20's shortcut scatters its kept channels among zeros") {
  // Synthetic pruning (layers/synthetic_pruning.h) kills residual channels, so the shrunken
  // option-A shortcut narrows its input and pads it (slice_channels, pad_channels).
  for (double fraction : {0.25, 0.5, 0.75}) {
    CAPTURE(fraction);
    Generator generator(13);
    auto model = make_model("resnet20", 10, 3, 4);
    perturb_batch_norms(*model, generator);
    prune_channels_synthetically(*model, fraction);
    shrink_dead_channels(*model);
    const NetworkGraph graph = trace_network(*model, {1, 3, 32, 32});
    CHECK(std::count_if(graph.nodes.begin(), graph.nodes.end(),
                        [](const GraphNode& node) { return node.op == "slice_channels"; }) >= 2);
    const Tensor x = randn({3, 3, 32, 32}, generator);
    NoGradGuard no_grad;
    const Tensor expected = (*model)(x);
    CHECK(relative_difference(run_graph(graph, x), expected) <= 1e-6);
    const std::string folder = scratch("shrunken-" + std::to_string(static_cast<int>(fraction * 100)));
    save_network(graph, folder + "/network.json", {{"model", "resnet20"}});
    CHECK(relative_difference(run_graph(load_network(folder + "/network.json").graph, x), expected) <= 1e-6);
    write_onnx(graph, folder + "/network.onnx");
    check_in_python("--onnx", folder + "/network.onnx", x, expected, folder);
    write_pytorch(graph, folder + "/network.py", "network.safetensors");
    check_in_python("--pytorch", folder + "/network.py", x, expected, folder);
  }
}

TEST_CASE("graph cost: a conv's output positions x weights, a linear layer's weights") {
  auto model = make_model("small-cnn", 10, 1, 1);
  const NetworkGraph graph = trace_network(*model, {1, 1, 28, 28});
  int64_t macs = 0, convs = 0;
  for (const GraphNode& node : graph.nodes) {
    if (node.op == "conv2d") {
      ++convs;
      macs += node.output_shape[2] * node.output_shape[3] * graph.weight(node.inputs[1]).numel();
    }
    if (node.op == "linear") macs += graph.weight(node.inputs[1]).numel();
  }
  CHECK(convs >= 1);
  CHECK(graph_cost(graph).multiply_adds == macs);
  CHECK(graph_cost(graph).parameters == model->parameter_count());
}

namespace {

class ExpNet : public Module {
 public:
  Tensor forward(const Tensor& input) override { return exp(flatten(input, 1)); }
  std::string type_name() const override { return "ExpNet"; }
};

class OutsideNet : public Module {
 public:
  Tensor forward(const Tensor& input) override { return relu(transpose(input, 2, 3)); }
  std::string type_name() const override { return "OutsideNet"; }
};

}  // namespace

TEST_CASE("an op the exporter does not know is an error naming it") {
  ExpNet exp_net;
  CHECK_THROWS_WITH(trace_network(exp_net, {1, 1, 4, 4}), doctest::Contains("uses exp"));
  OutsideNet outside;
  CHECK_THROWS_WITH(trace_network(outside, {1, 1, 4, 4}), doctest::Contains("nor the output of an op the exporter traces"));
}

TEST_CASE("with no tracer installed the ops record nothing; a tracer sees only its own thread's scope") {
  trace::Tracer tracer;
  const Tensor x = ones({2, 3});
  (void)relu(x);
  CHECK(tracer.ops.empty());
  {
    trace::ScopedTrace scope(tracer);
    (void)relu(x);
  }
  (void)relu(x);
  REQUIRE(tracer.ops.size() == 1);
  CHECK(tracer.ops[0].op == "relu");
  CHECK(!trace::active());
}
