// The training loop's deferred reads of the per-step loss and predictions
// (tools/trainer/step_stats.h), run on the CPU: a GPU run reads them back every 50 steps
// instead of every step, so the host never waits for the GPU between reads. The CPU path
// forced to read every K steps (SLAB_LOSS_READ_EVERY=K) must give the same epoch sums, the
// same checkpoints bit for bit, stops and resumes that match, and a diverging loss must still
// fail before any checkpoint is written, naming the batch where it appeared.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/ops.h"
#include "core/safetensors.h"
#include "tests/pattern_images.h"
#include "tests/scratch.h"
#include "tools/trainer/trainer.h"
#include "tools/trainer/step_stats.h"

using namespace slab;
using namespace slab::tools;
namespace fs = std::filesystem;

namespace {

// 80 noisy 1x28x28 images in 4 classes (class k brightens the k-th row band), split into
// 10 batches of 8: reads every 2, 3 or 4 steps fall mid-epoch and at its end.
TrainingData banded_data() {
  return testing::pattern_images({"banded", 80, 0, 21, 150, 30},
                                 [](int64_t label, int64_t y, int64_t) { return y / 7 == label; });
}

std::string scratch_folder(const std::string& name) { return testing::scratch_folder("deferred", name); }

// Sets SLAB_LOSS_READ_EVERY for one scope ("" : unset).
struct ReadEvery {
  explicit ReadEvery(const std::string& value) {
    if (value.empty()) unsetenv("SLAB_LOSS_READ_EVERY");
    else setenv("SLAB_LOSS_READ_EVERY", value.c_str(), 1);
  }
  ~ReadEvery() { unsetenv("SLAB_LOSS_READ_EVERY"); }
};

TrainResult train(const TrainingData& data, std::vector<std::string> flags) {
  ProgramDefaults defaults;
  defaults.program = "test_deferred_reads";
  defaults.dataset = "fashion-mnist";
  defaults.data_dir = "unused";
  defaults.model = "mlp-784-16";
  defaults.epochs = 2;
  defaults.batch_size = 8;
  defaults.sgd_learning_rate = 0.05;
  flags.insert(flags.begin(), "test_deferred_reads");
  ParsedCommandLine parsed = parse_train_command_line(defaults, flags);
  REQUIRE_MESSAGE(!parsed.exit_now, parsed.message);
  parsed.config.progress = "none";
  std::FILE* quiet = std::fopen("/dev/null", "w");
  try {
    TrainResult result = run_training(parsed.config, &data, quiet);
    std::fclose(quiet);
    return result;
  } catch (...) {
    std::fclose(quiet);
    throw;
  }
}

// The tensors of two checkpoints equal byte for byte, and the epoch sums in their metadata.
void check_same_state(const fs::path& a, const fs::path& b) {
  const SafetensorsContents x = load_safetensors(a.string()), y = load_safetensors(b.string());
  REQUIRE(x.tensors.size() == y.tensors.size());
  for (const auto& [name, tensor] : x.tensors) {
    CAPTURE(name);
    REQUIRE(y.tensors.count(name) == 1);
    REQUIRE(tensor.nbytes() == y.tensors.at(name).nbytes());
    CHECK(std::memcmp(tensor.raw_data(), y.tensors.at(name).raw_data(), tensor.nbytes()) == 0);
  }
  for (const char* key : {"user.epoch.loss_sum", "user.epoch.correct", "user.epoch.seen", "user.global_step"}) {
    CAPTURE(key);
    REQUIRE(x.metadata.count(key) == 1);
    REQUIRE(y.metadata.count(key) == 1);
    CHECK(x.metadata.at(key) == y.metadata.at(key));
  }
}

std::vector<std::string> metrics_lines(const std::string& run) {
  std::ifstream in(fs::path(run) / "metrics.jsonl");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    // The wall-clock fields differ between runs; everything before them must not.
    const size_t cut = line.find("\"seconds\"");
    lines.push_back(line.substr(0, cut));
  }
  return lines;
}

}  // namespace

