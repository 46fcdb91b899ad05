// What this build computes with, in one line for program headers and benchmark logs:
// CPU threads (OpenMP), the SIMD level the compiler targeted, the Eigen version, and the
// CUDA backend when it is built.
#pragma once
#include <string>

namespace slab {

// e.g. "cpu: 2 OpenMP threads, SIMD AVX-512F (+FMA), Eigen 3.4.0; cuda: not built"
std::string backend_description();

// The SIMD level chosen at compile time from the compiler's macros (__AVX512F__ etc.).
const char* simd_level();

}  // namespace slab
