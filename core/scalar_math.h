// The libm functions for float and double under one name each, callable from host and
// device code, so a formula templated on its type calls math::exp(v) for either type on
// either backend: host code gets std::exp (expf for a float), device code ::expf / ::exp.
// min and max make std::min's and std::max's choice on ties and NaN (the first argument
// unless the second is strictly better); the std ones are not device functions.
#pragma once
#include <cmath>
#include <limits>

#include "core/host_device.h"

#if defined(__CUDACC__)
#include <math_constants.h>
#endif

#if defined(__CUDA_ARCH__)
#define SLAB_DEFINE_LIBM(name, device_float, device_double)                                 \
  SLAB_HOST_DEVICE float name(float x) { return ::device_float(x); }                       \
  SLAB_HOST_DEVICE double name(double x) { return ::device_double(x); }
#define SLAB_DEFINE_LIBM2(name, device_float, device_double)                                \
  SLAB_HOST_DEVICE float name(float x, float y) { return ::device_float(x, y); }           \
  SLAB_HOST_DEVICE double name(double x, double y) { return ::device_double(x, y); }
#else
#define SLAB_DEFINE_LIBM(name, device_float, device_double)                                 \
  SLAB_HOST_DEVICE float name(float x) { return std::name(x); }                            \
  SLAB_HOST_DEVICE double name(double x) { return std::name(x); }
#define SLAB_DEFINE_LIBM2(name, device_float, device_double)                                \
  SLAB_HOST_DEVICE float name(float x, float y) { return std::name(x, y); }                \
  SLAB_HOST_DEVICE double name(double x, double y) { return std::name(x, y); }
#endif

namespace slab::math {

SLAB_DEFINE_LIBM(exp, expf, exp)
SLAB_DEFINE_LIBM(log, logf, log)
SLAB_DEFINE_LIBM(log1p, log1pf, log1p)
SLAB_DEFINE_LIBM(sqrt, sqrtf, sqrt)
SLAB_DEFINE_LIBM(tanh, tanhf, tanh)
SLAB_DEFINE_LIBM(abs, fabsf, fabs)
SLAB_DEFINE_LIBM2(pow, powf, pow)

template <typename T>
SLAB_HOST_DEVICE T max(T a, T b) {
  return a < b ? b : a;
}

template <typename T>
SLAB_HOST_DEVICE T min(T a, T b) {
  return b < a ? b : a;
}

// -infinity in T: where a running maximum starts.
template <typename T>
SLAB_HOST_DEVICE T negative_infinity() {
#if defined(__CUDA_ARCH__)
  return static_cast<T>(-CUDART_INF);
#else
  return -std::numeric_limits<T>::infinity();
#endif
}

}  // namespace slab::math

#undef SLAB_DEFINE_LIBM
#undef SLAB_DEFINE_LIBM2
