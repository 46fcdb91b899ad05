#include "models/factory.h"

#include <algorithm>
#include <charconv>
#include <mutex>

namespace slab {

namespace {

// The registry: registration order is kept (the listing and model_names() follow it).
// Registration normally happens at start-up, lookups while training; a mutex keeps a
// registration from another thread from tearing a lookup.
class Registry {
 public:
  Registry() {
    for (RegisteredModel& model : detail::builtin_models()) add(std::move(model));
  }

  void add(RegisteredModel model) {
    SLAB_CHECK(!model.pattern.empty() && model.pattern.front() != '<', "register_model: the pattern '", model.pattern,
               "' must start with the name's fixed part (e.g. 'my-net' or 'my-net-<width>')");
    SLAB_CHECK(model.builder != nullptr, "register_model('", model.pattern, "'): the builder is empty");
    std::lock_guard<std::mutex> lock(mutex_);
    for (const RegisteredModel& other : models_)
      SLAB_CHECK(other.pattern != model.pattern, "register_model: '", model.pattern,
                 "' is registered already (", other.description, ")");
    models_.push_back(std::move(model));
  }

  std::vector<RegisteredModel> models() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return models_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<RegisteredModel> models_;
};

Registry& registry() {
  static Registry instance;
  return instance;
}

std::string joined_names() {
  std::string text;
  for (const std::string& name : model_names()) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace

void register_model(const std::string& pattern, const std::string& description, ModelBuilder builder) {
  registry().add({pattern, description, std::move(builder)});
}

std::vector<RegisteredModel> registered_models() { return registry().models(); }

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const RegisteredModel& model : registered_models()) names.push_back(model.pattern);
  return names;
}

std::string model_help() {
  // Consecutive entries with one description share a line; descriptions start in one
  // column, or on the next line under it when the names are longer.
  constexpr size_t kColumn = 28;
  const std::vector<RegisteredModel> models = registered_models();
  std::string text;
  for (size_t i = 0; i < models.size();) {
    std::string names = models[i].pattern;
    size_t j = i + 1;
    for (; j < models.size() && models[j].description == models[i].description; ++j) names += ", " + models[j].pattern;
    text += "  " + names;
    if (names.size() + 4 <= kColumn) text += std::string(kColumn - 2 - names.size(), ' ');
    else text += "\n" + std::string(kColumn, ' ');
    text += models[i].description + "\n";
    i = j;
  }
  return text;
}

std::optional<std::vector<int64_t>> model_name_numbers(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return std::nullopt;
  std::vector<int64_t> numbers;
  size_t begin = prefix.size();
  while (begin <= name.size()) {
    size_t end = name.find('-', begin);
    if (end == std::string::npos) end = name.size();
    int64_t value = 0;
    const auto [ptr, error] = std::from_chars(name.data() + begin, name.data() + end, value);
    if (error != std::errc() || ptr != name.data() + end || value <= 0) return std::nullopt;
    numbers.push_back(value);
    begin = end + 1;
  }
  return numbers;
}

std::shared_ptr<Module> make_model(const std::string& name, int64_t num_classes, int64_t in_channels, uint64_t seed) {
  SLAB_CHECK(num_classes > 0, "make_model('", name, "'): num_classes must be positive, got ", num_classes);
  SLAB_CHECK(in_channels > 0, "make_model('", name, "'): in_channels must be positive, got ", in_channels);
  const std::vector<RegisteredModel> models = registered_models();
  for (const RegisteredModel& model : models)
    if (model.is_exact() && model.pattern == name) return model.builder(name, num_classes, in_channels, seed);
  std::vector<const RegisteredModel*> prefixed;
  for (const RegisteredModel& model : models)
    if (!model.is_exact() && name.rfind(model.prefix(), 0) == 0) prefixed.push_back(&model);
  std::stable_sort(prefixed.begin(), prefixed.end(), [](const RegisteredModel* a, const RegisteredModel* b) {
    return a->prefix().size() > b->prefix().size();
  });
  for (const RegisteredModel* model : prefixed)
    if (std::shared_ptr<Module> built = model->builder(name, num_classes, in_channels, seed)) return built;
  SLAB_FAIL("unknown model '", name, "'; known models: ", joined_names());
}

}  // namespace slab
