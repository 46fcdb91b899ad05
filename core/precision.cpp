#include "core/precision.h"

#include <atomic>

#include "core/cpu/matrix_units.h"
#include "core/error.h"

namespace slab {

namespace {
std::atomic<Precision> current{Precision::fp32};
}

void set_matmul_precision(Precision precision) {
  if (precision == Precision::bf16) cpu::bf16_path();  // a CPU without any bf16 path says so now
  current.store(precision);
}

Precision matmul_precision() { return current.load(std::memory_order_relaxed); }

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::fp32: return "fp32";
    case Precision::bf16: return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::fp32;
  if (text == "bf16") return Precision::bf16;
  throw Error("precision '" + text + "': expected fp32 or bf16");
}

std::string precision_description(bool gpu) {
  const Precision p = matmul_precision();
  if (p == Precision::fp32) return "fp32";
  if (gpu) return "bf16 (cuda: rounded inputs on TF32 tensor cores)";
  return std::string("bf16 (") + cpu::bf16_path_name(cpu::bf16_path()) + ")";
}

}  // namespace slab
