// Where a tensor's storage lives. The CUDA backend is compiled only when nvcc and cuDNN
// are found (SLAB_WITH_CUDA); without it, asking for a CUDA tensor is a clear error.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>

namespace slab {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

inline std::ostream& operator<<(std::ostream& out, const Device& d) { return out << d.str(); }

// Parses "cpu", "cuda" or "cuda:N"; throws on anything else.
Device parse_device(const std::string& text);

// True when this build has the CUDA backend and a GPU is visible.
bool cuda_available();

}  // namespace slab
