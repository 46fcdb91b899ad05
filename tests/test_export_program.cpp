// slab-export on a trained run folder, run as a user runs it: a short sghmc-spl run of
// slab-train-mnist (3 posterior samples), its final checkpoint exported as safetensors + graph
// JSON (slab-eval --network reproduces the run's test metrics), the model average of its
// samples (slab-eval --network reproduces the run's BMA), ONNX and PyTorch files of both that
// ONNX Runtime and PyTorch run within 1e-4 of slab, the report in RUN_DIR/export.json, and
// the errors. Skips visibly without Fashion-MNIST or the Python environment (tests/skip.h).
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/ops.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "tests/run_command.h"
#include "tests/scratch.h"
#include "tests/skip.h"
#include "tools/export/graph_files.h"
#include "tools/export/graph_runner.h"

namespace fs = std::filesystem;

namespace {

using slab::testing::Outcome;
using slab::testing::program;
using slab::testing::run;
using slab::testing::value_of;

const char* kFashionMnist = "/usr/share/datasets/fashion-mnist";

Outcome succeed(const std::string& command) {
  const Outcome outcome = run(command);
  CAPTURE(command);
  CAPTURE(outcome.output);
  REQUIRE(outcome.code == 0);
  return outcome;
}


// ONNX Runtime or PyTorch on `file`, against slab's run of the graph JSON `graph_json`.
void check_in_python(const std::string& py, const std::string& flag, const std::string& file,
                     const std::string& graph_json, const std::string& folder) {
  using namespace slab;
  const tools::LoadedNetwork loaded = tools::load_network(graph_json);
  Shape shape = loaded.graph.input_shape;
  shape[0] = 16;
  Generator generator(3);
  const Tensor x = rand(shape, generator);
  const Tensor expected = tools::run_graph(loaded.graph, x);
  const std::string reference = folder + "/reference.safetensors";
  save_safetensors(reference, {{"input", x}, {"output", expected}});
  const Outcome checked = run(py + " " + SLAB_SOURCE_DIR "/tools/export/check_exported.py " + flag + " " + file +
                              " --reference " + reference + " --tol 1e-4");
  CAPTURE(checked.output);
  CHECK(checked.code == 0);
  MESSAGE(flag, " ", fs::path(file).filename().string(), ": ", checked.output.substr(0, checked.output.find('\n')));
}

}  // namespace

TEST_CASE("slab-export of a trained run: safetensors that slab-eval runs, ONNX and PyTorch files, the average") {
  if (!fs::exists(kFashionMnist)) {
    slab::testing::skip(std::string("Fashion-MNIST not installed at ") + kFashionMnist);
    return;
  }
  const std::string out = slab::testing::scratch_folder("export-program", "run");
  const std::string exporter = program("slab-export"), eval = program("slab-eval");
  const Outcome trained = succeed(program("slab-train-mnist") +
                                  " --optimizer sghmc-spl --train-limit 1024 --test-limit 500 --epochs 3"
                                  " --samples-per-cycle 3 --threads 1 --output " + out);

  // The final checkpoint: slab-eval --network gives the run's own test metrics.
  const Outcome final = succeed(exporter + " " + out + " --format safetensors --threads 1");
  CHECK(final.output.find("multiply-adds") != std::string::npos);
  // The shrink removes what sghmc-spl pruned: never more multiply-adds than the dense network.
  CHECK(value_of(final.output, "macs") <= value_of(final.output, "macs_before"));
  const std::string final_json = out + "/export/final.json";
  const Outcome final_eval = succeed(eval + " --network " + final_json + " --threads 1");
  CHECK(value_of(final_eval.output, "test_acc") == doctest::Approx(value_of(trained.output, "test_acc")).epsilon(1e-6));
  CHECK(value_of(final_eval.output, "test_nll") == doctest::Approx(value_of(trained.output, "test_nll")).epsilon(1e-4));

  // The model average of the three samples: slab-eval --network gives the run's BMA.
  succeed(exporter + " " + out + " --format safetensors --average");
  const std::string average_json = out + "/export/average.json";
  const Outcome average_eval = succeed(eval + " --network " + average_json + " --threads 1");
  CHECK(value_of(average_eval.output, "test_nll") == doctest::Approx(value_of(trained.output, "bma_nll")).epsilon(1e-4));
  CHECK(value_of(average_eval.output, "test_acc") == doctest::Approx(value_of(trained.output, "bma_acc")).epsilon(1e-6));

  // One sample, as PyTorch and as ONNX; the average as ONNX and PyTorch.
  succeed(exporter + " " + out + " --format pytorch --sample 2");
  succeed(exporter + " " + out + " --format onnx --sample 2");
  succeed(exporter + " " + out + " --format onnx --average");
  succeed(exporter + " " + out + " --format pytorch --average");
  for (const char* file : {"final.safetensors", "sample-epoch-0002.py", "sample-epoch-0002.onnx", "average.onnx",
                           "average.py", "average.safetensors"})
    CHECK_MESSAGE(fs::exists(out + "/export/" + file), file);

  // The report: one entry per network and format.
  std::ifstream report_file(out + "/export.json");
  const nlohmann::json report = nlohmann::json::parse(report_file);
  for (const char* key : {"final/safetensors", "average/safetensors", "sample-epoch-0002/pytorch",
                          "sample-epoch-0002/onnx", "average/onnx", "average/pytorch"})
    CHECK_MESSAGE(report.contains(key), key);
  CHECK(report["average/onnx"]["after"]["multiply_adds"] == 3 * report["final/safetensors"]["after"]["multiply_adds"].get<int64_t>());
  CHECK(report["final/safetensors"]["before"]["parameters"] == report["final/safetensors"]["after"]["parameters"]);
  // The architecture's cost is that of the unpruned model, each member of an average counted.
  CHECK(report["final/safetensors"]["architecture"]["multiply_adds"].get<int64_t>() >=
        report["final/safetensors"]["before"]["multiply_adds"].get<int64_t>());
  CHECK(report["average/onnx"]["architecture"]["multiply_adds"] ==
        3 * report["final/safetensors"]["architecture"]["multiply_adds"].get<int64_t>());

  // Errors: a sample that does not exist (1), a format that does not (2).
  const Outcome missing = run(exporter + " " + out + " --format onnx --sample 9");
  CHECK(missing.code == 1);
  CHECK(missing.output.find("--sample 9") != std::string::npos);
  CHECK(missing.output.find("sample-epoch-0003") != std::string::npos);
  CHECK(run(exporter + " " + out + " --format tflite").code == 2);
  CHECK(run(exporter + " " + out + " --format onnx --average --sample 1").code == 2);
  CHECK(run(exporter + " /nonexistent --format onnx").code == 1);

  const std::string py = slab::testing::python_env();
  if (py.empty()) {
    slab::testing::skip("no Python environment with onnxruntime and torch (tools/python-env.sh)");
    return;
  }
  const std::string folder = out + "/export";
  check_in_python(py, "--pytorch", folder + "/sample-epoch-0002.py", folder + "/sample-epoch-0002.json", folder);
  check_in_python(py, "--onnx", folder + "/sample-epoch-0002.onnx", folder + "/sample-epoch-0002.json", folder);
  check_in_python(py, "--onnx", folder + "/average.onnx", average_json, folder);
  check_in_python(py, "--pytorch", folder + "/average.py", average_json, folder);
}
