// Where each element of a parameter sits in its prior (optim/prior_state.h): the one
// definition of the element-to-group map, for host and device.
//
// The parameter is seen as [rows, columns, inner] (PriorLayout). Element e lies in the
// kernel slice s = e / inner, numbered s = row * columns + column, so
//   row = s / columns   (its hard unit along dim 0: keep_rows[row]),
//   column = s % columns (its hard unit along dim 1: keep_columns[column]),
// and its soft group (the index into group_weight_decay) is
//   ConvKernels    row * columns + column = s   (one group per kernel slice w[o, i, :, :]),
//   LinearColumns  column                       (one group per input column w[:, j]; inner = 1).
// A None parameter has no groups; its map is only read for the masks.
//
// Every reader of the prior calls these functions: the CPU's per-element arrays
// (expand_prior_state), its AVX-512 lanes (optim/prior_lanes.h, which applies slice_of per
// lane), the CUDA kernels (optim/cuda/optimizer_kernels.cu) and bayes' group statistics.
#pragma once
#include <cstdint>

#include "core/host_device.h"

namespace slab {

struct PriorGroupMap {
  int64_t columns = 1;
  int64_t inner = 1;
  bool kernel_groups = false;  // ConvKernels: the group is the kernel slice; otherwise the column

  // The kernel slice holding element `element`.
  SLAB_HOST_DEVICE int64_t slice_of(int64_t element) const { return element / inner; }
  SLAB_HOST_DEVICE int64_t row_of(int64_t slice) const { return slice / columns; }
  SLAB_HOST_DEVICE int64_t column_of(int64_t slice) const { return slice % columns; }
  // The soft group of the elements of slice (row, column).
  SLAB_HOST_DEVICE int64_t group_of(int64_t row, int64_t column) const {
    return kernel_groups ? row * columns + column : column;
  }
  // The soft group of element `element`: the functions above, composed.
  SLAB_HOST_DEVICE int64_t group_of_element(int64_t element) const {
    const int64_t slice = slice_of(element);
    return group_of(row_of(slice), column_of(slice));
  }
};

}  // namespace slab
