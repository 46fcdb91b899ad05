// Philox fills on the GPU with the host's code (core/philox.h is host and device): element
// i uses word i % 4 of block first_block + i / 4, as on the CPU, so the integer stream is
// the same bits on both devices. Each thread computes one block and writes its four
// elements. The affine map low + width u (and mean + stddev z) is rounded as written, with
// no fused multiply-add, to match a CPU that does not contract; the normals still differ
// from the CPU's in the last bits because the GPU's logf/sinf/cosf are not glibc's.
#include "core/cuda/device_math.cuh"
#include "core/cuda/runtime.h"
#include "core/philox.h"

namespace slab::cuda {

namespace {

// Word w of a block as a uniform in [0, 1), and as a normal: words (0,1) give normals 0 and
// 1 (cosine, sine), words (2,3) give 2 and 3.
struct UniformDraw {
  __device__ double operator()(const philox::Block& b, int w) const {
    return static_cast<double>(philox::uniform_from_word(b.word[w]));
  }
};
struct NormalDraw {
  __device__ double operator()(const philox::Block& b, int w) const {
    const unsigned pair = static_cast<unsigned>(w) & 2u;
    return static_cast<double>(philox::normal_from_words(b.word[pair], b.word[pair + 1], (w & 1) != 0));
  }
};

// out[i] = offset + scale draw(i), each thread one block of four elements.
template <typename T, typename Draw>
__global__ void philox_fill_kernel(T* out, int64_t n, uint64_t seed, uint64_t stream, uint64_t first_block,
                                   double offset, double scale, Draw draw) {
  SLAB_GRID_STRIDE_LOOP(j, (n + 3) / 4) {
    const philox::Block b = philox::block(seed, stream, first_block + static_cast<uint64_t>(j));
    for (int w = 0; w < 4; ++w) {
      const int64_t i = 4 * j + w;
      if (i < n) out[i] = static_cast<T>(__dadd_rn(offset, __dmul_rn(scale, draw(b, w))));
    }
  }
}

template <typename Draw>
void philox_fill(const Tensor& t, uint64_t seed, uint64_t stream, uint64_t first_block, double offset, double scale,
          const char* name, Draw draw) {
  const int64_t n = t.numel();
  if (n == 0) return;
  const int device = t.device().index;
  dispatch_float(t.dtype(), name, [&](auto zero) {
    using scalar_t = decltype(zero);
    philox_fill_kernel<scalar_t><<<detail::grid_for((n + 3) / 4, device), detail::kThreads, 0,
                                   detail::stream(device)>>>(t.data<scalar_t>(), n, seed, stream, first_block, offset,
                                                             scale, draw);
    SLAB_CUDA_CHECK_LAUNCH("philox_fill_kernel");
  });
}

__global__ void philox_words_kernel(uint32_t* words, int64_t count, uint64_t seed, uint64_t stream,
                                    uint64_t first_block) {
  SLAB_GRID_STRIDE_LOOP(j, count) {
    const philox::Block b = philox::block(seed, stream, first_block + static_cast<uint64_t>(j));
    for (int w = 0; w < 4; ++w) words[4 * j + w] = b.word[w];
  }
}

}  // namespace

void fill_uniform(const Tensor& t, uint64_t seed, uint64_t stream, uint64_t first_block, double low, double high) {
  philox_fill(t, seed, stream, first_block, low, high - low, "fill_uniform", UniformDraw{});
}

void fill_normal(const Tensor& t, uint64_t seed, uint64_t stream, uint64_t first_block, double mean, double stddev) {
  philox_fill(t, seed, stream, first_block, mean, stddev, "fill_normal", NormalDraw{});
}

void philox_words(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t count, uint32_t* words, int device) {
  if (count <= 0) return;
  const size_t bytes = static_cast<size_t>(count) * 4 * sizeof(uint32_t);
  auto* buffer = static_cast<uint32_t*>(device_allocate(bytes, device));
  philox_words_kernel<<<detail::grid_for(count, device), detail::kThreads, 0, detail::stream(device)>>>(
      buffer, count, seed, stream, first_block);
  SLAB_CUDA_CHECK_LAUNCH("philox_words_kernel");
  copy_device_to_host(words, buffer, bytes, device);
  device_release(buffer, bytes, device);
}

}  // namespace slab::cuda
