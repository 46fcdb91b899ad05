// Philox fills on the host; element i is a pure function of (seed, stream, block, i), so
// the loop parallelises without changing a single draw.
#include "core/cpu/parallel.h"
#include "core/kernels.h"
#include "core/philox.h"

namespace slab::cpu {

void fill_uniform(const Tensor& t, uint64_t seed, uint64_t stream, uint64_t first_block, double low, double high) {
  dispatch_float(t.dtype(), "fill_uniform", [&](auto zero) {
    using scalar_t = decltype(zero);
    scalar_t* p = t.data<scalar_t>();
    const int64_t n = t.numel();
    const double width = high - low;
#pragma omp parallel for if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<scalar_t>(low + width * philox::uniform_at(seed, stream, first_block, static_cast<uint64_t>(i)));
  });
}

void fill_normal(const Tensor& t, uint64_t seed, uint64_t stream, uint64_t first_block, double mean, double stddev) {
  dispatch_float(t.dtype(), "fill_normal", [&](auto zero) {
    using scalar_t = decltype(zero);
    scalar_t* p = t.data<scalar_t>();
    const int64_t n = t.numel();
#pragma omp parallel for if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<scalar_t>(mean + stddev * philox::normal_at(seed, stream, first_block, static_cast<uint64_t>(i)));
  });
}

}  // namespace slab::cpu
