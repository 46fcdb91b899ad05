// Integration tests of the programs, run as a user runs them: the built binaries in
// <build>/bin (found next to this test's folder, <build>/tests), their exit codes, their
// final key=value line and the run folder they write.
//   * slab-train-mnist learns Fashion-MNIST (Debian's dataset-fashion-mnist) to >= 80% on a
//     short budget, and slab-eval reproduces its test accuracy from the checkpoint;
//   * slab-train-mnist --precision bf16 reaches the float32 run's accuracy within 1 point;
//   * slab-train-cifar10 with ResNet-20 beats 35% on ../shared/data/cifar10-subset;
//   * slab-train-sparse-regression --restarts reports the chain of lowest BIC;
//   * slab-bench ops runs the measurements its --only list names (tools/gpu_check.sh needs it);
//   * bad input (a missing or empty data folder, an unknown model, a negative batch size, a
//     checkpoint of another architecture, a diverging loss, ...) stops with "error: ..."
//     naming the flag or file, exit code 2 for usage and 1 otherwise, and leaves no
//     half-written checkpoint.
// A data folder that is absent makes its case print SLAB_SKIPPED (tests/skip.h).
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/run_command.h"
#include "tests/scratch.h"
#include "tests/skip.h"

namespace fs = std::filesystem;

