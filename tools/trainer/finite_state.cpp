#include "tools/trainer/finite_state.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/error.h"

namespace slab::tools {
namespace {

template <class T>
int64_t first_non_finite_element(const T* values, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(values[i])) return i;
  return -1;
}

// The description of the tensor's first non-finite element, "" when it has none.
std::string describe_non_finite(const std::string& name, const Tensor& tensor) {
  if (tensor.dtype() != DType::f32 && tensor.dtype() != DType::f64) return "";
  const Tensor host = tensor.device().is_cpu() ? tensor : tensor.to(Device::cpu());  // contiguous (core/tensor.h)
  const int64_t n = host.numel();
  const bool f32 = host.dtype() == DType::f32;
  const int64_t at = f32 ? first_non_finite_element(host.data<float>(), n) : first_non_finite_element(host.data<double>(), n);
  if (at < 0) return "";
  const double value = f32 ? host.data<float>()[at] : host.data<double>()[at];
  std::ostringstream out;
  out << "tensor '" << name << "' holds " << value << " at element " << at << " of " << n;
  return out.str();
}

}  // namespace

std::vector<Tensor> state_after_step(const Module& model, const Optimizer& optimizer) {
  std::vector<Tensor> tensors;
  auto add = [&](const Tensor& t) {
    if (t.defined() && (t.dtype() == DType::f32 || t.dtype() == DType::f64)) tensors.push_back(t);
  };
  for (const auto& [name, tensor] : model.state_dict()) add(tensor);
  for (const NamedParameter& p : optimizer.parameters()) add(p.tensor.grad());
  return tensors;
}

std::string first_non_finite_state(const Module& model, const Optimizer& optimizer) {
  for (const auto& [name, tensor] : model.state_dict())
    if (std::string bad = describe_non_finite("model." + name, tensor); !bad.empty()) return bad;
  for (const NamedParameter& p : optimizer.parameters())
    if (const Tensor g = p.tensor.grad(); g.defined())
      if (std::string bad = describe_non_finite("gradient of " + p.name, g); !bad.empty()) return bad;
  for (const auto& [name, tensor] : optimizer.state_tensors())
    if (std::string bad = describe_non_finite("optimizer." + name, tensor); !bad.empty()) return bad;
  return "";
}

namespace {

[[noreturn]] void fail_diverged(const std::string& what, const std::string& latest_checkpoint,
                                const std::string& run_folder) {
  const bool kept = std::filesystem::exists(latest_checkpoint);
  SLAB_FAIL(what, ", and nothing was written from this state. ",
            kept ? "The last good state is in " + latest_checkpoint + " (not overwritten): continue with --resume " +
                       run_folder + " and a lower --lr."
                 : std::string("No checkpoint was written: start again with a lower --lr."));
}

}  // namespace

void check_state_finite(const Module& model, const Optimizer& optimizer, const Position& position,
                        const std::string& latest_checkpoint, const std::string& run_folder) {
  const std::string bad = first_non_finite_state(model, optimizer);
  if (bad.empty()) return;
  fail_diverged(detail::concat("the training state is not finite after step ", position.step, " (epoch ",
                               position.epoch + 1, ", lr ", optimizer.learning_rate(), "): ", bad,
                               ": training diverged"),
                latest_checkpoint, run_folder);
}

void fail_non_finite_state(const Module& model, const Optimizer& optimizer, const std::string& when,
                           int64_t non_finite, const std::string& latest_checkpoint, const std::string& run_folder) {
  const std::string first = first_non_finite_state(model, optimizer);
  fail_diverged(detail::concat("training diverged ", when, ": after the step ", non_finite,
                               " elements of the weights, gradients and buffers are NaN or infinite",
                               first.empty() ? std::string() : " (the first now: " + first + ")"),
                latest_checkpoint, run_folder);
}

}  // namespace slab::tools
