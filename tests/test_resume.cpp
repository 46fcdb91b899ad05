// Exact resume of the training loop (tools/trainer/trainer.h): a run stopped after k steps
// (--max-steps) and continued with --resume must end with the same weights and optimizer
// state, bit for bit on the CPU, as a run that was never interrupted, for SGD and for the
// paper's sghmc-spl, whose state also holds the sampler's momentum and rho, the Philox
// draw counters, the E-step decays and the pruning masks. Stops fall mid-epoch and on an
// epoch boundary (before that epoch's E-step + pruning pass). The data are a small
// synthetic in-memory set, so the test runs in seconds.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/safetensors.h"
#include "models/factory.h"
#include "optim/checkpoint.h"
#include "tests/pattern_images.h"
#include "tests/same_file.h"
#include "tests/scratch.h"
#include "tools/trainer/errors.h"
#include "tools/trainer/interrupt.h"
#include "tools/trainer/trainer.h"

using namespace slab;
using namespace slab::tools;
namespace fs = std::filesystem;

namespace {

using slab::testing::check_same_file;

// The flags every run of a test shares, then the run's own.
std::vector<std::string> joined(std::vector<std::string> common, const std::vector<std::string>& extra) {
  common.insert(common.end(), extra.begin(), extra.end());
  return common;
}

// 96 images 1x28x28 in 4 classes: class k lights the k-th quadrant, plus noise, so a model
// learns something and the gradients are not degenerate.
TrainingData synthetic_data() {
  return testing::pattern_images({"synthetic", 96, 32, 11, 160, 20}, [](int64_t label, int64_t y, int64_t x) {
    constexpr int64_t half = 14;
    return (y < half) == (label < 2) && (x < half) == (label % 2 == 0);
  });
}

std::string scratch_folder(const std::string& name) { return testing::scratch_folder("resume", name); }

TrainConfig config_from(std::vector<std::string> flags) {
  const ProgramDefaults defaults = testing::pattern_run_defaults("test_resume");
  flags.insert(flags.begin(), "test_resume");
  ParsedCommandLine parsed = parse_train_command_line(defaults, flags);
  REQUIRE_MESSAGE(!parsed.exit_now, parsed.message);
  parsed.config.progress = "none";
  return parsed.config;
}

struct Quiet {
  std::FILE* file = std::fopen("/dev/null", "w");
  ~Quiet() { std::fclose(file); }
};

TrainResult train(const TrainingData& data, const std::vector<std::string>& flags) {
  Quiet quiet;
  return run_training(config_from(flags), &data, quiet.file);
}

std::vector<nlohmann::json> metrics(const std::string& run) {
  std::vector<nlohmann::json> records;
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  return records;
}

}  // namespace

TEST_CASE("sgd: stop after 4 steps, resume, and match the uninterrupted run bit for bit") {
  const TrainingData data = synthetic_data();
  const std::string whole = scratch_folder("sgd-whole"), parts = scratch_folder("sgd-parts");
  const std::vector<std::string> common = {"--optimizer", "sgd", "--model", "small-cnn", "--seed", "3"};

  auto with = [&](const std::vector<std::string>& extra) { return joined(common, extra); };
  const TrainResult uninterrupted = train(data, with({"--output", whole}));
  REQUIRE(uninterrupted.completed);
  CHECK(uninterrupted.steps == 18);  // 3 epochs of 96 / 16

  const TrainResult first = train(data, with({"--output", parts, "--max-steps", "4"}));
  CHECK_FALSE(first.completed);
  CHECK(first.steps == 4);
  CHECK(fs::exists(fs::path(parts) / "checkpoints" / "latest.safetensors"));
  CHECK_FALSE(fs::exists(fs::path(parts) / "checkpoints" / "final.safetensors"));
  const TrainResult rest = train(data, with({"--resume", parts}));
  REQUIRE(rest.completed);
  CHECK(rest.steps == 18);
  CHECK(rest.run_folder == parts);

  check_same_file(fs::path(whole) / "checkpoints" / "final.safetensors",
                  fs::path(parts) / "checkpoints" / "final.safetensors");
  // The epoch that was cut in two reports the same training loss and accuracy.
  const auto a = metrics(whole), b = metrics(parts);
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  for (size_t e = 0; e < 3; ++e) {
    CHECK(a[e]["train_loss"] == b[e]["train_loss"]);
    CHECK(a[e]["train_acc"] == b[e]["train_acc"]);
    CHECK(a[e]["test_acc"] == b[e]["test_acc"]);
  }
  // It learned: the quadrant task is easy.
  CHECK(uninterrupted.test.accuracy > 0.5);
}

