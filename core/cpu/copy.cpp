// Data movement: permutation and slice copies (cat, narrow and their backwards).
#include <cstring>
#include <vector>

#include "core/cpu/parallel.h"
#include "core/kernels.h"

namespace slab::cpu {

void permute(const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  const size_t rank = dims.size();
  const size_t element = dtype_size(x.dtype());
  // Stride of x for each output dimension.
  std::vector<int64_t> x_strides(rank), source_strides(rank);
  int64_t stride = 1;
  for (int64_t d = static_cast<int64_t>(rank) - 1; d >= 0; --d) {
    x_strides[d] = stride;
    stride *= x.shape()[d];
  }
  for (size_t d = 0; d < rank; ++d) source_strides[d] = x_strides[dims[d]];
  const Shape& out_shape = out.shape();
  const int64_t inner = rank == 0 ? 1 : out_shape.back();
  const int64_t inner_stride = rank == 0 ? 1 : source_strides.back();
  const int64_t rows = inner == 0 ? 0 : out.numel() / inner;
  const char* src = static_cast<const char*>(x.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
#pragma omp parallel for if (out.numel() > kParallelGrain) schedule(static)
  for (int64_t row = 0; row < rows; ++row) {
    int64_t offset = 0, rest = row;
    for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
      offset += (rest % out_shape[d]) * source_strides[d];
      rest /= out_shape[d];
    }
    char* target = dst + row * inner * element;
    if (inner_stride == 1) {
      std::memcpy(target, src + offset * element, inner * element);
    } else {
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(target + i * element, src + (offset + i * inner_stride) * element, element);
    }
  }
}

void copy_into_slice(const Tensor& src, const Tensor& dst, int64_t outer, int64_t length, int64_t extent,
                     int64_t inner, int64_t start) {
  const size_t element = dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(d + ((o * extent + start) * inner) * element, s + (o * length * inner) * element,
                length * inner * element);
}

void copy_from_slice(const Tensor& src, const Tensor& dst, int64_t outer, int64_t length, int64_t extent,
                     int64_t inner, int64_t start) {
  const size_t element = dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw_data());
  char* d = static_cast<char*>(dst.raw_data());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(d + (o * length * inner) * element, s + ((o * extent + start) * inner) * element,
                length * inner * element);
}

}  // namespace slab::cpu
