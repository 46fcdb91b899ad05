// The tail every `slab-bench MODE` shares: parse the mode's flags, then run it, and turn
// the outcome into the exit codes the modes document (0: done or --help; 1: an error,
// printed as "error: ..."; 2: a usage error, printed by CLI11 with the flag's name).
#pragma once
#include <CLI/CLI.hpp>
#include <exception>

#include "tools/trainer/errors.h"

namespace slab::tools {

template <class RunMode>
int parse_and_run_bench(CLI::App& app, int argc, char** argv, RunMode&& run_mode) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : kExitUsage;
  }
  try {
    return run_mode();
  } catch (const std::exception& error) {
    return report_error(error);
  }
}

}  // namespace slab::tools
