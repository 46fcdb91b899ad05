// The one doctest main shared by every test executable; it turns a run that passed but
// skipped something into exit code 77 (CTest's SKIP_RETURN_CODE, see tests/CMakeLists.txt).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>

#include "tests/skip.h"

namespace slab::testing {
namespace {
std::atomic<bool> skipped{false};
}
void skip(const std::string& reason) {
  std::printf("SLAB_SKIPPED: %s\n", reason.c_str());
  std::fflush(stdout);
  skipped = true;
}
bool any_skipped() { return skipped; }
}  // namespace slab::testing

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit() || result != 0) return result;
  return slab::testing::any_skipped() ? 77 : 0;
}
