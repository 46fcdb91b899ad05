// What the libFuzzer targets of fuzz/ share (docs/reliability.md#fuzzing): a scratch folder
// per process for the files the readers under test open, and the rule that decides a
// finding. A reader may refuse any input, but only with slab::Error (the clear message that
// names the file and the problem); any other exception (std::bad_alloc, std::out_of_range,
// a JSON library's exception) escapes, and libFuzzer reports it as a crash, as it does every
// sanitizer report, a timeout and an allocation above -malloc_limit_mb.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/error.h"

namespace slab::fuzz {

// /tmp/slab-fuzz-<pid>/<name> (the folder is made on first use).
inline std::string scratch_path(const std::string& name) {
  static const std::filesystem::path root = [] {
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("slab-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(path);
    return path;
  }();
  return (root / name).string();
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `body`; a slab::Error is the expected refusal of a bad input.
template <class Body>
void refused_or_accepted(Body body) {
  try {
    body();
  } catch (const slab::Error&) {
  }
}

// SLAB_FUZZ_WRITE_SEEDS=<folder>: the target writes its seed corpus there and exits
// (fuzz/corpus/<target>/ was made so).
inline const char* seed_folder() { return std::getenv("SLAB_FUZZ_WRITE_SEEDS"); }

inline void write_seed(const std::string& name, std::string_view bytes) {
  std::filesystem::create_directories(seed_folder());
  write_file((std::filesystem::path(seed_folder()) / name).string(), bytes);
}

}  // namespace slab::fuzz
