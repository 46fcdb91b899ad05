// Which elements of a parameter survive a shrink (layers/shrink.h), and where the survivors
// of several shrinks came from in the parameter the model was built with
// (docs/algorithm.md#shrinking-during-training).
//
// A shrink keeps, along each dim of a parameter, an ascending list of the indices it had
// before; the surviving elements are the product of those lists, in row-major order, so a
// slice is a list per dim and never a list of elements. The optimizer slices its state
// with the same lists (Optimizer::keep_elements) and composes them into an ElementOrigin,
// whose flat map from a surviving element to its dense index addresses the sampler's
// noise exactly as the dense parameter did.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace slab {

struct ParameterSlice {
  std::string name;                        // the parameter's qualified name
  Shape shape_before;                      // its shape when the shrink began
  std::vector<std::vector<int64_t>> kept;  // per dim of shape_before: surviving indices, ascending

  // A slice that keeps everything of a tensor of this shape.
  static ParameterSlice all_of(const std::string& name, const Shape& shape) {
    ParameterSlice slice{name, shape, {}};
    for (int64_t extent : shape) slice.kept.push_back(iota(extent));
    return slice;
  }
  static std::vector<int64_t> iota(int64_t extent) {
    std::vector<int64_t> v(static_cast<size_t>(extent));
    for (int64_t i = 0; i < extent; ++i) v[static_cast<size_t>(i)] = i;
    return v;
  }
  Shape shape_after() const {
    Shape shape;
    for (const std::vector<int64_t>& k : kept) shape.push_back(static_cast<int64_t>(k.size()));
    return shape;
  }
  bool keeps_all() const { return shape_after() == shape_before; }
  // Keeps only `indices` (positions in the current list) along dim: kept[dim] := kept[dim][indices].
  void keep_along(int64_t dim, const std::vector<int64_t>& indices) {
    SLAB_CHECK(dim >= 0 && dim < static_cast<int64_t>(kept.size()), "parameter slice '", name, "': dim ", dim,
               " of ", shape_before);
    std::vector<int64_t>& list = kept[static_cast<size_t>(dim)];
    std::vector<int64_t> next;
    for (int64_t i : indices) {
      SLAB_CHECK(i >= 0 && i < static_cast<int64_t>(list.size()), "parameter slice '", name, "': index ", i,
                 " outside ", list.size());
      next.push_back(list[static_cast<size_t>(i)]);
    }
    list = std::move(next);
  }
  // The surviving elements as flat indices of the tensor before the shrink, in order.
  std::vector<int64_t> flat_elements() const { return flat_elements_of(shape_before, kept); }

  static std::vector<int64_t> flat_elements_of(const Shape& shape, const std::vector<std::vector<int64_t>>& kept) {
    std::vector<int64_t> out{0};
    for (size_t d = 0; d < shape.size(); ++d) {
      std::vector<int64_t> next;
      next.reserve(out.size() * kept[d].size());
      for (int64_t base : out)
        for (int64_t k : kept[d]) next.push_back(base * shape[d] + k);
      out = std::move(next);
    }
    return out;
  }
};

// Where each element of a (possibly shrunken) parameter lies in the dense parameter.
struct ElementOrigin {
  Shape dense_shape;                       // the parameter as the model built it
  std::vector<std::vector<int64_t>> kept;  // per dim of dense_shape: the surviving dense indices
  std::vector<int64_t> elements;           // per surviving element, its dense flat index; empty: all survive

  static ElementOrigin dense(const Shape& shape) {
    ElementOrigin origin{shape, ParameterSlice::all_of("", shape).kept, {}};
    return origin;
  }
  bool shrunk() const { return !elements.empty() || dense_numel() != numel(); }
  int64_t dense_numel() const {
    int64_t n = 1;
    for (int64_t e : dense_shape) n *= e;
    return n;
  }
  int64_t numel() const {
    int64_t n = 1;
    for (const std::vector<int64_t>& k : kept) n *= static_cast<int64_t>(k.size());
    return n;
  }
  // Dense extent and surviving count along dim.
  int64_t dense_extent(size_t dim) const { return dense_shape[dim]; }
  int64_t kept_extent(size_t dim) const { return static_cast<int64_t>(kept[dim].size()); }
  // Applies a further shrink (its shape_before must be this origin's current shape).
  void apply(const ParameterSlice& slice) {
    Shape current;
    for (const std::vector<int64_t>& k : kept) current.push_back(static_cast<int64_t>(k.size()));
    SLAB_CHECK(slice.shape_before == current, "element origin of '", slice.name, "': a slice of shape ",
               slice.shape_before, " for a parameter of shape ", current);
    for (size_t d = 0; d < kept.size(); ++d) {
      std::vector<int64_t> next;
      for (int64_t i : slice.kept[d]) next.push_back(kept[d][static_cast<size_t>(i)]);
      kept[d] = std::move(next);
    }
    elements = numel() == dense_numel() ? std::vector<int64_t>{} : ParameterSlice::flat_elements_of(dense_shape, kept);
  }
};

}  // namespace slab
