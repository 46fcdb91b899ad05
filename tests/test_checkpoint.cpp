// Checkpoints: bit-exact save/load, exact resume (model, optimizer, Dropout generators),
// clear errors (another architecture, wrong shapes, another optimizer, truncated or foreign
// files), and PyTorch reading a slab checkpoint with safetensors.torch.load_file (skipped,
// visibly, when tools/python-env.sh cannot make a Python with torch and safetensors).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "layers/layers.h"
#include "bayes/samples.h"
#include "models/factory.h"
#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/sgd.h"
#include "tests/golden/models/golden_values.h"
#include "tests/run_command.h"
#include "tests/skip.h"

using namespace slab;
namespace fs = std::filesystem;

namespace {

// A fresh temporary directory per test case, removed afterwards.
struct TemporaryDirectory {
  fs::path path;
  TemporaryDirectory() {
    path = fs::temp_directory_path() / ("slab-test-checkpoint-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

void train_steps(Module& model, Optimizer& optimizer, Generator& data, int steps, const Shape& input_shape,
                 int64_t classes) {
  for (int s = 0; s < steps; ++s) {
    const Tensor x = randn(input_shape, data);
    std::vector<int64_t> labels;
    for (int64_t i = 0; i < input_shape[0]; ++i) labels.push_back(static_cast<int64_t>(data.below(classes)));
    optimizer.zero_grad();
    cross_entropy(model(x), labels_from_vector(labels)).backward();
    optimizer.step();
  }
}

std::shared_ptr<Sequential> dropout_net(uint64_t seed) {
  Generator generator(seed);
  auto net = std::make_shared<Sequential>();
  net->emplace<Linear>(6, 16, generator);
  net->emplace<ReLU>();
  net->emplace<Dropout>(0.3, seed + 100);
  net->emplace<Linear>(16, 4, generator);
  return net;
}

}  // namespace

TEST_CASE("save and load are bit-exact: weights, buffers, optimizer state, metadata") {
  TemporaryDirectory dir;
  auto model = make_model("resnet20", 10, 3, 1);
  Sgd sgd(model->named_parameters(), SgdOptions{.learning_rate = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
  Generator data(3);
  train_steps(*model, sgd, data, 2, {4, 3, 32, 32}, 10);
  Metadata user{{"loader.position", "12345"}};
  put_generator_state(user, "rng.data", data.state());
  save_checkpoint(dir.file("a.safetensors"), *model, "resnet20", &sgd, 7, 2, user);

  auto restored = make_model("resnet20", 10, 3, 99);  // different initial weights
  Sgd restored_sgd(restored->named_parameters(),
                   SgdOptions{.learning_rate = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
  const CheckpointInfo info = load_checkpoint(dir.file("a.safetensors"), *restored, "resnet20", &restored_sgd);
  CHECK(info.architecture == "resnet20");
  CHECK(info.epoch == 7);
  CHECK(info.step == 2);
  CHECK(info.optimizer == "sgd");
  CHECK(info.optimizer_metadata.at("momentum") == "0.90000000000000002");
  CHECK(info.user.at("loader.position") == "12345");
  const GeneratorState state = get_generator_state(info.user, "rng.data");
  CHECK(state.seed == data.state().seed);
  CHECK(state.next_block == data.state().next_block);
  CHECK(state.buffered_words == data.state().buffered_words);

  const NamedTensors a = model->state_dict(), b = restored->state_dict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(same_bytes(a[i].second, b[i].second));
  }
  CHECK(restored->state_dict().back().second.data<int64_t>()[0] == 2);  // num_batches_tracked
  const NamedTensors sa = sgd.state_tensors(), sb = restored_sgd.state_tensors();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) CHECK(same_bytes(sa[i].second, sb[i].second));
  CHECK(restored_sgd.step_count() == 2);
  CHECK(read_checkpoint_info(dir.file("a.safetensors")).epoch == 7);
}

TEST_CASE("resume is exact: 3 steps + save + load + 3 steps equals 6 steps (Adam, Dropout generator)") {
  TemporaryDirectory dir;
  auto straight = dropout_net(5);
  Adam adam(straight->named_parameters(), AdamOptions{.learning_rate = 0.01, .weight_decay = 0.01});
  Generator data(8);
  train_steps(*straight, adam, data, 3, {5, 6}, 4);
  Metadata user;
  put_generator_state(user, "data", data.state());
  save_checkpoint(dir.file("mid.safetensors"), *straight, "dropout-mlp", &adam, 0, 3, user);
  train_steps(*straight, adam, data, 3, {5, 6}, 4);

  auto resumed = dropout_net(6);  // other weights and another Dropout seed: all must come from the file
  Adam resumed_adam(resumed->named_parameters(), AdamOptions{.learning_rate = 0.01, .weight_decay = 0.01});
  const CheckpointInfo info = load_checkpoint(dir.file("mid.safetensors"), *resumed, "dropout-mlp", &resumed_adam);
  Generator resumed_data;
  resumed_data.set_state(get_generator_state(info.user, "data"));
  train_steps(*resumed, resumed_adam, resumed_data, 3, {5, 6}, 4);

  const NamedTensors a = straight->state_dict(), b = resumed->state_dict();
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(same_bytes(a[i].second, b[i].second));
  }
}

TEST_CASE("load errors: another architecture, other shapes, other optimizer, missing optimizer state") {
  TemporaryDirectory dir;
  auto model = make_model("resnet20", 10, 3, 1);
  Sgd sgd(model->named_parameters(), SgdOptions{.learning_rate = 0.1, .momentum = 0.9});
  save_checkpoint(dir.file("r20.safetensors"), *model, "resnet20", &sgd, 1, 10);
  save_checkpoint(dir.file("weights.safetensors"), *model, "resnet20", nullptr, 1, 10);

  auto other = make_model("resnet32", 10, 3, 1);
  CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("r20.safetensors"), *other, "resnet32", nullptr),
                       doctest::Contains("the checkpoint holds a 'resnet20' but the model is a 'resnet32'"), Error);
  // The same name with other shapes (5 classes): the error names the tensor and both shapes,
  // and the model is left as it was.
  auto five = make_model("resnet20", 5, 3, 1);
  const std::vector<double> before = five->state_dict()[0].second.to_vector();
  CHECK_THROWS_WITH_AS(
      load_checkpoint(dir.file("r20.safetensors"), *five, "resnet20", nullptr),
      doctest::Contains("'linear.weight' has shape [10, 64] in the checkpoint but [5, 64] in the model"), Error);
  CHECK(five->state_dict()[0].second.to_vector() == before);
  // Another structure under the same name: a missing key.
  auto vgg = make_model("vgg11-bn", 10, 3, 1);
  CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("r20.safetensors"), *vgg, "resnet20", nullptr),
                       doctest::Contains("the model's 'features.0.weight' [64, 3, 3, 3] is missing"), Error);
  Adam adam(model->named_parameters(), AdamOptions{});
  CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("r20.safetensors"), *model, "resnet20", &adam),
                       doctest::Contains("holds 'sgd' optimizer state, not 'adam'"), Error);
  CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("weights.safetensors"), *model, "resnet20", &sgd),
                       doctest::Contains("holds no optimizer state, but a 'sgd' was given"), Error);
  // Weights only is fine without an optimizer.
  CHECK(load_checkpoint(dir.file("weights.safetensors"), *model, "resnet20", nullptr).step == 10);
}

