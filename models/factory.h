// make_model: a model by name, the one place that maps the programs' --model values to
// architectures, and the registry behind it.
//
// Every architecture, slab's own (models/builtin_models.cpp) and a user's, is registered
// with register_model(pattern, description, builder). A pattern is either an exact name
// ("resnet20") or a prefix followed by placeholders written with <...> ("wrn-<depth>-<k>":
// every name that starts with "wrn-" goes to that builder, which parses the rest). The
// programs' --help lists the registered models (model_help()); an unknown name is an Error
// that lists them. slab's own are registered before the first lookup, so a user's program
// registers its models at the start of main (before train_program_main / eval_program_main)
// and the trainer, the evaluator and checkpoints then know them like slab's.
//
// 10 classes and 3 input channels give the parameter counts of the PyTorch models
// (tests/golden/models/architectures.json).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/model.h"

namespace slab {

// Builds the model `name` (the full name asked for, so a prefix pattern's builder can parse
// it). Returns null when a prefix pattern's builder does not accept the rest of the name
// (make_model then reports the name as unknown); throws Error for a name it accepts but
// whose values are invalid (e.g. a Wide ResNet depth that is not 6n + 4).
using ModelBuilder = std::function<std::shared_ptr<Module>(const std::string& name, int64_t num_classes,
                                                           int64_t in_channels, uint64_t seed)>;

struct RegisteredModel {
  std::string pattern;      // "resnet20", "wrn-<depth>-<k>"
  std::string description;  // one line for the listing
  ModelBuilder builder;
  // The part before the first '<' ("wrn-"); the whole pattern for an exact name.
  std::string prefix() const { return pattern.substr(0, pattern.find('<')); }
  bool is_exact() const { return pattern.find('<') == std::string::npos; }
};

// Adds a model to the registry. Throws Error when the pattern is empty, starts with a
// placeholder, or is registered already (a user's model cannot silently replace another).
void register_model(const std::string& pattern, const std::string& description, ModelBuilder builder);

// The model registered under `name`: an exact pattern first, then the prefix patterns that
// `name` starts with, the longest prefix first, until a builder accepts it. Throws Error for
// an unknown name (listing the registered patterns) or non-positive sizes.
std::shared_ptr<Module> make_model(const std::string& name, int64_t num_classes, int64_t in_channels, uint64_t seed);

// The registered models in registration order (slab's own first).
std::vector<RegisteredModel> registered_models();

// The registered patterns, in registration order.
std::vector<std::string> model_names();

// The listing the programs print: one line per description, the patterns sharing it joined
// ("  vgg11-bn, vgg13-bn, ...   CIFAR VGG with BatchNorm (models/vgg.h)").
std::string model_help();

// For a prefix pattern's builder: the positive integers after `prefix` separated by '-'
// ("mlp-784-256" with prefix "mlp-" gives {784, 256}); nullopt when `name` does not start
// with `prefix` or a part is not a positive integer.
std::optional<std::vector<int64_t>> model_name_numbers(const std::string& name, const std::string& prefix);

namespace detail {
// slab's own architectures (models/builtin_models.cpp): the registry adds them, with the
// checks of register_model, when it is first used, so they come before any user's.
std::vector<RegisteredModel> builtin_models();
}  // namespace detail

}  // namespace slab
