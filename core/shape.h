// Shapes are vectors of extents; helpers for element counts, dimension wrapping and
// NumPy-style broadcasting.
#pragma once
#include <cstdint>
#include <ostream>
#include <vector>

namespace slab {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);

// Maps a possibly negative dimension index into [0, rank); throws naming the op otherwise.
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op_name);

// The broadcast of two shapes (NumPy rules: align right, extents equal or 1).
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op_name);

std::ostream& operator<<(std::ostream& out, const Shape& shape);

}  // namespace slab