TEST_CASE("load errors: truncated file, foreign safetensors file, bad metadata") {
  TemporaryDirectory dir;
  auto model = make_model("mlp-8-4", 3, 1, 1);
  save_checkpoint(dir.file("full.safetensors"), *model, "mlp-8-4", nullptr, 0, 0);
  const auto size = fs::file_size(dir.file("full.safetensors"));
  fs::copy_file(dir.file("full.safetensors"), dir.file("cut.safetensors"));
  fs::resize_file(dir.file("cut.safetensors"), size - 20);
  CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("cut.safetensors"), *model, "mlp-8-4", nullptr),
                       doctest::Contains("truncated"), Error);
  fs::resize_file(dir.file("cut.safetensors"), 5);
  CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("cut.safetensors"), *model, "mlp-8-4", nullptr),
                       doctest::Contains("cut.safetensors: truncated"), Error);
  save_safetensors(dir.file("plain.safetensors"), model->state_dict());
  CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("plain.safetensors"), *model, "mlp-8-4", nullptr),
                       doctest::Contains("not a slab checkpoint"), Error);
  CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("absent.safetensors"), *model, "mlp-8-4", nullptr),
                       doctest::Contains("cannot open"), Error);
  Metadata bad;
  bad["g"] = "1 2 three";
  CHECK_THROWS_WITH_AS(get_generator_state(bad, "g"),
                       doctest::Contains("is not 'seed stream next_block buffered_words'"), Error);
}

