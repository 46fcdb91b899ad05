// The golden-value generator shared with tests/golden/make_golden_models.py: weights and
// inputs of the golden model tests are not stored but generated on both sides from a hash
// of the tensor's name. value[i] = offset + scale * (k_i - 2^23) / 2^23 with
// k_i = splitmix64(fnv1a64(name) ^ i) >> 40 and scale a power of two, so every value is
// exact in float32 and the two languages agree bit for bit.
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <string>

#include "core/random.h"
#include "core/tensor.h"
#include "layers/module.h"

namespace slab::golden {

inline uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char byte : text) {
    h ^= byte;
    h *= 0x100000001B3ull;
  }
  return h;
}

inline Tensor values(const std::string& name, const Shape& shape, double scale = 1.0, double offset = 0.0,
                     DType dtype = DType::f32) {
  Tensor t = Tensor::empty(shape, DType::f32);
  float* data = t.data<float>();
  const uint64_t seed = fnv1a64(name);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t k = static_cast<int64_t>(slab::splitmix64(seed ^ static_cast<uint64_t>(i)) >> 40) - (int64_t{1} << 23);
    data[i] = static_cast<float>(offset + scale * (static_cast<double>(k) / static_cast<double>(1 << 23)));
  }
  return dtype == DType::f32 ? t : t.to(dtype);
}

inline bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The golden state of a module, by the script's golden_state() rule.
inline std::map<std::string, Tensor> state(const Module& module) {
  std::map<std::string, Tensor> out;
  for (const auto& [key, tensor] : module.state_dict()) {
    const Shape& shape = tensor.shape();
    if (ends_with(key, "num_batches_tracked")) {
      Tensor count = zeros({}, {DType::i64});
      count.data<int64_t>()[0] = 5;
      out[key] = count;
    } else if (ends_with(key, "running_mean")) {
      out[key] = values(key, shape, 0.125);
    } else if (ends_with(key, "running_var")) {
      out[key] = values(key, shape, 0.25, 1.0);
    } else if (shape.size() >= 2) {
      // nearbyint rounds half to even, as Python's round().
      int64_t fan_in = 1;
      for (size_t d = 1; d < shape.size(); ++d) fan_in *= shape[d];
      const double scale = std::exp2(std::nearbyint(std::log2(std::sqrt(6.0 / static_cast<double>(fan_in)))));
      out[key] = values(key, shape, scale);
    } else if (ends_with(key, "weight")) {
      out[key] = values(key, shape, 0.25, 1.0);
    } else {
      out[key] = values(key, shape, 0.125);
    }
  }
  return out;
}

}  // namespace slab::golden