TEST_CASE("PendingStepStats returns each step's loss and correct count in order") {
  PendingStepStats pending;
  CHECK(pending.read().empty());
  pending.add(full({}, 0.5), labels_from_vector({2, 0, 1}), labels_from_vector({2, 1, 1}), {0, 0, 0, 0.1});
  pending.add(full({}, 1.25), labels_from_vector({3, 3}), labels_from_vector({0, 1}), {0, 1, 1, 0.2});
  pending.add(full({}, std::numeric_limits<double>::quiet_NaN()), labels_from_vector({1}), labels_from_vector({1}),
              {1, 0, 2, 0.3});
  CHECK(pending.size() == 3);
  const std::vector<PendingStepStats::Step> steps = pending.read();
  CHECK(pending.size() == 0);
  REQUIRE(steps.size() == 3);
  CHECK(steps[0].loss == 0.5);
  CHECK(steps[0].correct == 2);
  CHECK(steps[0].examples == 3);
  CHECK(steps[1].loss == 1.25);
  CHECK(steps[1].correct == 0);
  CHECK(steps[1].examples == 2);
  CHECK(steps[1].where.batch == 1);
  CHECK(steps[1].where.lr == 0.2);
  CHECK(std::isnan(steps[2].loss));
  CHECK(steps[2].correct == 1);
  CHECK(steps[2].where.epoch == 1);
  CHECK(steps[2].where.step == 2);
  // Mismatched labels are refused when recorded, not at the read.
  CHECK_THROWS_AS(pending.add(full({}, 1.0), labels_from_vector({1, 2}), labels_from_vector({1}), {}), Error);
  CHECK_THROWS_AS(pending.add(full({2}, 1.0), labels_from_vector({1}), labels_from_vector({1}), {}), Error);
}

TEST_CASE("reads every 1, 2 or 3 steps give the same epochs and checkpoints bit for bit") {
  const TrainingData data = banded_data();
  const std::string every1 = scratch_folder("every1"), every2 = scratch_folder("every2"),
                    every3 = scratch_folder("every3");
  TrainResult a, b, c;
  {
    ReadEvery k("");
    a = train(data, {"--optimizer", "sgd", "--output", every1});
  }
  {
    ReadEvery k("2");
    b = train(data, {"--optimizer", "sgd", "--output", every2});
  }
  {
    ReadEvery k("3");
    c = train(data, {"--optimizer", "sgd", "--output", every3});
  }
  REQUIRE(a.completed);
  REQUIRE(b.completed);
  REQUIRE(c.completed);
  CHECK(a.steps == 20);
  check_same_state(fs::path(every1) / "checkpoints" / "final.safetensors",
                   fs::path(every2) / "checkpoints" / "final.safetensors");
  check_same_state(fs::path(every1) / "checkpoints" / "final.safetensors",
                   fs::path(every3) / "checkpoints" / "final.safetensors");
  const auto lines = metrics_lines(every1);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("\"train_loss\"") != std::string::npos);
  CHECK(metrics_lines(every2) == lines);
  CHECK(metrics_lines(every3) == lines);
}

