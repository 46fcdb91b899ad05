// Models: PyTorch's state-dict keys, shapes and parameter counts for every make_model name,
// the factory's errors, prior groupings, channel couplings (structure and a functional
// dead-channel check), forward shapes, and ResNet-20 / small-CNN forward + backward against
// PyTorch golden files.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/safetensors.h"
#include "golden_compare.h"
#include "layers/layers.h"
#include "models/factory.h"
#include "models/mlp.h"
#include "models/resnet.h"
#include "models/resnet_cifar.h"
#include "models/wide_resnet.h"
#include "tests/golden/models/golden_values.h"

using namespace slab;
using testing::check_close;
using testing::golden_model_path;

namespace {

nlohmann::json architectures() {
  std::ifstream in(golden_model_path("architectures.json"));
  REQUIRE_MESSAGE(in.good(), "missing ", golden_model_path("architectures.json"),
                  ": run tests/golden/make_golden_models.py");
  return nlohmann::json::parse(in);
}

// Sorted "key shape dtype" lines as the golden script writes them ("conv1.weight 16,3,3,3 float32").
std::vector<std::string> state_entries(const Module& model) {
  std::vector<std::string> out;
  for (const auto& [key, tensor] : model.state_dict()) {
    std::ostringstream line;
    line << key << ' ';
    for (size_t d = 0; d < tensor.shape().size(); ++d) line << (d ? "," : "") << tensor.shape()[d];
    line << ' ' << tensor.dtype();
    out.push_back(line.str());
  }
  std::sort(out.begin(), out.end());  // the golden lists are sorted (PyTorch orders buffers differently)
  return out;
}

std::string digest(const std::vector<std::string>& entries) {
  std::string joined;
  for (size_t i = 0; i < entries.size(); ++i) joined += (i ? "\n" : "") + entries[i];
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(golden::fnv1a64(joined)));
  return text;
}

// Every mixer -> normaliser pair agrees in channels; every model declares a whole graph.
void check_couplings_structure(Module& model, const std::string& name) {
  const ChannelGraph graph = channel_graph(model);
  for (const ConvBatchNormPair& pair : mixer_normaliser_pairs(graph)) {
    INFO(name, ": pair ", pair.conv, " -> ", pair.batch_norm);
    REQUIRE(graph.node_named(pair.conv) != nullptr);
    REQUIRE(graph.node_named(pair.batch_norm) != nullptr);
    CHECK(graph.node_named(pair.conv)->mixer.weight.size(0) ==
          graph.node_named(pair.batch_norm)->normaliser.running_mean.numel());
  }
}

// The makers of channel j of `value`'s space: normalisers right after a mixer, and mixers
// not followed by their own normaliser (pre-activation branches), with their channel.
std::vector<std::pair<const ChannelNode*, int64_t>> space_members(const ChannelGraph& graph,
                                                                  const ChannelAnalysis& analysis, int value,
                                                                  int64_t j) {
  std::vector<std::pair<const ChannelNode*, int64_t>> members;
  const int64_t space = analysis.element_space[static_cast<size_t>(analysis.base[static_cast<size_t>(value)] + j)];
  for (const ChannelNode& node : graph.nodes) {
    const bool mixer = node.role == ChannelRole::Mixer && sole_normaliser_reader(graph, node.output.id) < 0;
    const int producer = graph.values[static_cast<size_t>(node.inputs[0].value.id)].producer;
    const bool paired = node.role == ChannelRole::Normaliser && producer >= 0 &&
                        graph.nodes[static_cast<size_t>(producer)].role == ChannelRole::Mixer;
    if (!mixer && !paired) continue;
    for (int64_t c = 0; c < graph.values[static_cast<size_t>(node.output.id)].channels; ++c)
      if (analysis.element_space[static_cast<size_t>(analysis.base[static_cast<size_t>(node.output.id)] + c)] == space)
        members.emplace_back(&node, c);
  }
  return members;
}

