#include "core/shape.h"

#include <algorithm>

#include "core/error.h"

namespace slab {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t extent : shape) {
    // An overflowing product is undefined behaviour, and would size a buffer wrongly: a
    // shape read from a file ([2^40, 2^40]) must fail here, naming itself.
    SLAB_CHECK(!__builtin_mul_overflow(n, extent, &n), "shape ", shape,
               " has more elements than a 64-bit count can hold");
  }
  return n;
}

int64_t wrap_dim(int64_t dim, int64_t rank, const char* op_name) {
  SLAB_CHECK(dim >= -rank && dim < std::max<int64_t>(rank, 1), op_name, ": dimension ", dim,
             " is out of range for a tensor of rank ", rank);
  return dim < 0 ? dim + rank : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op_name) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t ea = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t eb = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    SLAB_CHECK(ea == eb || ea == 1 || eb == 1, op_name, ": shapes ", a, " and ", b,
               " cannot be broadcast together (dimension ", i, ": ", ea, " vs ", eb, ")");
    out[i] = ea == 1 ? eb : ea;
  }
  return out;
}

std::ostream& operator<<(std::ostream& out, const Shape& shape) {
  detail::write_part(out, shape);
  return out;
}

}  // namespace slab
