// Softmax and log-softmax along one dimension ([outer, extent, inner]), stabilised by
// subtracting the maximum; the negative log-likelihood that cross-entropy builds on.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cpu/parallel.h"
#include "core/kernels.h"

namespace slab::cpu {

void softmax(const Tensor& x, int64_t outer, int64_t extent, int64_t inner, bool log, const Tensor& out) {
  dispatch_float(x.dtype(), "softmax", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
#pragma omp parallel for collapse(2) if (outer * extent * inner > kParallelGrain) schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const scalar_t* column = px + o * extent * inner + i;
        scalar_t* result = po + o * extent * inner + i;
        scalar_t peak = -std::numeric_limits<scalar_t>::infinity();
        for (int64_t e = 0; e < extent; ++e) peak = std::max(peak, column[e * inner]);
        double total = 0;
        for (int64_t e = 0; e < extent; ++e) total += std::exp(static_cast<double>(column[e * inner] - peak));
        if (log) {
          const scalar_t log_total = static_cast<scalar_t>(std::log(total));
          for (int64_t e = 0; e < extent; ++e) result[e * inner] = column[e * inner] - peak - log_total;
        } else {
          const double scale = 1.0 / total;
          for (int64_t e = 0; e < extent; ++e)
            result[e * inner] = static_cast<scalar_t>(std::exp(static_cast<double>(column[e * inner] - peak)) * scale);
        }
      }
    }
  });
}

void softmax_backward(const Tensor& grad, const Tensor& y, int64_t outer, int64_t extent, int64_t inner, bool log,
                      const Tensor& out) {
  dispatch_float(y.dtype(), "softmax backward", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* pg = grad.data<scalar_t>();
    const scalar_t* py = y.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
#pragma omp parallel for collapse(2) if (outer * extent * inner > kParallelGrain) schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t base = o * extent * inner + i;
        double total = 0;
        if (log) {
          for (int64_t e = 0; e < extent; ++e) total += pg[base + e * inner];
          for (int64_t e = 0; e < extent; ++e) {
            const int64_t at = base + e * inner;
            po[at] = static_cast<scalar_t>(pg[at] - std::exp(static_cast<double>(py[at])) * total);
          }
        } else {
          for (int64_t e = 0; e < extent; ++e) total += static_cast<double>(pg[base + e * inner]) * py[base + e * inner];
          for (int64_t e = 0; e < extent; ++e) {
            const int64_t at = base + e * inner;
            po[at] = static_cast<scalar_t>(py[at] * (pg[at] - total));
          }
        }
      }
    }
  });
}

void nll_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& loss) {
  dispatch_float(log_probs.dtype(), "cross_entropy", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* lp = log_probs.data<scalar_t>();
    const int64_t* t = targets.data<int64_t>();
    const int64_t n = log_probs.size(0), classes = log_probs.size(1);
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total -= lp[i * classes + t[i]];
    loss.data<scalar_t>()[0] = static_cast<scalar_t>(total / static_cast<double>(n));
  });
}

void nll_loss_backward(const Tensor& log_probs, const Tensor& targets, const Tensor& grad_loss, const Tensor& out) {
  dispatch_float(log_probs.dtype(), "cross_entropy backward", [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* lp = log_probs.data<scalar_t>();
    const int64_t* t = targets.data<int64_t>();
    scalar_t* po = out.data<scalar_t>();
    const int64_t n = log_probs.size(0), classes = log_probs.size(1);
    const scalar_t scale = grad_loss.data<scalar_t>()[0] / static_cast<scalar_t>(n);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t c = 0; c < classes; ++c) po[i * classes + c] = std::exp(lp[i * classes + c]) * scale;
      po[i * classes + t[i]] -= scale;
    }
  });
}

}  // namespace slab::cpu
