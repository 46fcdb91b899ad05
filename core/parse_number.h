// Numbers read from text that a user or a file supplies (flags, checkpoint metadata, CSV
// columns): the whole text must be the number, and anything else is an slab::Error that
// names `what` and the text. Never a bare std::invalid_argument or std::out_of_range, as
// from std::stoll or std::stod.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace slab {

// Decimal digits with an optional leading '-', within int64.
int64_t parse_int64(const std::string& text, const std::string& what);
// Decimal digits, within uint64.
uint64_t parse_uint64(const std::string& text, const std::string& what);
// A decimal or hexadecimal (printf's %a, which checkpoints use to round-trip every bit)
// floating-point number; "inf" and "nan" are numbers too, so callers check the range.
double parse_double(const std::string& text, const std::string& what);
// The number at the start of `text` (for values with a unit, such as 512M): sets `value`
// and returns how many characters it took, 0 when `text` does not start with a number.
size_t parse_double_prefix(const std::string& text, double& value);

}  // namespace slab
