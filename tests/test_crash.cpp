// Crash tests: a training run killed with SIGKILL (no handler, no flush, as `kill -9` or the
// kernel's OOM killer) and then resumed must end with the final checkpoint of a run that was
// never interrupted, bit for bit. The run is a child process, this test executable run again
// for its case "crash child", which trains and dies at a point that core/fault_injection.h
// arms through SLAB_FAULT_INJECTION: mid-epoch (right after an optimizer step), on an epoch
// boundary (right after the epoch's checkpoint), in the middle of a checkpoint write (the
// temporary file half written). A last case kills the child from outside at an arbitrary
// moment after its first checkpoint. The parent then resumes the run folder in-process.
// The run is sghmc-spl on a small synthetic set, so the state holds the sampler's momentum,
// Philox counters, the E-step's state, pruning masks and posterior samples.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "core/safetensors.h"
#include "tests/pattern_images.h"
#include "tests/same_file.h"
#include "tests/scratch.h"
#include "tools/trainer/trainer.h"

using namespace slab;
using namespace slab::tools;
namespace fs = std::filesystem;

namespace {

using slab::testing::check_same_file;

constexpr const char* kChildFlags = "SLAB_CRASH_CHILD_FLAGS";  // the child's flags, one a line

TrainingData synthetic_data() {
  return testing::pattern_images({"synthetic", 96, 32, 11, 160, 20}, [](int64_t label, int64_t y, int64_t x) {
    constexpr int64_t half = 14;
    return (y < half) == (label < 2) && (x < half) == (label % 2 == 0);
  });
}

// 3 epochs of 6 steps (96 images, batch 16), a checkpoint every 4 steps and at each epoch's
// end, one thread (results depend on the thread count), posterior samples of epochs 2 and 3.
// `--output FOLDER`, or `--resume FOLDER` to go on.
std::vector<std::string> run_flags(const std::string& folder, const char* mode = "--output") {
  return {"--optimizer", "sghmc-spl", "--model", "mlp-784-32", "--seed", "5", "--lr", "0.05",
          "--warm-up", "0", "--lambda0", "0.5", "--soft-threshold", "1e-3", "--hard-threshold-linear", "3e-4",
          "--cycles", "1", "--samples-per-cycle", "2", "--checkpoint-every", "4", "--threads", "1",
          mode, folder};
}

TrainResult train(const TrainingData& data, std::vector<std::string> flags) {
  flags.insert(flags.begin(), "test_crash");
  ParsedCommandLine parsed = parse_train_command_line(testing::pattern_run_defaults("test_crash"), flags);
  REQUIRE_MESSAGE(!parsed.exit_now, parsed.message);
  parsed.config.progress = "none";
  std::FILE* quiet = std::fopen("/dev/null", "w");
  TrainResult result = run_training(parsed.config, &data, quiet);
  std::fclose(quiet);
  return result;
}

// Starts this executable's case "crash child" with `flags` and the fault armed (empty: none).
pid_t start_child(const std::vector<std::string>& flags, const std::string& fault) {
  std::string joined;
  for (const std::string& flag : flags) joined += flag + "\n";
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setenv(kChildFlags, joined.c_str(), 1);
    if (!fault.empty()) setenv("SLAB_FAULT_INJECTION", fault.c_str(), 1);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execl(self.c_str(), self.c_str(), "--test-case=crash child", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return status;
}

const std::string& uninterrupted_final(const TrainingData& data) {
  static const std::string path = [&] {
    const std::string whole = testing::scratch_folder("crash", "whole");
    REQUIRE(train(data, run_flags(whole)).completed);
    return whole + "/checkpoints/final.safetensors";
  }();
  return path;
}

// Runs the child until the fault kills it, checks it died of SIGKILL with a checkpoint left,
// resumes, and compares with the uninterrupted run.
void crash_and_resume(const std::string& name, const std::string& fault, bool leaves_temporary = false) {
  const TrainingData data = synthetic_data();
  const std::string reference = uninterrupted_final(data);
  const std::string parts = testing::scratch_folder("crash", name);
  const int status = wait_for(start_child(run_flags(parts), fault));
  REQUIRE_MESSAGE(WIFSIGNALED(status), "the child was to die at ", fault, "; status ", status);
  CHECK(WTERMSIG(status) == SIGKILL);
  REQUIRE(fs::exists(parts + "/checkpoints/latest.safetensors"));
  CHECK_FALSE(fs::exists(parts + "/checkpoints/final.safetensors"));
  CHECK(fs::exists(parts + "/checkpoints/latest.safetensors.tmp") == leaves_temporary);
  const TrainResult rest = train(data, run_flags(parts, "--resume"));
  REQUIRE(rest.completed);
  CHECK(rest.steps == 18);
  check_same_file(reference, parts + "/checkpoints/final.safetensors");
  for (const char* sample : {"sample-epoch-0002.safetensors", "sample-epoch-0003.safetensors"}) {
    CAPTURE(sample);
    check_same_file(fs::path(reference).parent_path().parent_path() / "samples" / sample,
                    parts + "/samples/" + sample);
  }
}

}  // namespace

// Not a test of its own: the process that the cases below start and kill.
TEST_CASE("crash child") {
  const char* flags = std::getenv(kChildFlags);
  if (flags == nullptr) return;
  std::vector<std::string> list;
  std::istringstream in(flags);
  for (std::string line; std::getline(in, line);) list.push_back(line);
  train(synthetic_data(), list);
  std::_Exit(3);  // the armed fault did not fire
}

TEST_CASE("SIGKILL mid-epoch (after step 10 of 18, checkpoint at step 8), resume, bit for bit") {
  crash_and_resume("mid-epoch", "train-step:10");
}

TEST_CASE("SIGKILL on an epoch boundary (after epoch 2's checkpoint), resume, bit for bit") {
  crash_and_resume("epoch-boundary", "epoch-end:2");
}

TEST_CASE("SIGKILL in the middle of a checkpoint write, resume, bit for bit") {
  // Writes: latest at step 4, epoch 1's latest (step 6), latest at step 8, sample 2, epoch
  // 2's latest (step 12): the fifth dies half-way, leaving latest.safetensors.tmp behind.
  crash_and_resume("checkpoint-write", "safetensors-write:5", true);
}

TEST_CASE("SIGKILL from outside at an arbitrary moment after the first checkpoint, resume, bit for bit") {
  const TrainingData data = synthetic_data();
  const std::string reference = uninterrupted_final(data);
  const std::string parts = testing::scratch_folder("crash", "outside");
  const pid_t child = start_child(run_flags(parts), "");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(parts + "/checkpoints/latest.safetensors") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  kill(child, SIGKILL);
  const int status = wait_for(child);
  if (!WIFSIGNALED(status)) {  // finished before the signal came: nothing to resume
    CHECK(WIFEXITED(status));
    MESSAGE("the child finished before SIGKILL reached it");
    return;
  }
  REQUIRE(train(data, run_flags(parts, "--resume")).completed);
  check_same_file(reference, parts + "/checkpoints/final.safetensors");
}
