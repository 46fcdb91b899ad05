#include "core/broadcast_plan.h"

namespace slab {

namespace {

// Strides of `shape` (right-aligned into `rank` dimensions) with 0 where it broadcasts.
std::vector<int64_t> broadcast_strides(const Shape& shape, size_t rank) {
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const size_t d = rank - 1 - i;
    const int64_t extent = shape[shape.size() - 1 - i];
    strides[d] = extent == 1 ? 0 : stride;
    stride *= extent;
  }
  return strides;
}

}  // namespace

BroadcastPlan plan_broadcast(const Shape& out_shape, const std::vector<const Shape*>& operands) {
  const size_t rank = out_shape.size();
  BroadcastPlan plan;
  std::vector<std::vector<int64_t>> strides;
  for (const Shape* s : operands) strides.push_back(broadcast_strides(*s, rank));
  for (size_t d = 0; d < rank; ++d) {
    if (out_shape[d] == 1) continue;  // extent-1 dimensions carry no iteration
    bool merge = !plan.extents.empty();
    for (size_t k = 0; merge && k < strides.size(); ++k)
      merge = plan.strides[k].back() == strides[k][d] * out_shape[d];
    if (merge) {
      plan.extents.back() *= out_shape[d];
      for (size_t k = 0; k < strides.size(); ++k) plan.strides[k].back() = strides[k][d];
    } else {
      plan.extents.push_back(out_shape[d]);
      if (plan.strides.empty()) plan.strides.resize(strides.size());
      for (size_t k = 0; k < strides.size(); ++k) plan.strides[k].push_back(strides[k][d]);
    }
  }
  if (plan.extents.empty()) {  // a single element
    plan.extents.push_back(1);
    plan.strides.assign(operands.size(), std::vector<int64_t>{0});
  }
  return plan;
}

}  // namespace slab