// Zeroes, for every member of the space of channel j of the network's last residual add,
// its channel: a BN's gamma and beta, or a conv's filter.
void kill_stream_channel(Module& model, int64_t j, size_t skip_member = SIZE_MAX) {
  NoGradGuard no_grad;
  const ChannelGraph graph = channel_graph(model);
  const ChannelAnalysis analysis = analyse_channels(graph);
  int last_add = -1;
  for (const ChannelNode& node : graph.nodes)
    if (node.role == ChannelRole::ResidualAdd) last_add = node.output.id;
  const auto members = space_members(graph, analysis, last_add, j);
  for (size_t m = 0; m < members.size(); ++m) {
    if (m == skip_member) continue;
    const auto& [node, c] = members[m];
    if (node->role == ChannelRole::Normaliser) {
      node->normaliser.scale.set({c}, 0.0);
      node->normaliser.shift.set({c}, 0.0);
    } else {
      const Tensor& w = node->mixer.weight;
      for (int64_t i = 0; i < w.size(1); ++i)
        for (int64_t k = 0; k < w.size(2) * w.size(3); ++k) w.set({c, i, k / w.size(3), k % w.size(3)}, 0.0);
    }
  }
}

// Sum over the batch of |d loss / d classifier.weight[:, j]|.
double classifier_column_gradient(Module& model, Linear& classifier, const Tensor& images, int64_t j) {
  model.zero_grad();
  sum(model(images)).backward();
  double total = 0;
  for (int64_t o = 0; o < classifier.out_features; ++o) total += std::abs(classifier.weight.grad().at({o, j}));
  return total;
}

}  // namespace

// One pass over every architecture (the large ones cost seconds to initialise, so each is
// built once): keys, shapes, dtypes and counts against PyTorch, the counts stated in the
// task brief (independent of the golden file), and the structure of the channel couplings.
TEST_CASE("every make_model name: PyTorch's state-dict keys, shapes, dtypes, parameter count; coupling structure") {
  const nlohmann::json golden = architectures();
  CHECK(golden.size() >= 20);
  const std::map<std::string, int64_t> brief_counts = {
      {"resnet20", 269722}, {"resnet18", 11173962}, {"vgg16-bn", 14728266}};
  int64_t brief_checked = 0;
  for (const auto& [name, record] : golden.items()) {
    INFO("model ", name);
    auto model = make_model(name, record.at("num_classes").get<int64_t>(), record.at("in_channels").get<int64_t>(), 1);
    CHECK(model->parameter_count() == record.at("parameters").get<int64_t>());
    if (auto it = brief_counts.find(name); it != brief_counts.end()) {
      CHECK(model->parameter_count() == it->second);
      ++brief_checked;
    }
    const std::vector<std::string> entries = state_entries(*model);
    CHECK(static_cast<int64_t>(entries.size()) == record.at("entries").get<int64_t>());
    if (record.contains("state_dict")) {
      const auto expected = record.at("state_dict").get<std::vector<std::string>>();
      for (size_t i = 0; i < std::min(entries.size(), expected.size()); ++i) {
        INFO("entry ", i);
        CHECK(entries[i] == expected[i]);
      }
    }
    CHECK(digest(entries) == record.at("digest").get<std::string>());

    check_couplings_structure(*model, name);
    const ChannelCouplings couplings = channel_couplings(*model);
    // In post-activation models every BatchNorm2d directly follows a conv, so all are paired.
    const bool post_activation = name.rfind("small-cnn", 0) == 0 || name.rfind("vgg", 0) == 0 || name.rfind("resnet", 0) == 0;
    if (post_activation) {
      int64_t batch_norms = 0;
      for (auto& [qualified, module] : model->named_modules()) batch_norms += dynamic_cast<BatchNorm2d*>(module) != nullptr;
      CHECK(static_cast<int64_t>(couplings.conv_batch_norm.size()) == batch_norms);
    }
    const bool residual = name.find("resnet") != std::string::npos || name.rfind("wrn", 0) == 0;
    const ChannelGraph graph = channel_graph(*model);
    const bool adds = std::any_of(graph.nodes.begin(), graph.nodes.end(),
                                  [](const ChannelNode& n) { return n.role == ChannelRole::ResidualAdd; });
    CHECK(adds == residual);
  }
  CHECK(brief_checked == 3);
}