TEST_CASE("with deferred reads a stop and a mid-epoch checkpoint hold the read sums; resume matches") {
  const TrainingData data = banded_data();
  const std::string whole = scratch_folder("whole"), parts = scratch_folder("parts");
  {
    ReadEvery k("");
    REQUIRE(train(data, {"--optimizer", "sgd", "--output", whole}).completed);
  }
  ReadEvery k("4");
  // Stops after step 2 and then after step 7 (both before a 4-step read would fall), with a
  // checkpoint every 3 steps in between: each write must hold the sums of every step done
  // (10 batches of 8 an epoch).
  const TrainResult first = train(data, {"--optimizer", "sgd", "--output", parts, "--max-steps", "2"});
  CHECK(first.steps == 2);
  const fs::path latest = fs::path(parts) / "checkpoints" / "latest.safetensors";
  const SafetensorsContents stopped = load_safetensors(latest.string());
  CHECK(stopped.metadata.at("user.epoch.seen") == "16");
  const TrainResult second =
      train(data, {"--optimizer", "sgd", "--resume", parts, "--max-steps", "5", "--checkpoint-every", "3"});
  CHECK(second.steps == 7);
  CHECK(load_safetensors(latest.string()).metadata.at("user.epoch.seen") == "56");  // 7 batches of epoch 1
  const TrainResult rest = train(data, {"--optimizer", "sgd", "--resume", parts});
  REQUIRE(rest.completed);
  check_same_state(fs::path(whole) / "checkpoints" / "final.safetensors",
                   fs::path(parts) / "checkpoints" / "final.safetensors");
  CHECK(metrics_lines(whole) == metrics_lines(parts));
}

TEST_CASE("with deferred reads a diverging loss fails before any checkpoint, naming its batch") {
  const TrainingData data = banded_data();
  const std::string fresh = scratch_folder("diverged"), good = scratch_folder("good");
  ReadEvery k("3");
  try {
    train(data, {"--optimizer", "sgd", "--lr", "1e30", "--output", fresh});
    FAIL("a diverging run finished");
  } catch (const Error& e) {
    const std::string what = e.what();
    CAPTURE(what);
    CHECK(what.find("training diverged at epoch 1, batch ") != std::string::npos);
    CHECK(what.find("read back every 3 steps") != std::string::npos);
    CHECK(what.find("No checkpoint was written") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(fs::path(fresh) / "checkpoints" / "latest.safetensors"));
  // After a good epoch, resumed with a diverging lr and a checkpoint every 2 steps: the run
  // that reads every 3 steps must fail at the same batch as the run that reads every step
  // and leave the same latest checkpoint (a write after a step whose loss was finite is
  // legitimate; the read before each write keeps any later one from happening).
  REQUIRE(train(data, {"--optimizer", "sgd", "--epochs", "1", "--output", good}).completed);
  const std::string copy1 = scratch_folder("good-every1"), copy3 = scratch_folder("good-every3");
  fs::copy(good, copy1, fs::copy_options::recursive);
  fs::copy(good, copy3, fs::copy_options::recursive);
  auto diverge = [&](const std::string& run, const std::string& every) {
    ReadEvery reads(every);
    try {
      train(data, {"--optimizer", "sgd", "--epochs", "2", "--lr", "1e30", "--checkpoint-every", "2", "--resume", run});
    } catch (const Error& e) {
      const std::string what = e.what();
      CAPTURE(what);
      CHECK(what.find("epoch 2, batch ") != std::string::npos);
      CHECK(what.find("checkpoints/latest.safetensors (not overwritten)") != std::string::npos);
      const size_t from = what.find("training diverged at"), to = what.find(", lr ");
      REQUIRE(from != std::string::npos);
      REQUIRE(to != std::string::npos);
      return what.substr(from, to - from);  // the epoch, batch and step
    }
    FAIL("a diverging resumed run finished");
    return std::string();
  };
  const std::string every_step = diverge(copy1, "1"), every_third = diverge(copy3, "3");
  CHECK(every_step == every_third);
  check_same_state(fs::path(copy1) / "checkpoints" / "latest.safetensors",
                   fs::path(copy3) / "checkpoints" / "latest.safetensors");
}

TEST_CASE("SLAB_LOSS_READ_EVERY must be a whole number >= 1") {
  const TrainingData data = banded_data();
  for (const char* bad : {"0", "-2", "x", "3steps"}) {
    CAPTURE(bad);
    ReadEvery k(bad);
    try {
      train(data, {"--optimizer", "sgd", "--output", scratch_folder("bad")});
      FAIL("SLAB_LOSS_READ_EVERY=" << bad << " was accepted");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("SLAB_LOSS_READ_EVERY") != std::string::npos);
    }
  }
}