TEST_CASE("sghmc-spl: stops mid-epoch and at an epoch boundary, resumed twice, match bit for bit") {
  const TrainingData data = synthetic_data();
  const std::string whole = scratch_folder("spl-whole"), parts = scratch_folder("spl-parts");
  // mlp-784-32: its Linear columns are the prior's groups; border pixels carry no signal, so
  // a spike decay and a column threshold near the initial mean square prune some columns
  // during the run (checked below), and the masks must survive the resume. A MAC budget of
  // 0.9 holds every pass: its share and threshold shift are part of the resumed state too.
  const std::vector<std::string> common = {"--optimizer",    "sghmc-spl", "--model",   "mlp-784-32",
                                           "--seed",         "5",         "--lr",      "0.05",
                                           "--warm-up",      "0",         "--lambda0", "0.5",
                                           "--soft-threshold", "1e-3",    "--hard-threshold-linear", "3e-4",
                                           "--cycles",       "1",         "--samples-per-cycle", "2",
                                           "--mac-budget",   "0.9"};
  auto with = [&](const std::vector<std::string>& extra) { return joined(common, extra); };
  const TrainResult uninterrupted = train(data, with({"--output", whole}));
  REQUIRE(uninterrupted.completed);
  REQUIRE(uninterrupted.sparsity.has_value());
  CHECK(*uninterrupted.sparsity > 0);  // pruning happened, so masks are part of the state
  REQUIRE(uninterrupted.bma.has_value());

  // Step 9 is inside epoch 2 (after its E-step); step 12 ends epoch 2 exactly: the stop
  // falls before epoch 3's E-step, which the resumed run must then perform.
  const TrainResult first = train(data, with({"--output", parts, "--max-steps", "9"}));
  CHECK(first.steps == 9);
  const TrainResult second = train(data, with({"--resume", parts, "--max-steps", "3"}));
  CHECK_FALSE(second.completed);
  CHECK(second.steps == 12);
  const TrainResult rest = train(data, with({"--resume", parts}));
  REQUIRE(rest.completed);
  CHECK(rest.steps == 18);

  check_same_file(fs::path(whole) / "checkpoints" / "final.safetensors",
                  fs::path(parts) / "checkpoints" / "final.safetensors");
  // The same posterior samples (epochs 2 and 3 of the single cycle) and the same average.
  for (const char* sample : {"sample-epoch-0002.safetensors", "sample-epoch-0003.safetensors"}) {
    CAPTURE(sample);
    REQUIRE(fs::exists(fs::path(whole) / "samples" / sample));
    check_same_file(fs::path(whole) / "samples" / sample, fs::path(parts) / "samples" / sample);
  }
  REQUIRE(rest.bma.has_value());
  CHECK(rest.bma->accuracy == uninterrupted.bma->accuracy);
  CHECK(rest.bma->nll == uninterrupted.bma->nll);
  CHECK(*rest.sparsity == *uninterrupted.sparsity);
  const auto a = metrics(whole), b = metrics(parts);
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  // A resumed run reports each epoch as the uninterrupted run does, the epoch it resumed in
  // the middle of (2) included: its prior pass, and the samples counted over the whole run.
  for (size_t e = 0; e < 3; ++e) {
    CAPTURE(e);
    for (const char* key : {"train_loss", "test_loss", "sparsity", "prior_pass", "spike_groups", "groups",
                            "pruned_units", "prunable_units", "slab_mac_fraction", "mac_shift", "sample", "noise"}) {
      CAPTURE(key);
      CHECK(a[e].contains(key) == b[e].contains(key));
      if (a[e].contains(key)) CHECK(a[e][key] == b[e][key]);
    }
  }
  CHECK(b[1]["prior_pass"] == true);
  CHECK(b[1]["slab_mac_fraction"].get<double>() <= 0.9);  // the budget held the pass resumed in
}

