#include "bayes/samples.h"

#include <set>

#include "core/parse_number.h"
#include "layers/shrink.h"
#include "optim/checkpoint.h"

namespace slab {

namespace {

std::string prior_key(const std::string& name, const char* slot) { return "prior." + name + slot; }

// Throws if any weight under a mask of `state` is not exactly zero.
void check_masked_zero(const std::string& name, const Tensor& weight, const PriorState& state) {
  if (!state.has_masks()) return;
  const std::vector<double> w = weight.to_vector();
  const PriorLayout& l = state.layout;
  for (int64_t row = 0; row < l.rows; ++row)
    for (int64_t column = 0; column < l.columns; ++column) {
      if (state.row_kept(row) && state.column_kept(column)) continue;
      for (int64_t k = 0; k < l.inner; ++k) {
        const double x = w[static_cast<size_t>((row * l.columns + column) * l.inner + k)];
        SLAB_CHECK(x == 0.0, "posterior sample: '", name, "' row ", row, " column ", column,
                   " is pruned but holds ", x);
      }
    }
}

int64_t parse_int(const Metadata& metadata, const std::string& key, const std::string& path) {
  auto it = metadata.find(key);
  SLAB_CHECK(it != metadata.end(), "posterior sample '", path, "': metadata has no '", key, "'");
  return parse_int64(it->second, "posterior sample '" + path + "': '" + key + "'");
}

}  // namespace

SampleInfo sample_info(const Metadata& metadata, const std::string& path) {
  auto format = metadata.find("slab.format");
  SLAB_CHECK(format != metadata.end() && format->second == kSampleFormat, "'", path,
             "' is not a slab posterior sample (metadata slab.format is ",
             format == metadata.end() ? std::string("missing") : "'" + format->second + "'", ")");
  auto optimizer = metadata.find("slab.optimizer");
  SLAB_CHECK(optimizer != metadata.end(), "posterior sample '", path, "': metadata has no 'slab.optimizer'");
  SampleInfo info;
  info.epoch = parse_int(metadata, "slab.epoch", path);
  info.step = parse_int(metadata, "slab.step", path);
  info.cycle = parse_int(metadata, "slab.cycle", path);
  info.optimizer = optimizer->second;
  for (const auto& [key, value] : metadata)
    if (key.rfind("slab.", 0) != 0) info.extra[key] = value;
  return info;
}

int64_t cycle_of_epoch(int64_t epoch, int64_t batches_per_epoch, int64_t epochs, int64_t cycles) {
  SLAB_CHECK(batches_per_epoch > 0 && epochs > 0 && cycles > 0 && cycles <= epochs * batches_per_epoch,
             "sample schedule: need batches_per_epoch, epochs and cycles > 0 (got ", batches_per_epoch, ", ", epochs,
             ", ", cycles, ")");
  const int64_t total = epochs * batches_per_epoch;
  const int64_t length = (total + cycles - 1) / cycles;
  const int64_t last_iteration = std::min(epoch + 1, epochs) * batches_per_epoch - 1;
  return last_iteration / length;
}

bool is_sample_epoch(int64_t epoch, int64_t batches_per_epoch, int64_t epochs, int64_t cycles,
                     int64_t samples_per_cycle, int64_t first_sample_epoch) {
  SLAB_CHECK(epoch >= 0 && epoch < epochs, "sample schedule: epoch ", epoch, " is outside [0, ", epochs, ")");
  SLAB_CHECK(samples_per_cycle >= 0, "sample schedule: samples per cycle must be >= 0, got ", samples_per_cycle);
  SLAB_CHECK(first_sample_epoch >= 0, "sample schedule: the first sample epoch must be >= 0, got ", first_sample_epoch);
  if (samples_per_cycle == 0 || epoch < first_sample_epoch) return false;
  // Among the last S epochs of its cycle: the epoch S later is in another cycle or beyond the run.
  const int64_t later = epoch + samples_per_cycle;
  if (later >= epochs) return true;
  return cycle_of_epoch(later, batches_per_epoch, epochs, cycles) != cycle_of_epoch(epoch, batches_per_epoch, epochs, cycles);
}

void save_posterior_sample(const std::string& path, Module& model, const Optimizer* optimizer, const SampleInfo& info) {
  NamedTensors tensors = model.state_dict();
  std::set<std::string> keys;
  for (const auto& [name, tensor] : tensors) keys.insert(name);
  if (const auto* holder = dynamic_cast<const PriorStateHolder*>(optimizer)) {
    const std::vector<PriorState>& states = holder->prior_states();
    const auto& parameters = optimizer->parameters();
    for (size_t i = 0; i < parameters.size(); ++i) {
      const PriorState& state = states[i];
      SLAB_CHECK(keys.count(parameters[i].name), "posterior sample: the optimizer's parameter '", parameters[i].name,
                 "' is not in the model's state dict");
      check_masked_zero(parameters[i].name, parameters[i].tensor, state);
      auto as_tensor = [](const std::vector<uint8_t>& mask) {
        return from_vector_f32(std::vector<float>(mask.begin(), mask.end()), {static_cast<int64_t>(mask.size())});
      };
      if (!state.keep_rows.empty()) tensors.emplace_back(prior_key(parameters[i].name, ".keep_rows"), as_tensor(state.keep_rows));
      if (!state.keep_columns.empty())
        tensors.emplace_back(prior_key(parameters[i].name, ".keep_columns"), as_tensor(state.keep_columns));
    }
  }
  Metadata metadata = info.extra;
  metadata["slab.format"] = kSampleFormat;
  metadata["slab.epoch"] = std::to_string(info.epoch);
  metadata["slab.step"] = std::to_string(info.step);
  metadata["slab.cycle"] = std::to_string(info.cycle);
  metadata["slab.optimizer"] = optimizer ? optimizer->name() : info.optimizer;
  if (!model.shrink_history().empty()) {  // the sample's own architecture
    metadata[kSchemaKey] = kShrunkSchema;
    metadata[kShrinksKey] = shrink_history_text(model.shrink_history());
  }
  save_safetensors(path, tensors, metadata);
}

LoadedSample load_posterior_sample(const std::string& path, Module& model) {
  const SafetensorsContents file = load_safetensors(path);
  check_all_finite(file, path);
  LoadedSample sample;
  sample.info = sample_info(file.metadata, path);
  std::map<std::string, Tensor> weights;
  for (const auto& [name, tensor] : file.tensors) {
    if (name.rfind("prior.", 0) == 0) continue;
    weights[name] = tensor;
  }
  rebuild_shrunk_architecture(file.metadata, path, model, nullptr);
  model.load_state_dict(weights, true);
  for (const NamedParameter& p : model.named_parameters()) {
    PriorState state;
    state.layout = PriorLayout::of(p.tensor.shape(), p.grouping);
    auto read = [&](const char* slot, int64_t expected, std::vector<uint8_t>& mask) {
      auto it = file.tensors.find(prior_key(p.name, slot));
      if (it == file.tensors.end()) return;
      SLAB_CHECK(it->second.numel() == expected, "posterior sample '", path, "': '", it->first, "' holds ",
                 it->second.numel(), " values, expected ", expected);
      for (double v : it->second.to_vector()) {
        SLAB_CHECK(v == 0.0 || v == 1.0, "posterior sample '", path, "': '", it->first, "' holds ", v, ", not 0 or 1");
        mask.push_back(static_cast<uint8_t>(v));
      }
    };
    read(".keep_rows", state.layout.rows, state.keep_rows);
    read(".keep_columns", state.layout.columns, state.keep_columns);
    if (!state.has_masks()) continue;
    check_masked_zero(p.name, p.tensor, state);
    sample.masks[p.name] = {state.keep_rows, state.keep_columns};
  }
  return sample;
}

}  // namespace slab