TEST_CASE("the ImageNet form with 1000 classes has torchvision's published count") {
  CHECK(make_model("resnet18-imagenet", 1000, 3, 0)->parameter_count() == 11689512);
}

TEST_CASE("make_model: unknown and malformed names are clear errors listing the known ones") {
  CHECK_THROWS_WITH_AS(make_model("resnet21", 10, 3, 0),
                       doctest::Contains("unknown model 'resnet21'; known models: mlp-"), Error);
  CHECK_THROWS_WITH_AS(make_model("resnet21", 10, 3, 0), doctest::Contains("wrn-<depth>-<k>"), Error);
  CHECK_THROWS_WITH_AS(make_model("mlp-784-x", 10, 1, 0), doctest::Contains("unknown model 'mlp-784-x'"), Error);
  CHECK_THROWS_WITH_AS(make_model("wrn-27-10", 10, 3, 0), doctest::Contains("not of the form 6n + 4"), Error);
  CHECK_THROWS_WITH_AS(make_model("resnet20", 0, 3, 0), doctest::Contains("num_classes must be positive"), Error);
  // Example 1's network has 5027 parameters (docs/algorithm.md#variable-selection-outcomes).
  CHECK(make_model("mlp-1000-5-3", 1, 1, 0)->parameter_count() == 5027);
}

TEST_CASE("the registry: slab's own models are its first entries, each exact one with a PyTorch record") {
  const std::vector<RegisteredModel> builtins = detail::builtin_models();
  const std::vector<std::string> names = model_names();
  REQUIRE(names.size() >= builtins.size());
  const nlohmann::json golden = architectures();
  for (size_t i = 0; i < builtins.size(); ++i) {
    INFO("entry ", i, ": ", builtins[i].pattern);
    CHECK(names[i] == builtins[i].pattern);
    if (builtins[i].is_exact()) CHECK(golden.contains(builtins[i].pattern));
    CHECK(model_help().find(builtins[i].pattern) != std::string::npos);
  }
}

TEST_CASE("the registry: a user's model is built, listed and checked like slab's") {
  register_model("test-tiny-mlp", "a test's model", [](const std::string&, int64_t classes, int64_t, uint64_t seed) {
    Generator generator(seed);
    return std::make_shared<MLP>(4, std::vector<int64_t>{3}, classes, generator);
  });
  CHECK(make_model("test-tiny-mlp", 2, 1, 0)->parameter_count() == 4 * 3 + 3 + 3 * 2 + 2);
  CHECK(model_help().find("test-tiny-mlp") != std::string::npos);
  CHECK(model_names().back() == "test-tiny-mlp");
  const ModelBuilder none = [](const std::string&, int64_t, int64_t, uint64_t) { return std::shared_ptr<Module>(); };
  CHECK_THROWS_WITH_AS(register_model("test-tiny-mlp", "again", none), doctest::Contains("registered already"), Error);
  CHECK_THROWS_WITH_AS(register_model("<n>-net", "no fixed part", none), doctest::Contains("fixed part"), Error);
  CHECK_THROWS_WITH_AS(register_model("resnet20", "a second resnet20", none), doctest::Contains("registered already"),
                       Error);

  // Prefix patterns: the longest prefix that accepts the name wins; a builder that returns
  // null passes the name on, and a name nobody accepts is unknown.
  register_model("mlp-7-<h>", "a two-hidden-layer MLP from 7 inputs", [](const std::string& name, int64_t classes,
                                                                          int64_t, uint64_t seed) -> std::shared_ptr<Module> {
    const auto numbers = model_name_numbers(name, "mlp-7-");
    if (!numbers || numbers->size() != 1) return nullptr;
    Generator generator(seed);
    const int64_t h = numbers->front();
    return std::make_shared<MLP>(7, std::vector<int64_t>{h, h}, classes, generator);
  });
  CHECK(make_model("mlp-7-5", 2, 1, 0)->parameter_count() == 7 * 5 + 5 + 5 * 5 + 5 + 5 * 2 + 2);  // the longer prefix
  CHECK(make_model("mlp-7-5-4", 2, 1, 0)->parameter_count() == 7 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2);  // passed on to mlp-
  CHECK_THROWS_WITH_AS(make_model("test-tiny-mlp-2", 2, 1, 0), doctest::Contains("unknown model 'test-tiny-mlp-2'"),
                       Error);
}