TEST_CASE("sghmc-spl with --shrink on: the shrunken run resumes bit for bit, samples of their own shapes") {
  const TrainingData data = synthetic_data();
  const std::string whole = scratch_folder("shrink-whole"), parts = scratch_folder("shrink-parts");
  // small-cnn-6-8 with a conv threshold that prunes some filters at the first pass: the
  // dead channels leave the model at epochs 1-3, and the checkpoints hold the shrunken
  // architecture (docs/algorithm.md#shrinking-during-training).
  const std::vector<std::string> common = {"--optimizer", "sghmc-spl", "--model", "small-cnn-6-8", "--seed", "5",
                                           "--warm-up", "0", "--hard-threshold", "0.3", "--cycles", "1",
                                           "--samples-per-cycle", "2", "--shrink", "on"};
  auto with = [&](const std::vector<std::string>& extra) { return joined(common, extra); };
  const TrainResult uninterrupted = train(data, with({"--output", whole}));
  REQUIRE(uninterrupted.completed);
  const std::string final_file = (fs::path(whole) / "checkpoints" / "final.safetensors").string();
  const SafetensorsContents final_contents = load_safetensors(final_file);
  REQUIRE(final_contents.metadata.count("slab.shrinks") == 1);
  CHECK(final_contents.metadata.at("slab.schema") == "2");
  CHECK(uninterrupted.model->parameter_count() < make_model("small-cnn-6-8", 4, 1, 5)->parameter_count());

  const TrainResult first = train(data, with({"--output", parts, "--max-steps", "9"}));
  CHECK(first.steps == 9);
  const TrainResult second = train(data, with({"--resume", parts, "--max-steps", "3"}));
  CHECK(second.steps == 12);
  const TrainResult rest = train(data, with({"--resume", parts}));
  REQUIRE(rest.completed);
  check_same_file(final_file, fs::path(parts) / "checkpoints" / "final.safetensors");
  for (const char* sample : {"sample-epoch-0002.safetensors", "sample-epoch-0003.safetensors"}) {
    CAPTURE(sample);
    REQUIRE(fs::exists(fs::path(whole) / "samples" / sample));
    check_same_file(fs::path(whole) / "samples" / sample, fs::path(parts) / "samples" / sample);
  }
  REQUIRE(rest.bma.has_value());
  REQUIRE(uninterrupted.bma.has_value());
  CHECK(rest.bma->accuracy == uninterrupted.bma->accuracy);
  CHECK(rest.bma->nll == uninterrupted.bma->nll);
  // A fresh dense model loads the shrunken checkpoint and predicts as the run's model.
  auto fresh = make_model("small-cnn-6-8", 4, 1, 5);
  load_checkpoint(final_file, *fresh, "small-cnn-6-8", nullptr);
  CHECK(fresh->parameter_count() == uninterrupted.model->parameter_count());
}

TEST_CASE("--shrink: on by default for sghmc-spl, refused for the other optimizers") {
  CHECK(config_from({"--optimizer", "sghmc-spl"}).optimizer.shrink);
  CHECK_FALSE(config_from({"--optimizer", "sghmc-spl", "--shrink", "off"}).optimizer.shrink);
  CHECK_FALSE(config_from({"--optimizer", "sgd"}).optimizer.shrink);
  CHECK_FALSE(config_from({"--optimizer", "sghmc", "--shrink", "off"}).optimizer.shrink);
  const ProgramDefaults defaults = testing::pattern_run_defaults("test_resume");
  CHECK_THROWS_WITH(parse_train_command_line(defaults, {"test_resume", "--optimizer", "sgd", "--shrink", "on"}),
                    doctest::Contains("--shrink on applies to sghmc-spl"));
}

