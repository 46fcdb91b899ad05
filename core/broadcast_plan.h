// The iteration space of a broadcasting elementwise kernel, planned on the host for both
// backends (core/cpu/elementwise.cpp walks it directly, core/cuda/elementwise.cu copies it
// into a fixed-size index for the device). Output dimensions of extent 1 carry no
// iteration and are dropped; neighbours are merged wherever every operand allows (its
// stride in the outer one is its stride in the inner one times the inner extent), so
// [n,c,h,w] + [1,c,1,1] becomes [n, c, h*w] and the innermost loop is long.
#pragma once
#include <cstdint>
#include <vector>

#include "core/shape.h"

namespace slab {

struct BroadcastPlan {
  std::vector<int64_t> extents;               // merged output dimensions, outermost first; never empty
  std::vector<std::vector<int64_t>> strides;  // per operand, its stride in each (0 where it broadcasts)
};

// Every operand's shape must broadcast to out_shape. A single element is one dimension of
// extent 1 with stride 0.
BroadcastPlan plan_broadcast(const Shape& out_shape, const std::vector<const Shape*>& operands);

}  // namespace slab
