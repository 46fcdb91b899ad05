// The behaviour lock: the SHA-256 of everything a short, fixed CPU run ends with (its final
// checkpoint's weights, buffers and optimizer state, and the test metrics' bits), for each
// optimizer the programs offer and for the variable-selection trainer. A refactoring that
// keeps the maths keeps these digests; a change of maths changes them, and whoever makes it
// says so and records the new digests here.
//
// The runs fix the seed and the thread count (results depend on how OpenMP splits the
// reductions), and the digests belong to the Release build with -march=native, one set per
// instruction set the project is built on: AVX-512 and AVX2 with FMA (the convolution
// kernels in 16 and in 8 lanes, core/cpu/conv_blocked_kernels.h). A Debug build
// or another instruction set sums in another order, so the lock is checked only where
// SLAB_BEHAVIOUR_LOCK_BUILD is set (tests/CMakeLists.txt sets it for Release builds with
// -march=native) and the instruction set has a recorded set (the AVX2 one only under GCC's
// znver3 tuning, the CPU it was recorded on); elsewhere the test says it is skipped.
#include <doctest/doctest.h>

#include <omp.h>

#include <bit>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "bayes/presets.h"
#include "bayes/variable_selection.h"
#include "core/backend.h"
#include "core/safetensors.h"
#include "data/sparse_regression.h"
#include "tools/trainer/variable_selection_trainer.h"
#include "tests/pattern_images.h"
#include "tests/scratch.h"
#include "tests/sha256.h"
#include "tools/trainer/trainer.h"

using namespace slab;
using namespace slab::tools;
namespace fs = std::filesystem;

