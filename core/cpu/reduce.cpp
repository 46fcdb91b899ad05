// Reductions along one dimension, viewed as [outer, extent, inner]. Sums accumulate in
// double whatever the dtype, in a fixed order: results are deterministic and accurate.
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/cpu/parallel.h"
#include "core/kernels.h"
#include "core/max_rule.h"

namespace slab::cpu {

void sum_dim(const Tensor& x, int64_t outer, int64_t extent, int64_t inner, const Tensor& out) {
  dispatch_float(x.dtype(), "sum", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    if (inner == 1) {
#pragma omp parallel for if (outer * extent > kParallelGrain) schedule(static)
      for (int64_t o = 0; o < outer; ++o) {
        const scalar_t* row = px + o * extent;
        double total = 0;
        for (int64_t e = 0; e < extent; ++e) total += row[e];
        po[o] = static_cast<scalar_t>(total);
      }
      return;
    }
#pragma omp parallel if (outer * extent * inner > kParallelGrain)
    {
      std::vector<double> accumulator(static_cast<size_t>(inner));
#pragma omp for schedule(static)
      for (int64_t o = 0; o < outer; ++o) {
        std::fill(accumulator.begin(), accumulator.end(), 0.0);
        for (int64_t e = 0; e < extent; ++e) {
          const scalar_t* row = px + (o * extent + e) * inner;
          for (int64_t i = 0; i < inner; ++i) accumulator[i] += row[i];
        }
        for (int64_t i = 0; i < inner; ++i) po[o * inner + i] = static_cast<scalar_t>(accumulator[i]);
      }
    }
  });
}

// An element is NaN or infinite exactly when its exponent bits are all ones; testing the bits
// (not std::isfinite, which GCC does not vectorise) makes this one streaming AVX-512 pass.
void count_non_finite(const Tensor& x, const Tensor& count) {
  dispatch_float(x.dtype(), "count_non_finite", [&](auto zero) {
    using scalar_t = decltype(zero);
    using bits_t = std::conditional_t<sizeof(scalar_t) == 4, uint32_t, uint64_t>;
    constexpr bits_t exponent = static_cast<bits_t>(sizeof(scalar_t) == 4 ? 0x7f800000ull : 0x7ff0000000000000ull);
    const scalar_t* px = x.data<scalar_t>();
    const int64_t n = x.numel();
    int64_t bad = 0;
#pragma omp parallel for reduction(+ : bad) if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) bad += (__builtin_bit_cast(bits_t, px[i]) & exponent) == exponent;
    count.data<int64_t>()[0] += bad;
  });
}

void max_dim(const Tensor& x, int64_t outer, int64_t extent, int64_t inner, const Tensor& values,
             const Tensor& indices) {
  dispatch_float(x.dtype(), "max", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* pv = values.data<scalar_t>();
    int64_t* pi = indices.data<int64_t>();
    for_each_line(outer, extent, inner, [&](int64_t o, int64_t i) {
      const MaxAt<scalar_t> best = max_of_line(px + o * extent * inner + i, extent, inner);
      pv[o * inner + i] = best.value;
      pi[o * inner + i] = best.index;
    });
  });
}

void scatter_dim(const Tensor& grad, const Tensor& indices, int64_t outer, int64_t extent, int64_t inner,
                 const Tensor& out) {
  dispatch_float(grad.dtype(), "max backward", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* pg = grad.data<scalar_t>();
    const int64_t* pi = indices.data<int64_t>();
    scalar_t* po = out.data<scalar_t>();
    std::fill_n(po, outer * extent * inner, scalar_t(0));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) po[(o * extent + pi[o * inner + i]) * inner + i] = pg[o * inner + i];
  });
}

}  // namespace slab::cpu