TEST_CASE("model_name_numbers: the positive integers after a prefix") {
  CHECK(model_name_numbers("wrn-28-10", "wrn-") == std::vector<int64_t>{28, 10});
  CHECK_FALSE(model_name_numbers("wrn-28-", "wrn-").has_value());
  CHECK_FALSE(model_name_numbers("wrn-", "wrn-").has_value());
  CHECK_FALSE(model_name_numbers("wrn-0-1", "wrn-").has_value());
  CHECK_FALSE(model_name_numbers("vgg-1", "wrn-").has_value());
}

TEST_CASE("make_model is deterministic in the seed") {
  auto a = make_model("resnet20", 10, 3, 4), b = make_model("resnet20", 10, 3, 4), c = make_model("resnet20", 10, 3, 5);
  CHECK(a->state_dict()[0].second.to_vector() == b->state_dict()[0].second.to_vector());
  CHECK(a->state_dict()[0].second.to_vector() != c->state_dict()[0].second.to_vector());
}

TEST_CASE("prior groupings: conv weights grouped, CNN classifiers and BN not, every MLP layer by columns") {
  auto resnet = make_model("resnet20", 10, 3, 0);
  for (const NamedParameter& p : resnet->named_parameters()) {
    INFO(p.name);
    if (p.tensor.dim() == 4)
      CHECK(p.grouping == PriorGrouping::ConvKernels);
    else
      CHECK(p.grouping == PriorGrouping::None);
  }
  auto vgg = make_model("vgg11-bn", 10, 3, 0);
  for (const NamedParameter& p : vgg->named_parameters())
    if (p.name == "classifier.weight") CHECK(p.grouping == PriorGrouping::None);
  auto mlp = make_model("mlp-20-6-4", 1, 1, 0);
  int grouped = 0;
  for (const NamedParameter& p : mlp->named_parameters()) {
    if (p.tensor.dim() == 2) {
      CHECK(p.grouping == PriorGrouping::LinearColumns);
      ++grouped;
    } else {
      CHECK(p.grouping == PriorGrouping::None);
    }
  }
  CHECK(grouped == 3);
}

TEST_CASE("channel couplings of ResNet-20: option-A streams carry earlier stages with channel offsets") {
  auto model = make_model("resnet20", 10, 3, 0);
  const ChannelCouplings couplings = channel_couplings(*model);
  CHECK(couplings.conv_batch_norm.size() == 19);
  CHECK(couplings.conv_batch_norm[0].conv == "conv1");
  CHECK(couplings.conv_batch_norm[0].batch_norm == "bn1");
  // Stream channel 30 of stage 3 is channel 14 of stage 2 and channel 6 of the stem
  // (option-A offsets 8 and 16): one space.
  const ChannelGraph graph = channel_graph(*model);
  const ChannelAnalysis analysis = analyse_channels(graph);
  const ChannelNode* last = nullptr;
  int adds = 0;
  for (const ChannelNode& node : graph.nodes)
    if (node.role == ChannelRole::ResidualAdd) {
      last = &node;
      ++adds;
    }
  CHECK(adds == 9);
  REQUIRE(last != nullptr);
  const auto members = space_members(graph, analysis, last->output.id, 30);
  REQUIRE(members.size() == 10);
  CHECK(members[0].first->name == "bn1");
  CHECK(members[0].second == 6);
  CHECK(members[4].first->name == "layer2.0.bn2");
  CHECK(members[4].second == 14);
  CHECK(members[9].first->name == "layer3.2.bn2");
  CHECK(members[9].second == 30);
}

