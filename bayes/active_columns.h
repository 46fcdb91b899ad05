// Executing a pruned first layer on its kept input columns only (docs/algorithm.md#active-columns).
//
// Once the hard mask has pruned input column j of a Linear weight W [out, P], W[:, j] is
// exactly zero forever (masks are permanent and the step multiplies by them), so
//   x W^T = x[:, kept] W[:, kept]^T
// and the gradient of the kept block is the same. A variable-selection run that keeps 5 of
// 1000 inputs can therefore read 5 columns of its data instead of 1000: the saving that
// pruning promises, made real. select_columns is the one differentiable piece: it gathers
// W[:, kept] and scatters the gradient back into a full-size gradient (zero in pruned
// columns, which the step masks anyway).
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace slab {

// weight [rows, P] -> [rows, columns.size()], out[:, c] = weight[:, columns[c]].
// Backward: grad_weight[:, columns[c]] += grad[:, c], zero elsewhere.
Tensor select_columns(const Tensor& weight, const std::vector<int64_t>& columns);

// Copies columns of a data matrix [n, P] (no autograd): the kept inputs of a data set.
Tensor gather_data_columns(const Tensor& data, const std::vector<int64_t>& columns);

}  // namespace slab