// PyTorch reads a slab checkpoint: safetensors.torch.load_file, then the "model." entries
// load strictly into the PyTorch ResNet-20 of make_golden_models.py, whose eval-mode logits
// must equal slab's.
TEST_CASE("PyTorch reads a slab checkpoint (safetensors.torch.load_file) and computes the same logits") {
  const std::string& python = slab::testing::python_env();
  if (python.empty() || std::system((python + " -c 'import torch, safetensors.torch' > /dev/null 2>&1").c_str()) != 0) {
    slab::testing::skip(
        "tools/python-env.sh gave no Python with torch and safetensors (tools/setup.sh --with-torch, and PyPI "
        "for safetensors): the check that PyTorch reads slab checkpoints did not run");
    return;
  }
  TemporaryDirectory dir;
  auto model = make_model("resnet20", 10, 3, 4);
  Sgd sgd(model->named_parameters(), SgdOptions{.learning_rate = 0.05, .momentum = 0.9});
  Generator data(2);
  {  // one step, so that weights, running statistics and momentum are not the initial ones
    const Tensor x = randn({4, 3, 32, 32}, data);
    cross_entropy((*model)(x), labels_from_vector({1, 5, 2, 9})).backward();
    sgd.step();
  }
  save_checkpoint(dir.file("r20.safetensors"), *model, "resnet20", &sgd, 1, 1);
  model->eval();
  const Tensor x = golden::values("input", {2, 3, 32, 32});
  std::vector<double> logits;
  {
    NoGradGuard no_grad;
    logits = (*model)(x).to_vector();
  }

  std::ofstream(dir.file("read.py")) << R"(
import importlib.util, sys, torch
from safetensors import safe_open
from safetensors.torch import load_file
path, script = sys.argv[1], sys.argv[2]
state = load_file(path)
with safe_open(path, framework="pt") as f:
    assert f.metadata()["slab.architecture"] == "resnet20", f.metadata()
assert state["model.layer1.0.bn1.num_batches_tracked"].dtype == torch.int64
assert "optimizer.conv1.weight.momentum_buffer" in state
spec = importlib.util.spec_from_file_location("golden", script)
golden = importlib.util.module_from_spec(spec)
spec.loader.exec_module(golden)
model = golden.make("resnet20")
model.load_state_dict({k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}, strict=True)
model.eval()
with torch.no_grad():
    logits = model(golden.golden_values("input", (2, 3, 32, 32)))
print(" ".join("%.9g" % v for v in logits.flatten().tolist()))
)";
  const std::string command = python + " " + dir.file("read.py") + " " + dir.file("r20.safetensors") + " " +
                              std::string(SLAB_SOURCE_DIR) + "/tests/golden/make_golden_models.py 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = pclose(pipe);
  INFO("python output: ", output);
  REQUIRE(status == 0);
  std::istringstream in(output);
  std::vector<double> torch_logits;
  for (double v; in >> v;) torch_logits.push_back(v);
  REQUIRE(torch_logits.size() == logits.size());
  for (size_t i = 0; i < logits.size(); ++i)
    CHECK(torch_logits[i] == doctest::Approx(logits[i]).epsilon(1e-4).scale(1e-3));
}

TEST_CASE("a checkpoint or sample holding NaN or infinity is refused, naming the tensor") {
  TemporaryDirectory dir;
  auto model = make_model("mlp-8-4", 3, 1, 1);
  const std::vector<NamedParameter> parameters = model->named_parameters();
  REQUIRE(parameters.size() >= 2);
  // The weights of a diverged run: one NaN in the second parameter, one infinity in the first.
  parameters[1].tensor.data<float>()[2] = std::numeric_limits<float>::quiet_NaN();
  save_checkpoint(dir.file("nan.safetensors"), *model, "mlp-8-4", nullptr, 0, 0);
  auto restored = make_model("mlp-8-4", 3, 1, 2);
  const std::vector<double> before = restored->named_parameters()[1].tensor.to_vector();
  const std::string expected = "tensor 'model." + parameters[1].name + "' holds nan at element 2";
  CHECK_THROWS_WITH_AS(load_checkpoint(dir.file("nan.safetensors"), *restored, "mlp-8-4", nullptr),
                       doctest::Contains(expected.c_str()), Error);
  CHECK(restored->named_parameters()[1].tensor.to_vector() == before);  // nothing was loaded
  // For inspection, the flag lets it load.
  load_checkpoint(dir.file("nan.safetensors"), *restored, "mlp-8-4", nullptr, true);
  CHECK(std::isnan(restored->named_parameters()[1].tensor.to_vector()[2]));

  parameters[1].tensor.data<float>()[2] = 0.0f;
  parameters[0].tensor.data<float>()[0] = std::numeric_limits<float>::infinity();
  SampleInfo info;
  info.optimizer = "sghmc";
  save_posterior_sample(dir.file("inf-sample.safetensors"), *model, nullptr, info);
  CHECK_THROWS_WITH_AS(load_posterior_sample(dir.file("inf-sample.safetensors"), *restored),
                       doctest::Contains("holds inf at element 0"), Error);
}
