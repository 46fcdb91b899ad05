// SLAB_HOST_DEVICE marks a function that the CPU kernels and, under nvcc, the CUDA kernels
// both call, so a formula is written once for both backends: __host__ __device__ (and
// inlined) when nvcc compiles it, a plain inline function for the host compiler.
#pragma once

#if defined(__CUDACC__)
#define SLAB_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SLAB_HOST_DEVICE inline
#endif
