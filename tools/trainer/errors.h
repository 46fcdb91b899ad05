// The programs' two kinds of failure, told apart by their exit code: a UsageError is a bad
// flag or flag value found before any work starts (exit 2); every other slab::Error (a
// missing data file, a checkpoint of another model, a NaN loss) exits 1. Both print
// "error: ..." naming the flag or file and what was expected.
#pragma once
#include <cstdio>
#include <exception>
#include <string>

#include "core/error.h"

namespace slab::tools {

class UsageError : public Error {
 public:
  using Error::Error;
};

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Prints "error: ..." (after what stdout already holds, so the two streams read in order)
// and returns the exit code of that kind of failure.
inline int report_error(const std::exception& error) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", error.what());
  return dynamic_cast<const UsageError*>(&error) != nullptr ? kExitUsage : kExitFailure;
}

}  // namespace slab::tools

#define SLAB_USAGE_CHECK(cond, ...)                                                        \
  do {                                                                                     \
    if (!(cond)) throw ::slab::tools::UsageError(::slab::detail::concat(__VA_ARGS__));    \
  } while (0)
