#include "core/cpu/matrix_units.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>

#include "core/error.h"

#ifndef SLAB_BF16_VECTOR_KERNELS
#error "SLAB_BF16_VECTOR_KERNELS (0 or 1) comes from CMakeLists.txt: whether the AVX-512 and AMX kernels are built"
#endif

namespace slab::cpu {

namespace {

struct CpuFeatures {
  bool avx512f = false, avx512_bf16 = false, amx_tile = false, amx_bf16 = false;
  bool os_zmm = false, os_tiles = false;
};

uint64_t read_xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

// CPUID leaf 7: subleaf 0 EBX bit 16 AVX512F, EDX bit 22 AMX-BF16, bit 24 AMX-TILE; subleaf 1
// EAX bit 5 AVX512_BF16. XCR0 says which register state the OS saves: bits 5-7 the opmask
// and ZMM registers, bits 17-18 the tile configuration and data.
CpuFeatures detect() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return f;  // no OSXSAVE: no xgetbv
  const uint64_t xcr0 = read_xcr0();
  f.os_zmm = (xcr0 & 0xE0u) == 0xE0u;
  f.os_tiles = (xcr0 & (3u << 17)) == (3u << 17);
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx512f = (b >> 16) & 1u;
  f.amx_bf16 = (d >> 22) & 1u;
  f.amx_tile = (d >> 24) & 1u;
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx512_bf16 = (a >> 5) & 1u;
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}

// Linux keeps the 8 KiB tile data out of a thread's saved state until the process asks for
// it; without the permission the first tile instruction faults.
bool amx_permitted() {
  static const bool permitted = [] {
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return permitted;
}

Bf16Path parse_path(const std::string& name) {
  if (name == "amx") return Bf16Path::amx;
  if (name == "avx512-bf16") return Bf16Path::avx512_bf16;
  if (name == "avx512f") return Bf16Path::avx512f;
  if (name == "float32") return Bf16Path::float32;
  throw Error("SLAB_BF16_PATH=" + name + " is not a bf16 path (expected amx, avx512-bf16, avx512f or float32)");
}

Bf16Path checked(Bf16Path path, const std::string& origin) {
  if (!cpu_supports(path))
    throw Error(origin + ": this CPU cannot run the " + bf16_path_name(path) + " bf16 path");
  return path;
}

Bf16Path choose() {
  if (const char* forced = std::getenv("SLAB_BF16_PATH"); forced != nullptr && *forced != '\0')
    return checked(parse_path(forced), std::string("SLAB_BF16_PATH=") + forced);
  for (Bf16Path path : kBf16Paths)
    if (cpu_supports(path)) return path;
  return Bf16Path::float32;  // unreachable: every CPU runs the float32 link
}

std::once_flag chosen_once;
std::atomic<Bf16Path> chosen{Bf16Path::avx512f};

}  // namespace

const char* bf16_path_name(Bf16Path path) {
  switch (path) {
    case Bf16Path::amx: return "amx";
    case Bf16Path::avx512_bf16: return "avx512-bf16";
    case Bf16Path::avx512f: return "avx512f";
    case Bf16Path::float32: return "float32";
  }
  return "?";
}

bool cpu_supports(Bf16Path path) {
  const CpuFeatures& f = features();
  // A build without the AVX-512 and AMX kernels (CMakeLists.txt) runs only the float32 link.
  const bool zmm = SLAB_BF16_VECTOR_KERNELS && f.avx512f && f.os_zmm;
  switch (path) {
    case Bf16Path::amx: return zmm && f.amx_tile && f.amx_bf16 && f.os_tiles && amx_permitted();
    case Bf16Path::avx512_bf16: return zmm && f.avx512_bf16;
    case Bf16Path::avx512f: return zmm;
    case Bf16Path::float32: return true;
  }
  return false;
}

Bf16Path bf16_path() {
  std::call_once(chosen_once, [] { chosen.store(choose()); });
  return chosen.load();
}

void force_bf16_path(Bf16Path path) {
  checked(path, std::string("forcing the bf16 path ") + bf16_path_name(path));
  std::call_once(chosen_once, [] {});
  chosen.store(path);
}

}  // namespace slab::cpu
