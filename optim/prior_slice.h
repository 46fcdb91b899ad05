// A PriorState (optim/prior_state.h) cut to the elements a shrink keeps
// (layers/parameter_slice.h): the layout of the kept shape, the kept rows' and columns'
// masks, and the decays of the kept soft groups, each unchanged. A shrink keeps whole rows
// and columns and never cuts a conv's kernel positions, so every kept group keeps all its
// elements but a linear column, which loses its removed rows (docs/algorithm.md#shrinking-during-training
// says why the prior pass still sees it as the dense group).
#pragma once
#include <vector>

#include "core/error.h"
#include "layers/parameter_slice.h"
#include "optim/prior_state.h"

namespace slab {

inline PriorState slice_prior_state(const PriorState& state, const ParameterSlice& slice) {
  const PriorLayout& old = state.layout;
  PriorState out;
  out.layout = PriorLayout::of(slice.shape_after(), old.grouping);
  out.weight_decay = state.weight_decay;
  const std::vector<int64_t> all_rows = ParameterSlice::iota(old.rows), all_columns = ParameterSlice::iota(old.columns);
  const std::vector<int64_t>& rows = slice.kept.empty() ? all_rows : slice.kept[0];
  const std::vector<int64_t>& columns = slice.kept.size() >= 2 ? slice.kept[1] : all_columns;
  for (size_t d = 2; d < slice.kept.size(); ++d)
    SLAB_CHECK(static_cast<int64_t>(slice.kept[d].size()) == slice.shape_before[d], "prior state of '", slice.name,
               "': a shrink cuts whole rows and columns, not dim ", d);
  for (int64_t r : rows)
    if (!state.keep_rows.empty()) out.keep_rows.push_back(state.keep_rows[static_cast<size_t>(r)]);
  for (int64_t c : columns)
    if (!state.keep_columns.empty()) out.keep_columns.push_back(state.keep_columns[static_cast<size_t>(c)]);
  if (!state.group_weight_decay.empty()) {
    const PriorGroupMap map = old.group_map();
    if (old.grouping == PriorGrouping::ConvKernels) {
      for (int64_t r : rows)
        for (int64_t c : columns) out.group_weight_decay.push_back(state.group_weight_decay[static_cast<size_t>(map.group_of(r, c))]);
    } else if (old.grouping == PriorGrouping::LinearColumns) {
      for (int64_t c : columns) out.group_weight_decay.push_back(state.group_weight_decay[static_cast<size_t>(c)]);
    }
  }
  out.validate(slice.name);
  return out;
}

}  // namespace slab