TEST_CASE("a resumed run must keep the batch size and seed; an unknown --resume path is an error") {
  const TrainingData data = synthetic_data();
  const std::string run = scratch_folder("mismatch");
  train(data, {"--model", "mlp-784-8", "--output", run, "--max-steps", "2"});
  try {
    train(data, {"--model", "mlp-784-8", "--resume", run, "--batch-size", "32"});
    FAIL("a different batch size was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("--batch-size") != std::string::npos);
  }
  try {
    train(data, {"--model", "mlp-784-16", "--resume", run});
    FAIL("a checkpoint of another architecture was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("mlp-784-8") != std::string::npos);
  }
  try {
    train(data, {"--model", "mlp-784-8", "--resume", run + "-missing"});
    FAIL("a missing checkpoint was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("--resume") != std::string::npos);
  }
}

TEST_CASE("a run that failed before its first checkpoint can be run again, or resumed from the beginning") {
  const TrainingData data = synthetic_data();
  const std::string run = scratch_folder("failed-early");
  // SGD at lr 1e30 diverges within the first epoch, before any checkpoint.
  CHECK_THROWS_WITH_AS(train(data, {"--model", "mlp-784-8", "--output", run, "--lr", "1e30"}),
                       doctest::Contains("training diverged"), Error);
  REQUIRE(fs::exists(fs::path(run) / "config.json"));
  REQUIRE_FALSE(fs::exists(fs::path(run) / "checkpoints" / "latest.safetensors"));
  const TrainResult again = train(data, {"--model", "mlp-784-8", "--output", run, "--max-steps", "3"});
  CHECK(again.steps == 3);
  // Now it holds a checkpoint: a fresh run into the folder is refused, a resume continues.
  CHECK_THROWS_WITH_AS(train(data, {"--model", "mlp-784-8", "--output", run}), doctest::Contains("already holds a run"),
                       Error);
  const std::string other = scratch_folder("failed-early-resume");
  CHECK_THROWS_AS(train(data, {"--model", "mlp-784-8", "--output", other, "--lr", "1e30"}), Error);
  const TrainResult resumed = train(data, {"--model", "mlp-784-8", "--resume", other});
  CHECK(resumed.completed);
  CHECK(resumed.steps == 18);
}

TEST_CASE("SIGTERM stops training as SIGINT does: the handler records which signal came") {
  {
    InterruptHandler handler;
    CHECK_FALSE(InterruptHandler::requested());
    std::raise(SIGTERM);
    CHECK(InterruptHandler::requested());
    CHECK(InterruptHandler::signal_number() == SIGTERM);
  }
  InterruptHandler handler;
  CHECK_FALSE(InterruptHandler::requested());
  std::raise(SIGINT);
  CHECK(InterruptHandler::signal_number() == SIGINT);
}

TEST_CASE("numeric flags out of range name the flag: --threads, --epochs, --seed") {
  const TrainingData data = synthetic_data();
  CHECK_THROWS_WITH_AS(train(data, {"--model", "mlp-784-8", "--threads", "100000"}),
                       doctest::Contains("--threads: expected an integer in [0, 256]"), Error);
  CHECK_THROWS_WITH_AS(train(data, {"--model", "mlp-784-8", "--epochs", "9223372036854775807"}),
                       doctest::Contains("--epochs: 9223372036854775807 epochs of 6 steps are more steps"), Error);
  ProgramDefaults defaults;
  defaults.program = "test_resume";
  defaults.dataset = "fashion-mnist";
  defaults.model = "mlp-784-8";
  const ParsedCommandLine parsed = parse_train_command_line(defaults, {"test_resume", "--seed", "-1"});
  CHECK(parsed.exit_now);
  CHECK(parsed.exit_code == 2);
  CHECK(parsed.message.find("--seed") != std::string::npos);
}

TEST_CASE("resume checks every field of the saved position and sums, naming the file and field") {
  const TrainingData data = synthetic_data();
  const std::string run = scratch_folder("fields");
  train(data, {"--model", "mlp-784-8", "--output", run, "--max-steps", "2"});
  const std::string latest = (fs::path(run) / "checkpoints" / "latest.safetensors").string();
  const SafetensorsContents good = load_safetensors(latest);
  NamedTensors tensors(good.tensors.begin(), good.tensors.end());
  auto resume_with = [&](const std::string& key, const std::string& value) {  // key: "user." ones unprefixed
    Metadata metadata = good.metadata;
    const std::string full = key.find('.') != std::string::npos && metadata.count(key) ? key : "user." + key;
    REQUIRE(metadata.count(full) == 1);
    metadata[full] = value;
    save_safetensors(latest, tensors, metadata);
    return train(data, {"--model", "mlp-784-8", "--resume", run});
  };
  CHECK_THROWS_WITH_AS(resume_with("loader.epoch", "-1"), doctest::Contains("'loader.epoch' = -1 is negative"), Error);
  CHECK_THROWS_WITH_AS(resume_with("global_step", "-5"), doctest::Contains("'global_step' = -5 does not match"), Error);
  CHECK_THROWS_WITH_AS(resume_with("epoch.loss_sum", "nan"), doctest::Contains("'epoch.loss_sum' = nan"), Error);
  CHECK_THROWS_WITH_AS(resume_with("elapsed_seconds", "-1e308"), doctest::Contains("'elapsed_seconds' = -1e+308"),
                       Error);
  CHECK_THROWS_WITH_AS(resume_with("epoch.correct", "100"), doctest::Contains("'epoch.correct' = 100"), Error);
  // Text where a number belongs: an error naming the file and the key, never a bare
  // std::invalid_argument from the C++ library.
  CHECK_THROWS_WITH_AS(resume_with("loader.batch", "2x"), doctest::Contains("'loader.batch' = '2x' is not an integer"),
                       Error);
  CHECK_THROWS_WITH_AS(resume_with("optimizer.step_count", "abc"),
                       doctest::Contains("optimizer metadata 'step_count' = 'abc' is not an integer"), Error);
  CHECK_THROWS_WITH_AS(resume_with("slab.epoch", "99999999999999999999"),
                       doctest::Contains("latest.safetensors: checkpoint metadata 'slab.epoch' = '99999999999999999999' "
                                         "does not fit in 64 bits"),
                       Error);
  save_safetensors(latest, tensors, good.metadata);
  CHECK(train(data, {"--model", "mlp-784-8", "--resume", run}).completed);
}

TEST_CASE("resume with another thread count is refused naming both, unless --allow-thread-change") {
  const TrainingData data = synthetic_data();
  const std::string parts = scratch_folder("threads");
  const std::vector<std::string> common = {"--optimizer", "sgd", "--model", "mlp-784-32", "--seed", "3"};
  auto with = [&](const std::vector<std::string>& extra) { return joined(common, extra); };
  REQUIRE_FALSE(train(data, with({"--output", parts, "--max-steps", "4", "--threads", "1"})).completed);
  CHECK_THROWS_WITH_AS(train(data, with({"--resume", parts, "--threads", "2"})),
                       doctest::Contains("was trained with 1 threads, this run has 2 (--threads 2)"), Error);
  CHECK_THROWS_WITH_AS(train(data, with({"--resume", parts, "--threads", "2"})),
                       doctest::Contains("--allow-thread-change"), Error);
  const TrainResult rest = train(data, with({"--resume", parts, "--threads", "2", "--allow-thread-change"}));
  CHECK(rest.completed);
}

TEST_CASE("--max-memory takes binary sizes and refuses anything else, naming the flag") {
  CHECK(parse_byte_size("1000000") == 1000000);
  CHECK(parse_byte_size("512M") == uint64_t{512} << 20);
  CHECK(parse_byte_size("6G") == uint64_t{6} << 30);
  CHECK(parse_byte_size("6GiB") == uint64_t{6} << 30);
  CHECK(parse_byte_size("1.5K") == 1536);
  CHECK(parse_byte_size("2T") == uint64_t{2} << 40);
  for (const char* bad : {"", "G", "12X", "-1G", "0", "nan", "1e300G", "6 G", "6GG"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(parse_byte_size(bad), doctest::Contains("--max-memory"), UsageError);
  }
}
