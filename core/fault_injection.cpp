#include "core/fault_injection.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace slab {
namespace {

struct Fault {
  std::string point;  // empty: no fault armed
  long long at = 0;   // the arrival that dies
  long long arrivals = 0;
};

// Parsed once: "<point>:<n>" with n >= 1; anything else arms nothing.
Fault& armed_fault() {
  static Fault fault = [] {
    Fault f;
    const char* text = std::getenv("SLAB_FAULT_INJECTION");
    if (text == nullptr) return f;
    const char* colon = std::strrchr(text, ':');
    if (colon == nullptr) return f;
    char* end = nullptr;
    const long long n = std::strtoll(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || n < 1) return f;
    f.point.assign(text, colon);
    f.at = n;
    return f;
  }();
  return fault;
}

}  // namespace

bool fault_injection_armed(const char* point) {
  const Fault& fault = armed_fault();
  return !fault.point.empty() && fault.point == point;
}

void fault_injection_point(const char* point) {
  if (!fault_injection_armed(point)) return;
  Fault& fault = armed_fault();
  if (++fault.arrivals < fault.at) return;
  // SIGKILL cannot be caught: no handler, no atexit, no stdio flush runs, as in `kill -9`.
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);  // not reached
}

}  // namespace slab