namespace {

using slab::testing::Outcome;
using slab::testing::program;
using slab::testing::run;
using slab::testing::value_of;

const char* kFashionMnist = "/usr/share/datasets/fashion-mnist";
// Beside the repository; made from the official release as docs/data.md#getting-the-data says.
const std::string kCifarSubset = SLAB_SOURCE_DIR "/../shared/data/cifar10-subset";

// SLAB_TEST_REDUCED_SIZES (the sanitizer build, cmake/sanitizers.cmake): fewer images, and
// the accuracy floors, which need the full budget, are not checked.
bool reduced_sizes() { return std::getenv("SLAB_TEST_REDUCED_SIZES") != nullptr; }

std::string scratch(const std::string& name) { return slab::testing::scratch_folder("programs", name); }

bool has_temporary_files(const std::string& folder) {
  if (!fs::exists(folder)) return false;
  for (const auto& entry : fs::recursive_directory_iterator(folder))
    if (entry.path().extension() == ".tmp") return true;
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The error line: starts with "error: " and mentions every piece.
void check_error(const Outcome& outcome, int code, const std::vector<std::string>& pieces) {
  CAPTURE(outcome.output);
  CHECK(outcome.code == code);
  const size_t at = outcome.output.find("error: ");
  REQUIRE(at != std::string::npos);
  const std::string line = outcome.output.substr(at, outcome.output.find('\n', at) - at);
  for (const std::string& piece : pieces) {
    CAPTURE(piece);
    CHECK(line.find(piece) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("slab-train-mnist learns Fashion-MNIST to >= 80% and slab-eval reproduces it") {
  if (!fs::exists(kFashionMnist)) {
    slab::testing::skip(std::string("Fashion-MNIST not installed at ") + kFashionMnist);
    return;
  }
  const std::string out = scratch("mnist");
  // 10,000 training images, one epoch (79 steps), the default small CNN and SGD.
  const std::string limits = reduced_sizes() ? " --train-limit 2048 --test-limit 500" : " --train-limit 10000 --test-limit 2000";
  const Outcome trained = run(program("slab-train-mnist") + limits + " --epochs 1 --output " + out);
  CAPTURE(trained.output);
  REQUIRE(trained.code == 0);
  const double accuracy = value_of(trained.output, "test_acc");
  if (!reduced_sizes()) CHECK(accuracy >= 0.80);
  CHECK(value_of(trained.output, "epochs") == 1);
  CHECK(trained.output.find("backend:") != std::string::npos);
  CHECK(trained.output.find("epoch 1/1") != std::string::npos);

  // The run folder.
  for (const char* file : {"config.json", "metrics.csv", "metrics.jsonl", "summary.json",
                           "checkpoints/latest.safetensors", "checkpoints/final.safetensors"}) {
    CAPTURE(file);
    CHECK(fs::exists(fs::path(out) / file));
  }
  CHECK_FALSE(has_temporary_files(out));
  const nlohmann::json config = nlohmann::json::parse(read_file(out + "/config.json"));
  CHECK(config["model"] == "small-cnn");
  CHECK(config["optimizer"]["name"] == "sgd");
  CHECK(config["train_size"] == (reduced_sizes() ? 2048 : 10000));
  std::istringstream csv(read_file(out + "/metrics.csv"));
  std::string header, row, extra;
  std::getline(csv, header);
  std::getline(csv, row);
  CHECK(header.rfind("epoch,step,lr,train_loss,train_acc,test_loss,test_acc", 0) == 0);
  CHECK(row.rfind(reduced_sizes() ? "1,16," : "1,79,", 0) == 0);
  CHECK_FALSE(std::getline(csv, extra));
  const nlohmann::json record = nlohmann::json::parse(read_file(out + "/metrics.jsonl"));
  CHECK(record["test_acc"].get<double>() == doctest::Approx(accuracy).epsilon(1e-3));
  const nlohmann::json summary = nlohmann::json::parse(read_file(out + "/summary.json"));
  CHECK(summary["test"]["accuracy"].get<double>() == doctest::Approx(accuracy).epsilon(1e-3));

  // slab-eval: the checkpoint gives the same accuracy on the same test images.
  const Outcome evaluated = run(program("slab-eval") + " --checkpoint " + out + "/checkpoints/final.safetensors");
  CAPTURE(evaluated.output);
  REQUIRE(evaluated.code == 0);
  CHECK(value_of(evaluated.output, "test_acc") == doctest::Approx(accuracy).epsilon(1e-3));
  // A run folder without posterior samples is evaluated through its final checkpoint.
  const Outcome folder = run(program("slab-eval") + " " + out);
  REQUIRE(folder.code == 0);
  CHECK(value_of(folder.output, "test_acc") == doctest::Approx(accuracy).epsilon(1e-3));
}

TEST_CASE("slab-train-mnist --precision bf16 reaches the float32 run's accuracy within 1 point") {
  if (!fs::exists(kFashionMnist)) {
    slab::testing::skip(std::string("Fashion-MNIST not installed at ") + kFashionMnist);
    return;
  }
  // The same run (seed, data order, initialisation) twice: 3,000 training images, two epochs
  // (48 SGD steps), the default small CNN; only the precision of its convolutions and matrix
  // products differs. bf16 inputs perturb every product by about 2^-8 of its terms
  // (docs/algorithm.md#bf16-matrix-products), far below SGD's own mini-batch noise, so the
  // two runs end within a few tenths of a point of each other (seeds 0-3 on 4,000 images:
  // 0.0-0.25 points apart); 1 point is the margin the precision must keep.
  const std::string limits = reduced_sizes() ? " --train-limit 1024 --test-limit 500" : " --train-limit 3000 --test-limit 2000";
  double accuracy[2] = {0, 0};
  for (const int bf16 : {0, 1}) {
    const std::string precision = bf16 ? "bf16" : "fp32";
    const Outcome trained = run(program("slab-train-mnist") + limits + " --epochs 2 --precision " + precision +
                                " --output " + scratch("mnist-" + precision));
    CAPTURE(trained.output);
    REQUIRE(trained.code == 0);
    // the backend line names the precision and, for bf16, the matrix-unit path that ran it
    CHECK(trained.output.find(bf16 ? "matmul precision bf16 (" : "matmul precision fp32") != std::string::npos);
    accuracy[bf16] = value_of(trained.output, "test_acc");
  }
  CAPTURE(accuracy[0]);
  CAPTURE(accuracy[1]);
  if (!reduced_sizes()) {
    CHECK(accuracy[0] >= 0.75);  // the comparison means something only if both runs learnt
    CHECK(std::abs(accuracy[1] - accuracy[0]) <= 0.01);
  }
}

TEST_CASE("slab-eval RUN_DIR: the samples' table and model average, all of them or those from an epoch on") {
  if (!fs::exists(kFashionMnist)) {
    slab::testing::skip(std::string("Fashion-MNIST not installed at ") + kFashionMnist);
    return;
  }
  const std::string out = scratch("eval-samples"), eval = program("slab-eval");
  const Outcome trained = run(program("slab-train-mnist") +
                              " --optimizer sghmc-spl --train-limit 1024 --test-limit 500 --epochs 3"
                              " --samples-per-cycle 3 --threads 1 --output " + out);
  CAPTURE(trained.output);
  REQUIRE(trained.code == 0);
  // All three samples: the average the training program printed.
  const Outcome all = run(eval + " " + out + " --threads 1");
  CAPTURE(all.output);
  REQUIRE(all.code == 0);
  CHECK(value_of(all.output, "samples") == 3);
  CHECK(value_of(all.output, "bma_nll") == doctest::Approx(value_of(trained.output, "bma_nll")).epsilon(1e-4));
  // From epoch 3 on: only the last sample, whose weights are the final model's.
  const Outcome last = run(eval + " " + out + " --threads 1 --samples-from-epoch 3");
  CAPTURE(last.output);
  REQUIRE(last.code == 0);
  CHECK(value_of(last.output, "samples") == 1);
  CHECK(value_of(last.output, "bma_nll") == doctest::Approx(value_of(trained.output, "test_nll")).epsilon(1e-4));
  CHECK(last.output.find("sample-epoch-0003") != std::string::npos);
  CHECK(last.output.find("sample-epoch-0002") == std::string::npos);
  check_error(run(eval + " " + out + " --samples-from-epoch 4"), 2,
              {"--samples-from-epoch 4", "none of the run's 3 samples"});
  check_error(run(eval + " " + out + " --samples-from-epoch 0"), 2, {"--samples-from-epoch", "0"});
}

TEST_CASE("--holdout, slab-eval's OOD scores and temperature scaling, slab-report's page") {
  if (!fs::exists(kFashionMnist)) {
    slab::testing::skip(std::string("Fashion-MNIST not installed at ") + kFashionMnist);
    return;
  }
  const std::string out = scratch("report"), mnist = SLAB_SOURCE_DIR "/../shared/data/mnist";
  const Outcome trained = run(program("slab-train-mnist") +
                              " --optimizer sghmc-spl --train-limit 1224 --holdout 200 --test-limit 300 --epochs 2"
                              " --samples-per-cycle 2 --threads 1 --output " + out);
  CAPTURE(trained.output);
  REQUIRE(trained.code == 0);
  CHECK(trained.output.find("report: slab-report " + out) != std::string::npos);
  const nlohmann::json config = nlohmann::json::parse(read_file(out + "/config.json"));
  CHECK(config["train_size"] == 1024);
  CHECK(config["holdout_size"] == 200);
  for (const char* file : {"sparsity.jsonl", "calibration.json"}) CHECK(fs::exists(fs::path(out) / file));
  const nlohmann::json calibration = nlohmann::json::parse(read_file(out + "/calibration.json"));
  CHECK(calibration["models"].size() == 3);  // two samples and their average
  CHECK(calibration["running_average"].size() == 2);
  const bool with_ood = fs::exists(mnist);
  const Outcome evaluated = run(program("slab-eval") + " " + out + " --threads 1" +
                                (with_ood ? " --ood-data-dir " + mnist + " --ood-limit 300" : std::string()));
  CAPTURE(evaluated.output);
  REQUIRE(evaluated.code == 0);
  CHECK(value_of(evaluated.output, "temperature") > 0);
  CHECK(fs::exists(fs::path(out) / "temperature.json"));
  if (with_ood) {
    CHECK(value_of(evaluated.output, "ood_auroc") > 0.5);
    CHECK(fs::exists(fs::path(out) / "ood_scores.csv"));
  }
  const Outcome report = run(program("slab-report") + " " + out + " --output " + out + "/report.html");
  CAPTURE(report.output);
  REQUIRE(report.code == 0);
  const std::string page = read_file(out + "/report.html");
  CHECK(page.find("<script") == std::string::npos);
  for (const char* chart : {"data-chart=\"loss\"", "data-chart=\"macs-kept\"", "class=\"chart reliability\"",
                            "data-chart=\"running-nll\""}) {
    CAPTURE(chart);
    CHECK(page.find(chart) != std::string::npos);
  }
  check_error(run(program("slab-report") + " " + scratch("no-such-run")), 1, {"no-such-run"});
}

TEST_CASE("slab-train-cifar10: ResNet-20 beats 35% on the CIFAR-10 subset") {
  if (!fs::exists(kCifarSubset)) {
    slab::testing::skip("CIFAR-10 subset not found at " + kCifarSubset);
    return;
  }
  const std::string out = scratch("cifar");
  // 10,000 real training images, 2 epochs of SGD at batch 128 (cosine from 0.1), the 1,000
  // test images of the subset.
  const Outcome trained = run(program("slab-train-cifar10") + " --data-dir " + kCifarSubset +
                              " --model resnet20 --epochs 2 --batch-size 128 --workers 1" +
                              (reduced_sizes() ? " --train-limit 256 --test-limit 128" : "") + " --output " + out);
  CAPTURE(trained.output);
  REQUIRE(trained.code == 0);
  if (!reduced_sizes()) CHECK(value_of(trained.output, "test_acc") > 0.35);
  CHECK(fs::exists(fs::path(out) / "checkpoints" / "final.safetensors"));
}

TEST_CASE("slab-train-sparse-regression --restarts 3 runs three chains and reports the lowest BIC") {
  // A small Example 1 (40 variables, 2,048 rows) with a strong spike, so that it prunes in
  // a few seconds; the chains differ in initialisation, shuffling and noise only.
  const Outcome outcome = run(program("slab-train-sparse-regression") +
                              " --example 1 --features 40 --train-size 2048 --test-size 256 --batch-size 256"
                              " --epochs 80 --cycles 1 --warm-up 20 --lambda0 2 --threads 1 --restarts 3");
  CAPTURE(outcome.output);
  REQUIRE(outcome.code == 0);
  // "chain R: kept ..., BIC B" for each chain, then the summary line names the lowest.
  std::vector<double> bics;
  for (int r = 1; r <= 3; ++r) {
    const std::string tag = "chain " + std::to_string(r) + ": kept ";
    const size_t at = outcome.output.find(tag);
    REQUIRE(at != std::string::npos);
    const size_t bic = outcome.output.find("BIC ", at);
    REQUIRE(bic != std::string::npos);
    bics.push_back(std::stod(outcome.output.substr(bic + 4)));
  }
  const size_t lowest = static_cast<size_t>(std::min_element(bics.begin(), bics.end()) - bics.begin());
  CHECK(outcome.output.find("chain=" + std::to_string(lowest + 1) + "/3") != std::string::npos);
  CHECK(value_of(outcome.output, "sparsity") > 0.5);
  check_error(run(program("slab-train-sparse-regression") + " --restarts 0"), 2, {"--restarts", "0"});
}

TEST_CASE("bad flags stop with error: naming the flag, exit code 2") {
  const std::string mnist = program("slab-train-mnist");
  const std::string eval = program("slab-eval");
  {
    check_error(run(mnist + " --model resnet7"), 2, {"--model", "resnet7"});
    check_error(run(mnist + " --batch-size -5"), 2, {"--batch-size", "-5"});
    check_error(run(mnist + " --batch-size=0"), 2, {"--batch-size", "positive"});
    check_error(run(mnist + " --optimizer adagrad"), 2, {"--optimizer", "adagrad", "sghmc-spl"});
    check_error(run(mnist + " --optimizer sghmc --temperature warm"), 2, {"--temperature", "warm"});
    check_error(run(mnist + " --schedule linear"), 2, {"--schedule", "linear"});
    check_error(run(mnist + " --hard-test size --optimizer sghmc-spl"), 2, {"--hard-test", "size"});
    check_error(run(mnist + " --optimizer sghmc-spl --epochs 6 --sample-from-epoch 7"), 2,
                {"--sample-from-epoch", "7", "after the last epoch"});
    check_error(run(mnist + " --optimizer sghmc-spl --epochs 6 --cool-down 5"), 2,
                {"cool-down of 5 epochs", "run of 6 epochs", "no epoch for the prior pass"});
    check_error(run(mnist + " --no-such-flag"), 2, {"--no-such-flag"});
    check_error(run(mnist + " --max-memory 12X"), 2, {"--max-memory", "12X"});
    check_error(run(program("slab-train-imagenet") + " --image-size 100000"), 2, {"--image-size", "4096", "100000"});
    // An absurd width: refused before anything is allocated or written, naming the size.
    const std::string wide = scratch("too-wide");
    check_error(run(mnist + " --model mlp-784-99999999999-10 --output " + wide), 2,
                {"--model", "out of memory", "TiB", "memory limit", "MemAvailable"});
    CHECK_FALSE(fs::exists(wide));
    check_error(run(eval), 2, {"RUN_DIR", "--checkpoint"});
#ifndef SLAB_WITH_CUDA
    check_error(run(mnist + " --device cuda"), 2, {"--device", "CUDA"});
#endif
  }

}

TEST_CASE("slab-bench ops: --only takes a comma-separated list; --device cuda needs a GPU") {
  const std::string bench = program("slab-bench");
  const Outcome outcome =
      run(bench + " ops --only batch_norm.512x4,adaptive --batch 2 --iterations 1 --warmup 0 --threads 1");
  REQUIRE_MESSAGE(outcome.code == 0, outcome.output);
  size_t results = 0;
  for (size_t at = outcome.output.find("result framework=slab"); at != std::string::npos;
       at = outcome.output.find("result framework=slab", at + 1))
    ++results;
  CHECK_MESSAGE(results == 2, outcome.output);  // exactly the two named measurements
  CHECK(outcome.output.find("name=batch_norm.512x4 pass=train device=cpu") != std::string::npos);
  CHECK(outcome.output.find("name=adaptive_avg_pool2d.512x4 pass=train device=cpu") != std::string::npos);
#ifndef SLAB_WITH_CUDA
  check_error(run(bench + " ops --device cuda --only batch_norm"), 1, {"--device", "CUDA"});
#endif
}

TEST_CASE("a missing or empty data folder: exit 1, naming the folder and the files expected") {
  const std::string mnist = program("slab-train-mnist");
  const std::string eval = program("slab-eval");
  {
    const std::string missing = scratch("no-such-folder");
    check_error(run(mnist + " --data-dir " + missing), 1, {missing, "does not exist", "t10k-images-idx3-ubyte"});
    const std::string empty = scratch("empty-folder");
    fs::create_directories(empty);
    check_error(run(mnist + " --data-dir " + empty), 1, {empty, "is empty"});
    check_error(run(program("slab-train-cifar10") + " --data-dir " + empty), 1, {empty, "is empty", "data_batch_1.bin"});
    check_error(run(eval + " --checkpoint " + missing + "/final.safetensors"), 1, {"--checkpoint", missing});
  }

}

TEST_CASE("a checkpoint of another architecture, an existing run folder, a diverging loss") {
  const std::string mnist = program("slab-train-mnist");
  const std::string eval = program("slab-eval");
  if (!fs::exists(kFashionMnist)) {
    slab::testing::skip(std::string("checkpoint and divergence cases need Fashion-MNIST at ") + kFashionMnist);
    return;
  }
  // A small run to hold a checkpoint: an MLP, 1,024 images, one epoch.
  const std::string tiny = scratch("tiny");
  const std::string tiny_flags = " --model mlp-784-16 --train-limit 1024 --test-limit 256 --batch-size 128";
  const Outcome made = run(mnist + tiny_flags + " --epochs 1 --output " + tiny);
  REQUIRE_MESSAGE(made.code == 0, made.output);
  const std::string latest = tiny + "/checkpoints/latest.safetensors";

  {  // a checkpoint of another architecture: exit 1, naming the file and both models
    check_error(run(mnist + " --model small-cnn --train-limit 1024 --resume " + tiny), 1,
                {latest, "mlp-784-16", "small-cnn"});
    check_error(run(eval + " --checkpoint " + latest + " --model small-cnn"), 1, {latest, "mlp-784-16", "small-cnn"});
  }

  {  // an existing run folder is not overwritten without --resume
    check_error(run(mnist + tiny_flags + " --output " + tiny), 2, {"--output", tiny, "--resume"});
  }

  {  // a batch whose activations do not fit --max-memory: exit 1, naming the step and the sizes
    const std::string small = scratch("small-memory");
    check_error(run(mnist + " --model small-cnn --train-limit 512 --test-limit 256 --epochs 1 --max-memory 20M"
                            " --output " + small),
                1, {"training step 1", "--batch-size 128", "out of memory", "--max-memory 20M", "No checkpoint"});
  }

  {  // a divergence: exit 1, naming the step, and no checkpoint is touched
    // From the start: no checkpoint exists, none is written.
    const std::string diverged = scratch("diverged");
    check_error(run(mnist + tiny_flags + " --epochs 1 --lr 1e30 --output " + diverged), 1,
                {"training diverged at epoch 1, batch", "--lr", "No checkpoint was written"});
    CHECK_FALSE(fs::exists(diverged + "/checkpoints/latest.safetensors"));
    CHECK_FALSE(has_temporary_files(diverged));
    // After a good epoch: the resumed run diverges in epoch 2; latest stays as it was.
    const std::string before = read_file(latest);
    check_error(run(mnist + tiny_flags + " --epochs 2 --lr 1e30 --resume " + tiny), 1,
                {"training diverged at epoch 2, batch", latest});
    CHECK(read_file(latest) == before);
    CHECK_FALSE(has_temporary_files(tiny));
  }
}

TEST_CASE("a divergence the loss does not show (BatchNorm's running variance overflows) stops the run") {
  if (!fs::exists(kFashionMnist)) {
    slab::testing::skip(std::string("the divergence case needs Fashion-MNIST at ") + kFashionMnist);
    return;
  }
  // SGD at lr 1e3 on the small CNN: the loss stays finite (ReLU and max-pooling), a running
  // variance becomes infinite in the first epoch; the step after which it is found is named,
  // and nothing is written.
  const std::string out = scratch("lr1e3");
  check_error(run(program("slab-train-mnist") + " --optimizer sgd --lr 1e3 --train-limit 1024 --test-limit 256"
                                                " --epochs 2 --threads 2 --output " + out),
              1, {"training diverged at epoch 1, batch", "running_var", "holds inf", "lower --lr",
                  "No checkpoint was written"});
  CHECK_FALSE(fs::exists(out + "/checkpoints/latest.safetensors"));
  CHECK_FALSE(fs::exists(out + "/checkpoints/final.safetensors"));
  CHECK_FALSE(has_temporary_files(out));
}
