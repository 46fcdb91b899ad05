// `slab-bench bf16`: GFLOP/s of the bf16 matrix products (core/cpu/gemm_bf16.h) on every
// path this CPU has, next to the float32 GEMM, on the GEMM of each ResNet-20/18 conv layer's
// forward pass (m = batch x output pixels, n = output channels, k = input channels x taps),
// with the measured clock and the share of the AMX peak (1,024 flops per cycle per core).
#pragma once

namespace slab::tools {

int run_bf16_benchmark(int argc, char** argv);

}  // namespace slab::tools