// A stream channel whose every member is zeroed is dead: the classifier's column for it
// gets no gradient. Leaving one member alive must bring the gradient back (the test can fail).
TEST_CASE("channel couplings: zeroing every member of a stream channel kills it at the classifier") {
  Generator generator(3);
  SUBCASE("resnet20 (option A, channel 30 of stage 3 reaches back to stage 1)") {
    CifarResNet model(20, 3, 10, generator);
    model.eval();
    const Tensor images = randn({2, 3, 32, 32}, generator);
    CHECK(classifier_column_gradient(model, *model.linear, images, 30) > 0);
    kill_stream_channel(model, 30, /*skip bn1*/ 0);
    CHECK(classifier_column_gradient(model, *model.linear, images, 30) > 0);
    kill_stream_channel(model, 30);
    CHECK(classifier_column_gradient(model, *model.linear, images, 30) == 0.0);
    CHECK(classifier_column_gradient(model, *model.linear, images, 31) > 0);
  }
  SUBCASE("resnet18 CIFAR form (projection shortcut starts the last stream)") {
    ResNet model(18, ResNetStyle::Cifar, 3, 10, generator);
    model.eval();
    const Tensor images = randn({1, 3, 32, 32}, generator);
    kill_stream_channel(model, 100, 0);
    CHECK(classifier_column_gradient(model, *model.classifier, images, 100) > 0);
    kill_stream_channel(model, 100);
    CHECK(classifier_column_gradient(model, *model.classifier, images, 100) == 0.0);
  }
  SUBCASE("wrn-10-2 (pre-activation: conv members; the final BN's running mean set to 0 for the channel)") {
    WideResNet model(10, 2, 3, 10, generator);
    model.eval();
    const Tensor images = randn({1, 3, 32, 32}, generator);
    // With running_mean 0 and beta 0 the final BN maps a dead channel to 0 (relu(0) = 0).
    model.bn1->running_mean.set({5}, 0.0);
    model.bn1->bias.set({5}, 0.0);
    kill_stream_channel(model, 5, 1);
    CHECK(classifier_column_gradient(model, *model.fc, images, 5) > 0);
    kill_stream_channel(model, 5);
    CHECK(classifier_column_gradient(model, *model.fc, images, 5) == 0.0);
  }
}

TEST_CASE("forward shapes of each family, and input-size errors") {
  Generator generator(1);
  NoGradGuard no_grad;
  CHECK((*make_model("mlp-12-8", 3, 1, 0))(zeros({4, 3, 2, 2})).shape() == Shape{4, 3});
  CHECK((*make_model("small-cnn", 10, 1, 0))(zeros({2, 1, 28, 28})).shape() == Shape{2, 10});
  CHECK((*make_model("vgg11-bn", 10, 3, 0))(zeros({1, 3, 32, 32})).shape() == Shape{1, 10});
  CHECK((*make_model("resnet50-imagenet", 7, 3, 0))(zeros({2, 3, 32, 32})).shape() == Shape{2, 7});
  CHECK((*make_model("preact-resnet18", 10, 3, 0))(zeros({1, 3, 32, 32})).shape() == Shape{1, 10});
  CHECK((*make_model("wrn-10-1", 100, 3, 0))(zeros({2, 3, 32, 32})).shape() == Shape{2, 100});
  CHECK_THROWS_WITH_AS((*make_model("small-cnn", 10, 1, 0))(zeros({2, 1, 32, 32})),
                       doctest::Contains("SmallCNN: expected images [n, 1, 28, 28], got shape [2, 1, 32, 32]"), Error);
  CHECK_THROWS_WITH_AS((*make_model("vgg11-bn", 10, 3, 0))(zeros({1, 1, 32, 32})),
                       doctest::Contains("VGG-11: expected images [n, 3, 32, 32]"), Error);
  CHECK_THROWS_WITH_AS((*make_model("resnet18", 10, 3, 0))(zeros({1, 3, 64, 64})),
                       doctest::Contains("expected 32x32 images"), Error);
  CHECK_THROWS_WITH_AS((*make_model("mlp-12-8", 3, 1, 0))(zeros({4, 13})),
                       doctest::Contains("has 13 features per example, expected 12"), Error);
}

