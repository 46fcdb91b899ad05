#include "bayes/active_columns.h"

#include "core/autograd.h"
#include "core/ops.h"

namespace slab {

namespace {

void check_columns(const Tensor& matrix, const std::vector<int64_t>& columns, const char* what) {
  SLAB_CHECK(matrix.dim() == 2, what, ": expected a matrix [rows, P], got ", matrix.shape());
  SLAB_CHECK(matrix.device().is_cpu(), what, ": CPU tensors only, got ", matrix.device().str());
  for (int64_t c : columns)
    SLAB_CHECK(c >= 0 && c < matrix.size(1), what, ": column ", c, " is outside [0, ", matrix.size(1), ")");
}

template <typename T>
void gather(const T* source, int64_t rows, int64_t width, const std::vector<int64_t>& columns, T* out) {
  const int64_t kept = static_cast<int64_t>(columns.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < kept; ++c) out[r * kept + c] = source[r * width + columns[static_cast<size_t>(c)]];
}

Tensor gather_columns(const Tensor& matrix, const std::vector<int64_t>& columns) {
  const int64_t rows = matrix.size(0), width = matrix.size(1);
  Tensor out = Tensor::empty({rows, static_cast<int64_t>(columns.size())}, matrix.dtype(), matrix.device());
  dispatch_float(matrix.dtype(), "select_columns", [&](auto zero) {
    using T = decltype(zero);
    gather(matrix.data<T>(), rows, width, columns, out.data<T>());
  });
  return out;
}

}  // namespace

Tensor select_columns(const Tensor& weight, const std::vector<int64_t>& columns) {
  check_columns(weight, columns, "select_columns");
  Tensor out = gather_columns(weight, columns);
  record_op(out, "select_columns", {weight}, [shape = weight.shape(), columns](const Tensor& grad) {
    Tensor full = zeros(shape, {grad.dtype(), grad.device()});
    const int64_t rows = shape[0], width = shape[1], kept = static_cast<int64_t>(columns.size());
    dispatch_float(grad.dtype(), "select_columns backward", [&](auto zero) {
      using T = decltype(zero);
      const T* g = grad.data<T>();
      T* f = full.data<T>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < kept; ++c) f[r * width + columns[static_cast<size_t>(c)]] += g[r * kept + c];
    });
    return std::vector<Tensor>{full};
  });
  return out;
}

Tensor gather_data_columns(const Tensor& data, const std::vector<int64_t>& columns) {
  check_columns(data, columns, "gather_data_columns");
  return gather_columns(data.detach(), columns);
}

}  // namespace slab
