#include "optim/checkpoint.h"

#include <sstream>

#include "core/parse_number.h"
#include "layers/dropout.h"
#include "layers/shrink.h"

namespace slab {

namespace {

const std::string kModelPrefix = "model.";
const std::string kOptimizerPrefix = "optimizer.";
const std::string kUserPrefix = "user.";
const std::string kDropoutPrefix = "rng.dropout.";

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

int64_t parse_integer(const Metadata& metadata, const std::string& key, const std::string& path) {
  auto it = metadata.find(key);
  SLAB_CHECK(it != metadata.end(), path, ": checkpoint metadata lacks '", key, "'");
  return parse_int64(it->second, path + ": checkpoint metadata '" + key + "'");
}

CheckpointInfo info_from(const Metadata& metadata, const std::string& path) {
  auto format = metadata.find("slab.format");
  SLAB_CHECK(format != metadata.end(), path, ": not a slab checkpoint (its metadata has no 'slab.format')");
  SLAB_CHECK(format->second == kCheckpointFormat, path, ": checkpoint format '", format->second,
             "' is not the one this build reads ('", kCheckpointFormat, "')");
  CheckpointInfo info;
  auto architecture = metadata.find("slab.architecture");
  SLAB_CHECK(architecture != metadata.end(), path, ": checkpoint metadata lacks 'slab.architecture'");
  info.architecture = architecture->second;
  info.epoch = parse_integer(metadata, "slab.epoch", path);
  info.step = parse_integer(metadata, "slab.step", path);
  auto optimizer = metadata.find("slab.optimizer");
  info.optimizer = optimizer == metadata.end() ? "" : optimizer->second;
  for (const auto& [key, value] : metadata) {
    if (starts_with(key, kOptimizerPrefix)) info.optimizer_metadata[key.substr(kOptimizerPrefix.size())] = value;
    if (starts_with(key, kUserPrefix)) info.user[key.substr(kUserPrefix.size())] = value;
  }
  return info;
}

}  // namespace

void put_generator_state(Metadata& metadata, const std::string& key, const GeneratorState& state) {
  std::ostringstream out;
  out << state.seed << ' ' << state.stream << ' ' << state.next_block << ' ' << state.buffered_words;
  metadata[key] = out.str();
}

GeneratorState get_generator_state(const Metadata& metadata, const std::string& key) {
  auto it = metadata.find(key);
  SLAB_CHECK(it != metadata.end(), "checkpoint: no generator state '", key, "'");
  std::istringstream in(it->second);
  GeneratorState state;
  in >> state.seed >> state.stream >> state.next_block >> state.buffered_words;
  std::string rest;
  SLAB_CHECK(!in.fail() && !(in >> rest) && state.buffered_words < 4, "checkpoint: generator state '", key, "' = '",
             it->second, "' is not 'seed stream next_block buffered_words'");
  return state;
}

void rebuild_shrunk_architecture(const Metadata& metadata, const std::string& path, Module& model, Optimizer* optimizer) {
  auto schema = metadata.find(kSchemaKey);
  auto shrinks = metadata.find(kShrinksKey);
  if (schema == metadata.end() && shrinks == metadata.end()) return;  // a dense model
  SLAB_CHECK(schema != metadata.end() && schema->second == kShrunkSchema && shrinks != metadata.end(), path,
             ": a shrunken checkpoint needs '", kSchemaKey, "' = ", kShrunkSchema, " and '", kShrinksKey, "'");
  const ShrinkHistory history = parse_shrink_history(shrinks->second);
  // The model may have gone through the first shrinks already (a sample loaded into the
  // model of an earlier one): the rest are replayed.
  const ShrinkHistory& done = model.shrink_history();
  bool prefix = done.size() <= history.size();
  for (size_t s = 0; prefix && s < done.size(); ++s)
    prefix = shrink_history_text({done[s]}) == shrink_history_text({history[s]});
  SLAB_CHECK(prefix, path, ": the file's model was shrunk otherwise than this one; load it into a freshly built model");
  try {
    for (size_t s = done.size(); s < history.size(); ++s) {
      const std::vector<ParameterSlice> slices = apply_kept_channels(model, history[s]);
      if (optimizer) optimizer->keep_elements(slices);
    }
  } catch (const Error& e) {
    SLAB_FAIL(path, ": cannot rebuild its shrunken architecture: ", e.what());
  }
}

void save_checkpoint(const std::string& path, Module& model, const std::string& architecture,
                     const Optimizer* optimizer, int64_t epoch, int64_t step, const Metadata& user) {
  SLAB_CHECK(!architecture.empty(), "save_checkpoint: the architecture name is empty");
  NamedTensors tensors;
  for (const auto& [name, tensor] : model.state_dict()) tensors.emplace_back(kModelPrefix + name, tensor);
  Metadata metadata;
  metadata["slab.format"] = kCheckpointFormat;
  metadata["slab.architecture"] = architecture;
  metadata["slab.epoch"] = std::to_string(epoch);
  metadata["slab.step"] = std::to_string(step);
  metadata["slab.optimizer"] = optimizer ? optimizer->name() : "";
  if (optimizer) {
    for (const auto& [name, tensor] : optimizer->state_tensors()) tensors.emplace_back(kOptimizerPrefix + name, tensor);
    for (const auto& [key, value] : optimizer->state_metadata()) metadata[kOptimizerPrefix + key] = value;
  }
  for (auto& [name, module] : model.named_modules())
    if (auto* dropout = dynamic_cast<Dropout*>(module))
      put_generator_state(metadata, kDropoutPrefix + name, dropout->generator().state());
  if (!model.shrink_history().empty()) {
    metadata[kSchemaKey] = kShrunkSchema;
    metadata[kShrinksKey] = shrink_history_text(model.shrink_history());
  }
  for (const auto& [key, value] : user) metadata[kUserPrefix + key] = value;
  save_safetensors(path, tensors, metadata);
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  return info_from(load_safetensors(path).metadata, path);
}

CheckpointInfo load_checkpoint(const std::string& path, Module& model, const std::string& architecture,
                               Optimizer* optimizer, bool allow_non_finite) {
  const SafetensorsContents contents = load_safetensors(path);
  if (!allow_non_finite) check_all_finite(contents, path);
  CheckpointInfo info = info_from(contents.metadata, path);
  SLAB_CHECK(info.architecture == architecture, path, ": the checkpoint holds a '", info.architecture,
             "' but the model is a '", architecture, "'");
  rebuild_shrunk_architecture(contents.metadata, path, model, optimizer);
  std::map<std::string, Tensor> model_state, optimizer_state;
  for (const auto& [key, tensor] : contents.tensors) {
    if (starts_with(key, kModelPrefix))
      model_state.emplace(key.substr(kModelPrefix.size()), tensor);
    else if (starts_with(key, kOptimizerPrefix))
      optimizer_state.emplace(key.substr(kOptimizerPrefix.size()), tensor);
    else
      SLAB_FAIL(path, ": unexpected tensor '", key, "' in a checkpoint (keys start with model. or optimizer.)");
  }
  if (optimizer) {
    SLAB_CHECK(!info.optimizer.empty(), path, ": the checkpoint holds no optimizer state, but a '", optimizer->name(),
               "' was given to restore");
    SLAB_CHECK(info.optimizer == optimizer->name(), path, ": the checkpoint holds '", info.optimizer,
               "' optimizer state, not '", optimizer->name(), "'");
  }
  // Check everything before changing anything: a failed load leaves model and optimizer as they were.
  try {
    for (const auto& [name, tensor] : model.state_dict()) {
      auto it = model_state.find(name);
      SLAB_CHECK(it != model_state.end(), "the model's '", name, "' ", tensor.shape(), " is missing");
      SLAB_CHECK(it->second.shape() == tensor.shape(), "'", name, "' has shape ", it->second.shape(),
                 " in the checkpoint but ", tensor.shape(), " in the model");
    }
    model.load_state_dict(model_state, true);
  } catch (const Error& e) {
    SLAB_FAIL(path, ": cannot load into the '", architecture, "' model: ", e.what());
  }
  if (optimizer) {
    try {
      optimizer->load_state(optimizer_state, info.optimizer_metadata);
    } catch (const Error& e) {
      SLAB_FAIL(path, ": cannot restore the optimizer: ", e.what());
    }
  }
  for (auto& [name, module] : model.named_modules())
    if (auto* dropout = dynamic_cast<Dropout*>(module)) {
      const std::string key = kDropoutPrefix + name;
      SLAB_CHECK(contents.metadata.count(key), path, ": no generator state for the Dropout '", name, "'");
      dropout->generator().set_state(get_generator_state(contents.metadata, key));
    }
  return info;
}

}  // namespace slab
