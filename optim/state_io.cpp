#include "optim/state_io.h"
#include "core/parse_number.h"

#include <algorithm>
#include <cstdio>
#include <set>

namespace slab {

void check_optimizer_parameters(const std::vector<NamedParameter>& parameters, const char* optimizer) {
  std::set<std::string> names;
  for (const NamedParameter& p : parameters) {
    SLAB_CHECK(p.tensor.defined(), optimizer, ": parameter '", p.name, "' is undefined");
    SLAB_CHECK(p.tensor.dtype() == DType::f32 || p.tensor.dtype() == DType::f64, optimizer, ": parameter '", p.name,
               "' has dtype ", p.tensor.dtype(), "; expected float32 or float64");
    SLAB_CHECK(names.insert(p.name).second, optimizer, ": parameter name '", p.name,
               "' appears twice (names key the optimizer state)");
  }
}

void check_cpu_step(const NamedParameter& parameter, const Tensor& gradient, const char* optimizer) {
#ifdef SLAB_WITH_CUDA
  SLAB_CHECK(gradient.device() == parameter.tensor.device(), optimizer, ": gradient of '", parameter.name, "' is on ",
             gradient.device(), ", the parameter on ", parameter.tensor.device());
#else
  SLAB_CHECK(parameter.tensor.device().is_cpu(), optimizer, ": parameter '", parameter.name, "' lives on ",
             parameter.tensor.device(), "; this build steps CPU tensors only");
#endif
  SLAB_CHECK(gradient.shape() == parameter.tensor.shape() && gradient.dtype() == parameter.tensor.dtype(), optimizer,
             ": gradient of '", parameter.name, "' is ", gradient.dtype(), " ", gradient.shape(), ", the parameter ",
             parameter.tensor.dtype(), " ", parameter.tensor.shape());
}

std::string format_scalar(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

void write_noise_seed(Metadata& metadata, const std::string& optimizer, uint64_t seed) {
  metadata["optimizer"] = optimizer;
  metadata["seed"] = std::to_string(seed);
}

void read_noise_seed(const Metadata& metadata, uint64_t& seed, const char* optimizer) {
  auto it = metadata.find("seed");
  if (it == metadata.end()) return;
  seed = parse_uint64(it->second, std::string(optimizer) + ": saved 'seed'");
}

void check_state_keys(const std::vector<NamedParameter>& parameters, const std::map<std::string, Tensor>& tensors,
                      const std::vector<std::string>& slots, const char* optimizer) {
  std::set<std::string> known;
  for (const NamedParameter& p : parameters)
    for (const std::string& slot : slots) known.insert(p.name + "." + slot);
  for (const auto& [key, tensor] : tensors)
    SLAB_CHECK(known.count(key), optimizer, ": the saved state holds '", key,
               "', which matches no parameter of this optimizer (state of another model or optimizer?)");
}

Tensor load_state_slot(const NamedParameter& parameter, const std::map<std::string, Tensor>& tensors,
                       const std::string& slot, const char* optimizer) {
  const std::string key = parameter.name + "." + slot;
  auto it = tensors.find(key);
  if (it == tensors.end()) return Tensor();
  SLAB_CHECK(it->second.shape() == parameter.tensor.shape(), optimizer, ": saved '", key, "' has shape ",
             it->second.shape(), " but the parameter has ", parameter.tensor.shape());
  Tensor state = Tensor::empty(parameter.tensor.shape(), parameter.tensor.dtype(), parameter.tensor.device());
  state.copy_from(it->second);
  return state;
}

std::vector<std::vector<Tensor>> load_required_state_slots(const std::vector<NamedParameter>& parameters,
                                                           const std::map<std::string, Tensor>& tensors,
                                                           const std::vector<std::string>& slots,
                                                           const char* optimizer) {
  check_state_keys(parameters, tensors, slots, optimizer);
  std::vector<std::vector<Tensor>> loaded(slots.size());
  for (size_t s = 0; s < slots.size(); ++s)
    for (const NamedParameter& p : parameters) {
      loaded[s].push_back(load_state_slot(p, tensors, slots[s], optimizer));
      SLAB_CHECK(loaded[s].back().defined(), optimizer, ": the saved state has no '", p.name, ".", slots[s], "'");
    }
  return loaded;
}

NamedTensors state_slot_tensors(const std::vector<NamedParameter>& parameters, const std::vector<std::string>& slots,
                                const std::vector<const std::vector<Tensor>*>& values) {
  SLAB_CHECK(values.size() == slots.size(), "state_slot_tensors: ", slots.size(), " slots but ", values.size(),
             " value vectors");
  NamedTensors out;
  for (size_t i = 0; i < parameters.size(); ++i)
    for (size_t s = 0; s < slots.size(); ++s) out.emplace_back(parameters[i].name + "." + slots[s], (*values[s])[i]);
  return out;
}

}  // namespace slab
