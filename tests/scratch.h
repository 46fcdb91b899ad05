// Scratch folders for tests that write run folders and checkpoints: every folder of this
// process lives under one root in the temporary directory, named after the test and the
// process id (so parallel test processes never collide), and the root is removed when the
// process exits.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace slab::testing {

// The process's scratch root, e.g. /tmp/slab-test-resume-12345; `test_name` is fixed by the
// first call.
inline std::filesystem::path scratch_root(const std::string& test_name) {
  struct Root {
    std::filesystem::path path;
    ~Root() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Root root{std::filesystem::temp_directory_path() /
                         ("slab-test-" + test_name + "-" + std::to_string(getpid()))};
  return root.path;
}

// An empty (removed if present) path under the root, whose parent folder exists.
inline std::string scratch_folder(const std::string& test_name, const std::string& name) {
  const std::filesystem::path path = scratch_root(test_name) / name;
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path.parent_path());
  return path.string();
}

}  // namespace slab::testing
