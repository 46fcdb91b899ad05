#include "core/parse_number.h"

#include <charconv>
#include <cstdlib>

#include "core/error.h"

namespace slab {

namespace {

// The text as an error message shows it: bytes outside printable ASCII as \xHH, so a NUL or a
// control character in a value cannot cut or garble the message.
std::string shown(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      static const char* const kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

// std::from_chars: no leading space or '+', no locale, and an out-of-range value is
// reported, not clamped.
template <class Integer>
Integer parse_integer(const std::string& text, const std::string& what, const char* kind) {
  Integer value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  SLAB_CHECK(error != std::errc::result_out_of_range, what, " = '", shown(text), "' does not fit in 64 bits");
  SLAB_CHECK(error == std::errc() && stop == end && !text.empty(), what, " = '", shown(text), "' is not ", kind);
  return value;
}

}  // namespace

int64_t parse_int64(const std::string& text, const std::string& what) {
  return parse_integer<int64_t>(text, what, "an integer");
}

uint64_t parse_uint64(const std::string& text, const std::string& what) {
  return parse_integer<uint64_t>(text, what, "an unsigned integer");
}

size_t parse_double_prefix(const std::string& text, double& value) {
  // strtod skips leading white space; a number here starts at the first character.
  if (text.empty() || text[0] == ' ' || text[0] == '\t' || text[0] == '\n') return 0;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return static_cast<size_t>(end - text.c_str());
}

double parse_double(const std::string& text, const std::string& what) {
  double value = 0;
  const size_t used = parse_double_prefix(text, value);
  SLAB_CHECK(used > 0 && used == text.size(), what, " = '", shown(text), "' is not a number");
  return value;
}

}  // namespace slab