namespace {
// Loads golden weights, runs the training-mode step and compares with PyTorch.
void check_golden_model(Module& model, const std::string& file) {
  model.load_state_dict(golden::state(model));
  const SafetensorsContents expected = load_safetensors(golden_model_path(file));
  const auto input_shape = nlohmann::json::parse(expected.metadata.at("input_shape")).get<Shape>();
  const auto labels = nlohmann::json::parse(expected.metadata.at("labels")).get<std::vector<int64_t>>();
  const Tensor x = golden::values("input", input_shape);
  model.train();
  const Tensor logits = model(x);
  check_close(logits, expected.at("logits"), 1e-4, 1e-4, "logits");
  const Tensor loss = cross_entropy(logits, labels_from_vector(labels));
  CHECK(loss.item() == doctest::Approx(expected.at("loss").item()).epsilon(1e-5));
  loss.backward();
  int full = 0, projected = 0;
  for (const NamedParameter& p : model.named_parameters()) {
    const Tensor g = p.tensor.grad();
    REQUIRE_MESSAGE(g.defined(), "no gradient for ", p.name);
    auto it = expected.tensors.find("grad." + p.name);
    if (it != expected.tensors.end()) {
      check_close(g, it->second, 1e-3, 1e-5, "gradient of " + p.name);
      ++full;
      continue;
    }
    // Large tensors: projections on golden random directions and the norm (PyTorch's in float64).
    const std::vector<double> reference = expected.at("gradproj." + p.name).to_vector();
    const std::vector<double> gradient = g.to_vector();
    double norm = 0;
    for (double v : gradient) norm += v * v;
    norm = std::sqrt(norm);
    CHECK(norm == doctest::Approx(reference.back()).epsilon(1e-4));
    for (size_t k = 0; k + 1 < reference.size(); ++k) {
      const std::vector<double> direction =
          golden::values("projection" + std::to_string(k) + "/" + p.name, {g.numel()}).to_vector();
      double dot = 0, direction_norm = 0;
      for (size_t i = 0; i < gradient.size(); ++i) {
        dot += gradient[i] * direction[i];
        direction_norm += direction[i] * direction[i];
      }
      // Cauchy-Schwarz scale ||g|| ||r||: a random direction gives |dot| of about
      // ||g|| ||r|| / sqrt(n), so 1e-5 of the scale is a tight test for these sizes.
      INFO("projection ", k, " of the gradient of ", p.name, ": ", dot, " vs PyTorch ", reference[k]);
      CHECK(std::abs(dot - reference[k]) <= 1e-5 * reference.back() * std::sqrt(direction_norm));
    }
    ++projected;
  }
  CHECK(full > 0);
  for (const auto& [name, buffer] : model.named_buffers()) {
    if (buffer.dtype() == DType::i64)
      CHECK(buffer.data<int64_t>()[0] == expected.at("after." + name).data<int64_t>()[0]);
    else
      check_close(buffer, expected.at("after." + name), 1e-4, 1e-5, "running statistic " + name);
  }
  model.eval();
  NoGradGuard no_grad;
  check_close(model(x), expected.at("eval_logits"), 1e-4, 1e-4, "eval-mode logits");
  MESSAGE(file, ": ", full, " gradients compared in full, ", projected, " by projections");
}
}  // namespace

TEST_CASE("golden: ResNet-20 forward and backward (train), running statistics and eval logits match PyTorch") {
  auto model = make_model("resnet20", 10, 3, 0);
  check_golden_model(*model, "resnet20.safetensors");
}

TEST_CASE("golden: the small CNN matches PyTorch") {
  auto model = make_model("small-cnn", 10, 1, 0);
  check_golden_model(*model, "small_cnn.safetensors");
}
