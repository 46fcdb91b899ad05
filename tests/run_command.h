// Running slab's programs and tools from a test: a command's exit code and output, a value
// printed as key=value, where the built programs are, and the Python environment of
// tools/python-env.sh.
#pragma once
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>

namespace slab::testing {

struct Outcome {
  int code = -1;       // the exit status, -1 when killed by a signal
  std::string output;  // stdout and stderr together
};

inline Outcome run(const std::string& command) {
  Outcome outcome;
  std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  size_t got = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) outcome.output.append(buffer.data(), got);
  const int status = pclose(pipe);
  outcome.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

// The value of `key=` on the output's last key=value line.
inline double value_of(const std::string& output, const std::string& key) {
  const size_t at = output.rfind(key + "=");
  REQUIRE_MESSAGE(at != std::string::npos, "no ", key, "= in the output:\n", output);
  return std::stod(output.substr(at + key.size() + 1));
}

// <build>/bin/<name>, beside this test's <build>/tests/.
inline std::string program(const char* name) {
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  const std::filesystem::path path = self.parent_path().parent_path() / "bin" / name;
  REQUIRE_MESSAGE(std::filesystem::exists(path), "program not built: ", path.string());
  return path.string();
}

// The Python of tools/python-env.sh (Debian's torch with safetensors and onnxruntime from
// PyPI, which CI's set-up makes), or "" when it cannot be made; asked once per process.
inline const std::string& python_env() {
  static const std::string path = [] {
    const Outcome made = run(std::string(SLAB_SOURCE_DIR) + "/tools/python-env.sh 2>/dev/null");
    if (made.code != 0) return std::string();
    std::string line = made.output.substr(0, made.output.find('\n'));
    return std::filesystem::exists(line) ? line : std::string();
  }();
  return path;
}

}  // namespace slab::testing
