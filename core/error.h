// Errors are exceptions whose message names the bad value and what was expected.
// SLAB_CHECK(cond, parts...) concatenates its parts with operator<< so a message can name
// shapes, dtypes and numbers directly: SLAB_CHECK(a == b, "matmul: ", x.shape(), " vs ", y.shape()).
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace slab {

// The one exception type of the library. Programs catch it and print "error: <what()>".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Shapes (std::vector<int64_t>) print as [2, 3]; everything else through its operator<<.
inline void write_part(std::ostream& out, const std::vector<int64_t>& shape) {
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
}
template <typename T>
void write_part(std::ostream& out, const T& part) {
  out << part;
}

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (write_part(out, parts), ...);
  return out.str();
}
}  // namespace detail

}  // namespace slab

#define SLAB_CHECK(cond, ...)                                              \
  do {                                                                     \
    if (!(cond)) throw ::slab::Error(::slab::detail::concat(__VA_ARGS__)); \
  } while (0)

#define SLAB_FAIL(...) throw ::slab::Error(::slab::detail::concat(__VA_ARGS__))
