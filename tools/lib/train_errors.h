// The programs' two kinds of failure, told apart by their exit code: a UsageError is a bad
// flag or flag value found before any work starts (exit 2); every other slab::Error (a
// missing data file, a checkpoint of another model, a NaN loss) exits 1. Both print
// "error: ..." naming the flag or file and what was expected.
#pragma once
#include <string>

#include "core/error.h"

namespace slab::tools {

class UsageError : public Error {
 public:
  using Error::Error;
};

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;  // SIGINT, after the checkpoint was written

}  // namespace slab::tools

#define SLAB_USAGE_CHECK(cond, ...)                                                        \
  do {                                                                                     \
    if (!(cond)) throw ::slab::tools::UsageError(::slab::detail::concat(__VA_ARGS__));    \
  } while (0)
