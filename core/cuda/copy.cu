// Data movement on the GPU: permutation and slice copies (cat, narrow and their backwards).
// The kernels move elements as 4- or 8-byte words, so one instantiation per element size
// serves every dtype.
#include <vector>

#include "core/cuda/device_math.cuh"
#include "core/cuda/runtime.h"

namespace slab::cuda {

namespace {

struct PermuteIndex {
  int rank = 0;
  int64_t out_extents[detail::kMaxDims] = {};
  int64_t source_strides[detail::kMaxDims] = {};  // stride in x of each output dimension
};

template <typename Word>
__global__ void permute_kernel(const Word* x, Word* out, int64_t n, PermuteIndex index) {
  SLAB_GRID_STRIDE_LOOP(i, n) {
    int64_t rest = i, offset = 0;
    for (int d = index.rank - 1; d >= 0; --d) {
      const int64_t q = rest / index.out_extents[d];
      offset += (rest - q * index.out_extents[d]) * index.source_strides[d];
      rest = q;
    }
    out[i] = x[offset];
  }
}

// The small tensor [outer, length, inner] against the large [outer, extent, inner] at
// `start`: into = true writes the small one into the slice, false reads the slice out.
template <typename Word>
__global__ void slice_kernel(const Word* src, Word* dst, int64_t outer, int64_t length, int64_t extent,
                             int64_t inner, int64_t start, bool into) {
  const int64_t row = length * inner;
  SLAB_GRID_STRIDE_LOOP(i, outer * row) {
    const int64_t o = i / row, within = i - o * row;
    const int64_t large = (o * extent + start) * inner + within;
    if (into) dst[large] = src[i];
    else dst[i] = src[large];
  }
}

template <typename F>
void with_word(DType dtype, F&& f) {
  if (dtype_size(dtype) == 4) f(uint32_t{});
  else f(uint64_t{});
}

void copy_slice(const Tensor& src, const Tensor& dst, int64_t outer, int64_t length, int64_t extent, int64_t inner,
                int64_t start, bool into) {
  const int64_t n = outer * length * inner;
  if (n == 0) return;
  const int device = src.device().index;
  const size_t element = dtype_size(src.dtype());
  if (outer == 1) {  // one contiguous run
    const char* s = static_cast<const char*>(src.raw_data());
    char* d = static_cast<char*>(dst.raw_data());
    const size_t at = static_cast<size_t>(start * inner) * element;
    copy_device_to_device(into ? d + at : d, into ? s : s + at, static_cast<size_t>(n) * element, device);
    return;
  }
  with_word(src.dtype(), [&](auto zero) {
    using Word = decltype(zero);
    slice_kernel<Word><<<detail::grid_for(n, device), detail::kThreads, 0, detail::stream(device)>>>(
        static_cast<const Word*>(src.raw_data()), static_cast<Word*>(dst.raw_data()), outer, length, extent, inner,
        start, into);
    SLAB_CUDA_CHECK_LAUNCH("slice_kernel");
  });
}

}  // namespace

void permute(const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const int device = x.device().index;
  const int rank = static_cast<int>(dims.size());
  SLAB_CHECK(rank <= detail::kMaxDims, "permute: the CUDA kernel handles at most ", detail::kMaxDims,
             " dimensions, got shape ", x.shape());
  PermuteIndex index;
  index.rank = rank;
  std::vector<int64_t> x_strides(static_cast<size_t>(rank));
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    x_strides[d] = stride;
    stride *= x.shape()[d];
  }
  for (int d = 0; d < rank; ++d) {
    index.out_extents[d] = out.shape()[d];
    index.source_strides[d] = x_strides[dims[d]];
  }
  with_word(x.dtype(), [&](auto zero) {
    using Word = decltype(zero);
    permute_kernel<Word><<<detail::grid_for(n, device), detail::kThreads, 0, detail::stream(device)>>>(
        static_cast<const Word*>(x.raw_data()), static_cast<Word*>(out.raw_data()), n, index);
    SLAB_CUDA_CHECK_LAUNCH("permute_kernel");
  });
}

void copy_into_slice(const Tensor& src, const Tensor& dst, int64_t outer, int64_t length, int64_t extent,
                     int64_t inner, int64_t start) {
  copy_slice(src, dst, outer, length, extent, inner, start, true);
}

void copy_from_slice(const Tensor& src, const Tensor& dst, int64_t outer, int64_t length, int64_t extent,
                     int64_t inner, int64_t start) {
  copy_slice(src, dst, outer, length, extent, inner, start, false);
}

}  // namespace slab::cuda
