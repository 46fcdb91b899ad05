#include "core/backend.h"
#include "core/precision.h"

#include <omp.h>

#include <Eigen/Core>
#include <sstream>

#include "core/device.h"
#ifdef SLAB_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

namespace slab {

const char* simd_level() {
#if defined(__AVX512F__) && defined(__FMA__)
  return "AVX-512F (+FMA)";
#elif defined(__AVX2__) && defined(__FMA__)
  return "AVX2 (+FMA)";
#elif defined(__AVX__)
  return "AVX";
#elif defined(__SSE4_2__)
  return "SSE4.2";
#elif defined(__ARM_NEON)
  return "NEON";
#else
  return "scalar (no SIMD macro set)";
#endif
}

std::string backend_description() {
  std::ostringstream out;
  out << "cpu: " << omp_get_max_threads() << " OpenMP threads, SIMD " << simd_level() << ", Eigen "
      << EIGEN_WORLD_VERSION << '.' << EIGEN_MAJOR_VERSION << '.' << EIGEN_MINOR_VERSION << ", matmul precision " << precision_description() << "; cuda: ";
#ifdef SLAB_WITH_CUDA
  out << (cuda_available() ? cuda::describe_backend() : "built, no GPU visible (" + cuda::no_device_reason() + ")");
#else
  out << "not built";
#endif
  return out.str();
}

}  // namespace slab
