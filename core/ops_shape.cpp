// Shape ops. reshape and flatten are free views; transpose, permute, cat and narrow copy
// (docs/architecture.md#tensor-views: views only where they are free).
#include <numeric>

#include "core/ops_common.h"
#include "core/trace.h"

namespace slab {

using detail::split_at;

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor out = x.reshape(shape);
  if (trace::active()) trace::record("reshape", {x}, out, std::vector<int64_t>(shape.begin(), shape.end()));
  return out;
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return x.reshape({1});
  const int64_t start = wrap_dim(start_dim, x.dim(), "flatten");
  const int64_t end = wrap_dim(end_dim, x.dim(), "flatten");
  SLAB_CHECK(start <= end, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim, " for shape ", x.shape());
  Shape shape;
  for (int64_t d = 0; d < start; ++d) shape.push_back(x.shape()[d]);
  int64_t merged = 1;
  for (int64_t d = start; d <= end; ++d) merged *= x.shape()[d];
  shape.push_back(merged);
  for (int64_t d = end + 1; d < x.dim(); ++d) shape.push_back(x.shape()[d]);
  Tensor out = x.reshape(shape);
  if (trace::active()) trace::record("flatten", {x}, out, {start, end});  // attributes: start and end dimension
  return out;
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims_in) {
  SLAB_CHECK(static_cast<int64_t>(dims_in.size()) == x.dim(), "permute: ", dims_in.size(),
             " dimensions given for a tensor of shape ", x.shape());
  std::vector<int64_t> dims, inverse(dims_in.size(), -1);
  Shape shape;
  for (size_t d = 0; d < dims_in.size(); ++d) {
    const int64_t source = wrap_dim(dims_in[d], x.dim(), "permute");
    SLAB_CHECK(inverse[source] < 0, "permute: dimension ", source, " appears twice");
    inverse[source] = static_cast<int64_t>(d);
    dims.push_back(source);
    shape.push_back(x.shape()[source]);
  }
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  SLAB_KERNEL(x.device(), permute, x, dims, out);
  record_op(out, "permute", {x}, [inverse](const Tensor& g) { return std::vector<Tensor>{permute(g, inverse)}; });
  return out;
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  std::vector<int64_t> dims(static_cast<size_t>(x.dim()));
  std::iota(dims.begin(), dims.end(), 0);
  const int64_t first = wrap_dim(dim0, x.dim(), "transpose"), second = wrap_dim(dim1, x.dim(), "transpose");
  if (x.dim() == 0) return permute(x, dims);  // transposing a scalar's "dimension 0" with itself
  std::swap(dims[first], dims[second]);
  return permute(x, dims);
}

Tensor narrow(const Tensor& x, int64_t dim_in, int64_t start, int64_t length) {
  SLAB_CHECK(x.dim() > 0, "narrow: a 0-dimensional tensor has no dimension to narrow");
  const int64_t dim = wrap_dim(dim_in, x.dim(), "narrow");
  const int64_t extent = x.shape()[dim];
  SLAB_CHECK(start >= 0 && length >= 0 && start + length <= extent, "narrow: range [", start, ", ", start + length,
             ") is outside dimension ", dim, " of extent ", extent, " (shape ", x.shape(), ")");
  Shape shape = x.shape();
  shape[dim] = length;
  const auto split = split_at(x.shape(), dim);
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  SLAB_KERNEL(x.device(), copy_from_slice, x, out, split.outer, length, extent, split.inner, start);
  record_op(out, "narrow", {x}, [source = x.shape(), split, length, start](const Tensor& g) {
    Tensor grad = zeros(source, {g.dtype(), g.device()});
    SLAB_KERNEL(g.device(), copy_into_slice, g, grad, split.outer, length, split.extent, split.inner, start);
    return std::vector<Tensor>{grad};
  });
  if (trace::active()) trace::record("narrow", {x}, out, {dim, start, length});  // attributes: dim, start, length
  return out;
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  SLAB_CHECK(end >= start, "slice: end ", end, " is before start ", start);
  return narrow(x, dim, start, end - start);
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim_in) {
  SLAB_CHECK(!tensors.empty(), "cat: no tensors given");
  const Tensor& first = tensors.front();
  SLAB_CHECK(first.dim() > 0, "cat: a 0-dimensional tensor cannot be concatenated (reshape it to [1] first)");
  const int64_t dim = wrap_dim(dim_in, first.dim(), "cat");
  Shape shape = first.shape();
  shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    detail::check_compatible(first, t, "cat");
    SLAB_CHECK(t.dim() == first.dim(), "cat: tensor ", i, " has shape ", t.shape(), ", tensor 0 has ", first.shape());
    for (int64_t d = 0; d < t.dim(); ++d)
      SLAB_CHECK(d == dim || t.shape()[d] == first.shape()[d], "cat: tensor ", i, " has shape ", t.shape(),
                 ", tensor 0 has ", first.shape(), " (only dimension ", dim, " may differ)");
    shape[dim] += t.shape()[dim];
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  const auto split = split_at(shape, dim);
  std::vector<int64_t> starts;
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    starts.push_back(start);
    SLAB_KERNEL(out.device(), copy_into_slice, t, out, split.outer, t.shape()[dim], split.extent, split.inner, start);
    start += t.shape()[dim];
  }
  std::vector<int64_t> lengths;
  for (const Tensor& t : tensors) lengths.push_back(t.shape()[dim]);
  record_op(out, "cat", tensors, [dim, starts, lengths](const Tensor& g) {
    std::vector<Tensor> grads;
    for (size_t i = 0; i < starts.size(); ++i) grads.push_back(narrow(g, dim, starts[i], lengths[i]));
    return grads;
  });
  if (trace::active()) trace::record("cat", tensors, out, {dim});  // attribute: the dimension
  return out;
}

}  // namespace slab
