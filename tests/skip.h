// Visible skips. A test case that cannot run here (no GPU, a data folder absent) calls
// slab::testing::skip("why"): it prints "SLAB_SKIPPED: why" and the executable, if every
// case that did run passed, exits with 77, which CTest reports as "Skipped" (never as a
// pass, and a failure elsewhere in the file still fails the file).
#pragma once
#include <string>

namespace slab::testing {

void skip(const std::string& reason);
bool any_skipped();

}  // namespace slab::testing
