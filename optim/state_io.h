// Helpers shared by optimizers for checking their parameters and saving / restoring
// per-parameter state slots ("<param>.<slot>" tensors, scalars as exact decimal strings).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace slab {

// Parameter names must be unique (they key the state) and tensors float32/float64.
void check_optimizer_parameters(const std::vector<NamedParameter>& parameters, const char* optimizer);

// The gradient must match the parameter (shape, dtype, device). CPU steps, and CUDA steps in
// a build with the CUDA backend (optim/cuda/optimizer_kernels.h).
void check_cpu_step(const NamedParameter& parameter, const Tensor& gradient, const char* optimizer);

// Round-trip decimal text of a double (17 significant digits), for the metadata a state
// records for the reader (hyperparameters are not restored from it).
std::string format_scalar(double value);

// The noisy optimizers' metadata: their name and the seed that keys their Philox noise, so a
// resumed run draws the same noise. read_noise_seed leaves `seed` as it is when the state
// has none, and names the key when the text is not an unsigned integer.
void write_noise_seed(Metadata& metadata, const std::string& optimizer, uint64_t seed);
void read_noise_seed(const Metadata& metadata, uint64_t& seed, const char* optimizer);

// Every tensor key must be "<parameter>.<slot>" for a known parameter and slot.
void check_state_keys(const std::vector<NamedParameter>& parameters, const std::map<std::string, Tensor>& tensors,
                      const std::vector<std::string>& slots, const char* optimizer);

// The slot's saved tensor copied into a fresh tensor of the parameter's shape, dtype and
// device, or an undefined tensor when the state does not hold it (a parameter that had no
// step yet). A shape mismatch is an Error naming the key.
Tensor load_state_slot(const NamedParameter& parameter, const std::map<std::string, Tensor>& tensors,
                       const std::string& slot, const char* optimizer);

// The state of slots held as one vector per slot (values[s][i] for parameter i), named
// "<parameter>.<slot>", parameter by parameter: the inverse of load_required_state_slots.
NamedTensors state_slot_tensors(const std::vector<NamedParameter>& parameters, const std::vector<std::string>& slots,
                                const std::vector<const std::vector<Tensor>*>& values);

// For optimizers whose every parameter always has every slot (their state exists from the
// constructor on): checks the keys, then reads every slot of every parameter before the
// caller changes anything, so a bad checkpoint leaves the optimizer as it was. Returns
// loaded[slot][parameter]; a missing slot is an Error naming "<parameter>.<slot>".
std::vector<std::vector<Tensor>> load_required_state_slots(const std::vector<NamedParameter>& parameters,
                                                           const std::map<std::string, Tensor>& tensors,
                                                           const std::vector<std::string>& slots,
                                                           const char* optimizer);

}  // namespace slab
