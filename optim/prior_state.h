// What the sampler's fused step reads for each parameter (docs/algorithm.md#sghmc-spl-step):
// the weight decay lambda of every element, given per soft group, and the hard (pruning)
// masks, given per unit. optim defines this record and applies it in the step; bayes decides
// its values once per epoch (E-step and pruning) and never touches the step itself
// (docs/architecture.md#sampler-ownership).
//
// A parameter of shape [rows, columns, inner...] is addressed as (row, column, k):
//   rows    = extent of dim 0 (conv output filters, linear output units, BN channels),
//   columns = extent of dim 1 (conv input channels, linear input columns; 1 for a 1-D tensor),
//   inner   = product of the remaining extents (conv kernel positions; 1 otherwise).
// Soft groups: ConvKernels -> one per (row, column) kernel slice; LinearColumns -> one per
// column; None -> no groups; which element lies in which group, row and column is
// PriorGroupMap (optim/prior_group_map.h), the one definition every reader calls. The
// element's decay is group_weight_decay[group] when the vector is not empty, else
// weight_decay. The element is kept when keep_rows[row] and keep_columns[column] are both 1
// (an empty vector keeps all).
//
// Memory: one float per soft group (for a 3x3 conv, 4/9 byte per weight) and one byte per
// row and column, instead of the reference's full-size soft and hard mask tensors.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "layers/module.h"
#include "optim/prior_group_map.h"

namespace slab {

struct PriorLayout {
  PriorGrouping grouping = PriorGrouping::None;
  int64_t rows = 1, columns = 1, inner = 1;

  static PriorLayout of(const Shape& shape, PriorGrouping grouping) {
    PriorLayout layout;
    layout.grouping = grouping;
    layout.rows = shape.empty() ? 1 : shape[0];
    layout.columns = shape.size() >= 2 ? shape[1] : 1;
    for (size_t d = 2; d < shape.size(); ++d) layout.inner *= shape[d];
    if (grouping == PriorGrouping::ConvKernels)
      SLAB_CHECK(shape.size() == 4, "prior: a conv-kernels parameter must be [out, in, kh, kw], got ", shape);
    if (grouping == PriorGrouping::LinearColumns)
      SLAB_CHECK(shape.size() == 2, "prior: a linear-columns parameter must be [out, in], got ", shape);
    return layout;
  }
  int64_t numel() const { return rows * columns * inner; }
  // Element -> (row, column, soft group) of this layout.
  PriorGroupMap group_map() const { return {columns, inner, grouping == PriorGrouping::ConvKernels}; }
  int64_t group_count() const {
    switch (grouping) {
      case PriorGrouping::ConvKernels: return rows * columns;
      case PriorGrouping::LinearColumns: return columns;
      case PriorGrouping::None: return 0;
    }
    return 0;
  }
  // Elements in one soft group.
  int64_t group_size() const {
    switch (grouping) {
      case PriorGrouping::ConvKernels: return inner;
      case PriorGrouping::LinearColumns: return rows;
      case PriorGrouping::None: return 0;
    }
    return 0;
  }
};

struct PriorState {
  PriorLayout layout;
  float weight_decay = 0.0f;                // lambda of every element when no groups are set
  std::vector<float> group_weight_decay;    // per soft group (layout.group_count()), or empty
  std::vector<uint8_t> keep_rows;           // per row: 1 kept, 0 pruned; empty = all kept
  std::vector<uint8_t> keep_columns;        // per column: 1 kept, 0 pruned; empty = all kept

