// Reductions (sum, mean, max, argmax) and the pair sum_to / broadcast_to that carries
// gradients across broadcasting.
#include <algorithm>

#include "core/ops_common.h"
#include "core/trace.h"

namespace slab {

using detail::check_float;
using detail::split_at;

namespace {

// Sorted, wrapped, de-duplicated dimensions; empty means all.
std::vector<int64_t> normalise_dims(const std::vector<int64_t>& dims, int64_t rank, const char* name) {
  std::vector<int64_t> result;
  if (dims.empty()) {
    for (int64_t d = 0; d < rank; ++d) result.push_back(d);
    return result;
  }
  for (int64_t d : dims) result.push_back(wrap_dim(d, rank, name));
  // A 0-dimensional tensor has nothing to reduce over: "dimension 0" of a scalar is the
  // scalar itself (as in PyTorch), so reducing it is the identity.
  if (rank == 0) return {};
  std::sort(result.begin(), result.end());
  SLAB_CHECK(std::adjacent_find(result.begin(), result.end()) == result.end(), name, ": a dimension is repeated in ",
             dims, " for a tensor of rank ", rank);
  return result;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    const bool reduced = std::binary_search(dims.begin(), dims.end(), d);
    if (!reduced) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// The sum kernel applied one dimension at a time, highest first (no history).
Tensor sum_raw(const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor current = x;
  Shape shape = x.shape();
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) {
    const auto split = split_at(shape, *it);
    shape[*it] = 1;
    Tensor out = Tensor::empty(shape, x.dtype(), x.device());
    SLAB_KERNEL(x.device(), sum_dim, current, split.outer, split.extent, split.inner, out);
    current = out;
  }
  if (dims.empty()) current = current.clone();
  return current;  // keepdim shape
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_float(x, "sum");
  const std::vector<int64_t> dims = normalise_dims(dims_in, x.dim(), "sum");
  Tensor out;
  {
    NoGradGuard raw;
    out = sum_raw(x, dims).reshape(reduced_shape(x.shape(), dims, keepdim));
  }
  record_op(out, "sum", {x}, [shape = x.shape(), kept = reduced_shape(x.shape(), dims, true)](const Tensor& g) {
    return std::vector<Tensor>{broadcast_to(g.reshape(kept), shape)};
  });
  return out;
}

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_float(x, "mean");
  const std::vector<int64_t> dims = normalise_dims(dims_in, x.dim(), "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= x.shape()[d];
  SLAB_CHECK(count > 0, "mean: reducing over an empty extent of shape ", x.shape());
  Tensor out = mul(sum(x, dims, keepdim), 1.0 / static_cast<double>(count));
  if (trace::active()) {  // attributes: keepdim (0/1), then the dimensions
    std::vector<int64_t> attributes{keepdim ? 1 : 0};
    attributes.insert(attributes.end(), dims.begin(), dims.end());
    trace::record("mean", {x}, out, attributes);
  }
  return out;
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

MaxResult max(const Tensor& x, int64_t dim_in, bool keepdim) {
  check_float(x, "max");
  const int64_t dim = wrap_dim(dim_in, x.dim(), "max");
  if (x.dim() == 0) return max(x.reshape({1}), 0, false);  // a scalar is its own maximum, at index 0
  SLAB_CHECK(x.shape()[dim] > 0, "max: dimension ", dim, " of shape ", x.shape(), " is empty");
  const auto split = split_at(x.shape(), dim);
  const Shape out_shape = reduced_shape(x.shape(), {dim}, keepdim);
  MaxResult result{Tensor::empty(out_shape, x.dtype(), x.device()), Tensor::empty(out_shape, DType::i64, x.device())};
  SLAB_KERNEL(x.device(), max_dim, x, split.outer, split.extent, split.inner, result.values, result.indices);
  record_op(result.values, "max", {x}, [indices = result.indices, split, shape = x.shape()](const Tensor& g) {
    Tensor grad = Tensor::empty(shape, g.dtype(), g.device());
    SLAB_KERNEL(g.device(), scatter_dim, g, indices, split.outer, split.extent, split.inner, grad);
    return std::vector<Tensor>{grad};
  });
  return result;
}

Tensor max(const Tensor& x) { return max(x.reshape({-1}), 0, false).values; }

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard no_history;
  return max(x, dim, keepdim).indices;
}

Tensor count_non_finite(const std::vector<Tensor>& tensors, Device device) {
  NoGradGuard no_history;
  Tensor count = zeros({1}, {DType::i64, device, false});
  for (const Tensor& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    check_float(t, "count_non_finite");
    SLAB_CHECK(t.device() == device, "count_non_finite: a tensor on ", t.device(), " among tensors on ", device);
    SLAB_KERNEL(device, count_non_finite, t, count);
  }
  return count;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  SLAB_CHECK(lead >= 0, "sum_to: cannot reduce shape ", x.shape(), " to the larger rank of ", shape);
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) dims.push_back(d);
    else if (shape[d - lead] == 1 && x.shape()[d] != 1) dims.push_back(d);
    else SLAB_CHECK(shape[d - lead] == x.shape()[d], "sum_to: shape ", x.shape(), " does not broadcast from ", shape);
  }
  return reshape(sum(x, dims, true), shape);
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_float(x, "broadcast_to");
  if (x.shape() == shape) return x;
  SLAB_CHECK(broadcast_shapes(x.shape(), shape, "broadcast_to") == shape, "broadcast_to: shape ", x.shape(),
             " cannot be broadcast to ", shape);
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  SLAB_KERNEL(x.device(), expand, x, out);
  record_op(out, "broadcast_to", {x}, [source = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, source)};
  });
  return out;
}

}  // namespace slab
