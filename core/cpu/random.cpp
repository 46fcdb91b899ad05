// Philox fills on the host; element i is a pure function of (seed, stream, block, i), so
// the loop parallelises without changing a single draw.
#include "core/cpu/parallel.h"
#include "core/kernels.h"
#include "core/philox.h"

namespace slab::cpu {

namespace {

// t[i] = offset + scale draw(i), in double, rounded once to t's type.
template <typename Draw>
void fill_affine(const Tensor& t, const char* name, double offset, double scale, Draw draw) {
  dispatch_float(t.dtype(), name, [&](auto zero) {
    using scalar_t = decltype(zero);
    scalar_t* p = t.data<scalar_t>();
    const int64_t n = t.numel();
#pragma omp parallel for if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<scalar_t>(offset + scale * draw(static_cast<uint64_t>(i)));
  });
}

}  // namespace

void fill_uniform(const Tensor& t, uint64_t seed, uint64_t stream, uint64_t first_block, double low, double high) {
  fill_affine(t, "fill_uniform", low, high - low,
              [=](uint64_t i) { return philox::uniform_at(seed, stream, first_block, i); });
}

void fill_normal(const Tensor& t, uint64_t seed, uint64_t stream, uint64_t first_block, double mean, double stddev) {
  fill_affine(t, "fill_normal", mean, stddev,
              [=](uint64_t i) { return philox::normal_at(seed, stream, first_block, i); });
}

}  // namespace slab::cpu