  bool has_masks() const { return !keep_rows.empty() || !keep_columns.empty(); }
  bool row_kept(int64_t row) const { return keep_rows.empty() || keep_rows[static_cast<size_t>(row)] != 0; }
  bool column_kept(int64_t column) const {
    return keep_columns.empty() || keep_columns[static_cast<size_t>(column)] != 0;
  }
  // Bytes this record holds (reported in the optimizer's state_bytes()).
  size_t bytes() const {
    return group_weight_decay.size() * sizeof(float) + keep_rows.size() + keep_columns.size();
  }
  // Throws unless the vectors fit the layout.
  void validate(const std::string& name) const {
    SLAB_CHECK(group_weight_decay.empty() || static_cast<int64_t>(group_weight_decay.size()) == layout.group_count(),
               "prior state of '", name, "': ", group_weight_decay.size(), " group decays for ", layout.group_count(),
               " groups (", prior_grouping_name(layout.grouping), ")");
    SLAB_CHECK(keep_rows.empty() || static_cast<int64_t>(keep_rows.size()) == layout.rows, "prior state of '", name,
               "': ", keep_rows.size(), " row masks for ", layout.rows, " rows");
    SLAB_CHECK(keep_columns.empty() || static_cast<int64_t>(keep_columns.size()) == layout.columns,
               "prior state of '", name, "': ", keep_columns.size(), " column masks for ", layout.columns, " columns");
  }
};

// Fills decay[0 .. count) and keep[0 .. count) for elements [first, first + count) of a
// parameter: the per-element view of a PriorState that the fused step consumes in chunks.
// Walks the elements in runs that share (row, column) - a conv kernel slice - or, for
// inner = 1, a row's consecutive columns, so a chunk costs a few divisions, not one per
// element.
inline void expand_prior_state(const PriorState& state, int64_t first, int64_t count, float* decay, float* keep) {
  const PriorLayout& l = state.layout;
  const PriorGroupMap map = l.group_map();
  const bool grouped = !state.group_weight_decay.empty();
  const bool masked = state.has_masks();
  if (!grouped && !masked) {
    for (int64_t e = 0; e < count; ++e) {
      decay[e] = state.weight_decay;
      keep[e] = 1.0f;
    }
    return;
  }
  // The map's divisions at the chunk's start, then counters: (row, column) and the position
  // k in the slice advance per run exactly as map.slice_of, row_of and column_of would give
  // them for the next element.
  const int64_t first_slice = map.slice_of(first);
  int64_t k = first - first_slice * l.inner;
  int64_t row = map.row_of(first_slice), column = map.column_of(first_slice);
  int64_t e = 0;
  while (e < count) {
    const float row_keep = state.row_kept(row) ? 1.0f : 0.0f;
    if (l.inner > 1) {  // a run within one (row, column) slice
      const int64_t run = std::min(l.inner - k, count - e);
      const float d =
          grouped ? state.group_weight_decay[static_cast<size_t>(map.group_of(row, column))] : state.weight_decay;
      const float kept = state.column_kept(column) ? row_keep : 0.0f;
      for (int64_t r = 0; r < run; ++r) {
        decay[e + r] = d;
        keep[e + r] = kept;
      }
      e += run;
      k += run;
      if (k == l.inner) {
        k = 0;
        if (++column == l.columns) {
          column = 0;
          ++row;
        }
      }
    } else {  // a run along one row's columns
      const int64_t run = std::min(l.columns - column, count - e);
      for (int64_t r = 0; r < run; ++r) {
        const int64_t col = column + r;
        decay[e + r] =
            grouped ? state.group_weight_decay[static_cast<size_t>(map.group_of(row, col))] : state.weight_decay;
        keep[e + r] = state.column_kept(col) ? row_keep : 0.0f;
      }
      e += run;
      column += run;
      if (column == l.columns) {
        column = 0;
        ++row;
      }
    }
  }
}

// An optimizer whose step reads PriorStates (sghmc, sghmc-spl) implements this, so that
// bayes can set them without knowing the optimizer's type.
class PriorStateHolder {
 public:
  virtual ~PriorStateHolder() = default;
  // One record per parameter, in the optimizer's parameter order.
  virtual std::vector<PriorState>& prior_states() = 0;
  virtual const std::vector<PriorState>& prior_states() const = 0;
  // Zeroes every pruned weight and whatever per-weight state the optimizer keeps for it
  // (called by bayes right after it changes masks, so no step is needed for them to bite).
  virtual void apply_prior_masks() = 0;
};

}  // namespace slab