namespace {

void hash_double(testing::Sha256& hash, double value) {
  const uint64_t bits = std::bit_cast<uint64_t>(value);
  hash.update(&bits, sizeof bits);
}

// Every tensor of the file (names, shapes and bytes, in name order) and the metadata that
// does not hold wall-clock time, less the run's recorded configuration: that is the run's
// input (every flag with its default), so a new flag would change it without changing any
// result. The settings a result depends on are fixed by the command lines below.
bool hashed_metadata(const std::string& key) {
  return key.find("seconds") == std::string::npos && key.find("time") == std::string::npos && key != "user.config";
}

void hash_checkpoint(testing::Sha256& hash, const std::string& path) {
  const SafetensorsContents contents = load_safetensors(path);
  for (const auto& [name, tensor] : contents.tensors) {
    hash.update(name);
    for (int64_t d : tensor.shape()) hash.update(&d, sizeof d);
    hash.update(tensor.raw_data(), tensor.nbytes());
  }
  for (const auto& [key, value] : contents.metadata)
    if (hashed_metadata(key)) hash.update(key + "=" + value);
}

std::string train_and_hash(const std::string& optimizer) {
  const TrainingData data = testing::pattern_images({"lock", 64, 32, 7, 160, 20}, [](int64_t label, int64_t y, int64_t x) {
    return (y < 14) == (label < 2) && (x < 14) == (label % 2 == 0);
  });
  ProgramDefaults defaults = testing::pattern_run_defaults("test_behaviour_lock");
  defaults.sampler_preset = "slab-mnist";
  const std::string output = testing::scratch_folder("lock", optimizer);
  std::vector<std::string> flags = {"test_behaviour_lock", "--optimizer", optimizer, "--seed", "11", "--threads", "2",
                                    "--output", output};
  // sghmc-spl runs dense (--shrink off): the digests are of the masked chain; with shrink
  // on the tensors' shapes change (tests/test_shrink_training.cpp checks it is the same chain).
  if (optimizer == "sghmc-spl")
    flags.insert(flags.end(), {"--warm-up", "0", "--cycles", "1", "--samples-per-cycle", "2", "--shrink", "off"});
  if (optimizer == "sghmc" || optimizer == "csghmc") flags.insert(flags.end(), {"--cycles", "1", "--samples-per-cycle", "2"});
  ParsedCommandLine parsed = parse_train_command_line(defaults, flags);
  REQUIRE_MESSAGE(!parsed.exit_now, parsed.message);
  parsed.config.progress = "none";
  std::FILE* quiet = std::fopen("/dev/null", "w");
  const TrainResult result = run_training(parsed.config, &data, quiet);
  std::fclose(quiet);
  REQUIRE(result.completed);
  testing::Sha256 hash;
  hash_checkpoint(hash, (fs::path(output) / "checkpoints" / "final.safetensors").string());
  for (double value : {result.test.accuracy, result.test.nll, result.test.ece}) hash_double(hash, value);
  if (result.bma)
    for (double value : {result.bma->accuracy, result.bma->nll, result.bma->ece}) hash_double(hash, value);
  if (result.sparsity) hash_double(hash, *result.sparsity);
  return hash.hex();
}

std::string variable_selection_hash() {
  omp_set_num_threads(2);
  const data::SparseRegressionData d = data::make_sparse_regression(1, 5, 2048, 512, 40);
  const SamplerPreset preset = sampler_preset("regression-1");
  VariableSelectionConfig config;
  config.prior = preset.prior;
  config.prior.lambda0 = 2.0;
  config.prior.warm_up = 10;
  config.epochs = 40;
  config.cycles = 2;
  config.batch_size = 256;
  config.learning_rate = preset.learning_rate;
  config.temperature = 0.02;
  config.seed = 9;
  const VariableSelectionResult r =
      train_variable_selection(d.train.inputs, d.train.targets, d.test.inputs, d.test.targets, config);
  testing::Sha256 hash;
  for (int64_t j : r.kept) hash.update(&j, sizeof j);
  for (int64_t n : {r.zeros, r.parameters, r.steps, r.train_size}) hash.update(&n, sizeof n);
  hash_double(hash, r.test_metric);
  hash_double(hash, r.train_loss);
  return hash.hex();
}

// The recorded digests of this build's instruction set (as core/backend.h's simd_level()
// names it), or none.
struct LockDigests {
  std::map<std::string, std::string> optimizers;
  std::string variable_selection;
};

std::optional<LockDigests> recorded_digests() {
#ifndef SLAB_BEHAVIOUR_LOCK_BUILD
  MESSAGE("skipped: the digests belong to the Release build with -march=native (this build sums in another order)");
  return std::nullopt;
#else
  const std::map<std::string, LockDigests> by_instruction_set = {
      {"AVX-512F (+FMA)",
       LockDigests{{
           {"sgd", "48b08a126dd9e14647f74a9890edfed974fdc8b05bafeb706b34dce67b57c9c4"},
           {"adam", "6c33b7b4d55138cfbc4255f055967c08da3d2fc5cbdefa377196d9e80ac834c5"},
           {"adamw", "c8c0df675b25a65efc8cb0ccfbf74ec9fdb74d5217a3e625fe25a8888ba212f9"},
           {"csghmc", "46535430e3ee000505df5df6ac13cb7d8eb578f9f2614047650a19f06d1a3b39"},
           {"vb-adaptive", "141d63b94d8fceb9ca8a83057459db26947fafccec89bcbc5b083b974aa7daa1"},
           {"ivon", "d8396756d9045087070222a53a06626eef27a0806f2204ba657680f38576d6c3"},
           {"sghmc", "c6e8242a2c8bd440f44fa965498c820c270a9bf9f45da3cc4d0453f0896f6cd1"},
           {"sghmc-spl", "cf40eeb496f6e5e9839789ee7236f47c0a6b34c588bec1f4ed74e9083001daf7"},
       },
       "b58e1f1107ee2294c3d6e31be70f043b2c3598972d81b4d8a6a3ed05a4714154"}},
      {"AVX2 (+FMA)",
       LockDigests{{
           {"sgd", "c3ecfb492df38bd129eb649ec9030f63fda89211ca107e86b9dcfc5fe78741db"},
           {"adam", "65c3852c15c8ed5c72db6dd0a54a91acf304315b1deb1ed1207b79eb0c82382d"},
           {"adamw", "daddd340a654ee128ec6c729619fca6530eabdd386aeab946fa139188a00886f"},
           {"csghmc", "f43564632b10b467c70c60eb9ccebc2f193bc3540a27bac99bbcc238a44211b3"},
           {"vb-adaptive", "47fd18ab46513c80ce95cfb1d09090eecbe92cd767d40045c6fe1906698c53b0"},
           {"ivon", "c05c72e5ebd2e69de330ed0716bd950921cf26e85808d16d5aa659f1e1bc9cac"},
           {"sghmc", "3e8354faea099f3d6bd05a7fb26d2cb5569427429700e9367f6cdb2f13dc5acf"},
           {"sghmc-spl", "20895a9b3b0adabf3c8e27a55d95907ce55262b02acf646b446020769fb09832"},
       },
       "cb9eee4557ce9b6dab35a0e6273b176d4a62fc0032a37da3a594be03f73e0867"}},
  };
  const auto found = by_instruction_set.find(simd_level());
  // The AVX2 set was recorded on AMD Zen 3 (-march=native is znver3 there): another CPU's
  // tuning may vectorise a reduction in another order, so it skips rather than fails.
#ifndef __tune_znver3__
  if (found != by_instruction_set.end() && found->first == "AVX2 (+FMA)") {
    MESSAGE("skipped: the AVX2 digests belong to GCC's znver3 tuning (-march=native on AMD Zen 3)");
    return std::nullopt;
  }
#endif
  if (found != by_instruction_set.end()) return found->second;
  MESSAGE("skipped: no digests are recorded for this build's instruction set (", simd_level(), ")");
  return std::nullopt;
#endif
}

}  // namespace

TEST_CASE("sha256 of known strings (FIPS 180-4 examples)") {
  testing::Sha256 empty;
  CHECK(empty.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  testing::Sha256 abc;
  abc.update("abc");
  CHECK(abc.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  testing::Sha256 two_blocks;
  two_blocks.update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  CHECK(two_blocks.hex() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("behaviour lock: each optimizer's short run ends with the recorded state") {
  const std::optional<LockDigests> expected = recorded_digests();
  if (!expected) return;
  for (const std::string& name : optimizer_names()) {
    CAPTURE(name);
    REQUIRE(expected->optimizers.count(name) == 1);
    const std::string digest = train_and_hash(name);
    MESSAGE(name, " ", digest);
    CHECK(digest == expected->optimizers.at(name));
  }
}

TEST_CASE("behaviour lock: the variable-selection trainer ends with the recorded selection") {
  const std::optional<LockDigests> expected = recorded_digests();
  if (!expected) return;
  const std::string digest = variable_selection_hash();
  MESSAGE("variable selection ", digest);
  CHECK(digest == expected->variable_selection);
}
