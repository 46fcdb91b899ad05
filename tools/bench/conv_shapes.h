// The conv layer shapes the kernel benchmarks time (slab-bench ops and bf16): every distinct
// conv of ResNet-20 and ResNet-18 in their CIFAR forms. The same list, with the same names,
// is in tools/bench/ops_torch.py.
#pragma once
#include <cstdint>

namespace slab::tools {

struct ConvShape {
  const char* name;
  int64_t c_in, c_out, kernel, stride, pad, size;  // input size x size
};

// Every distinct conv of ResNet-20 (CIFAR; 1x1 stride-2 projection shortcuts as in option B)
// and of ResNet-18 in its CIFAR form (3x3 stem, no max pool), then shrunken ResNet-20 shapes.
constexpr ConvShape kConvShapes[] = {
    {"r20.stem", 3, 16, 3, 1, 1, 32},         {"r20.16", 16, 16, 3, 1, 1, 32},
    {"r20.16-32s2", 16, 32, 3, 2, 1, 32},     {"r20.sc16-32", 16, 32, 1, 2, 0, 32},
    {"r20.32", 32, 32, 3, 1, 1, 16},          {"r20.32-64s2", 32, 64, 3, 2, 1, 16},
    {"r20.sc32-64", 32, 64, 1, 2, 0, 16},     {"r20.64", 64, 64, 3, 1, 1, 8},
    {"r18.stem", 3, 64, 3, 1, 1, 32},         {"r18.64", 64, 64, 3, 1, 1, 32},
    {"r18.64-128s2", 64, 128, 3, 2, 1, 32},   {"r18.sc64-128", 64, 128, 1, 2, 0, 32},
    {"r18.128", 128, 128, 3, 1, 1, 16},       {"r18.128-256s2", 128, 256, 3, 2, 1, 16},
    {"r18.sc128-256", 128, 256, 1, 2, 0, 16}, {"r18.256", 256, 256, 3, 1, 1, 8},
    {"r18.256-512s2", 256, 512, 3, 2, 1, 8},  {"r18.sc256-512", 256, 512, 1, 2, 0, 8},
    {"r18.512", 512, 512, 3, 1, 1, 4},
    // ResNet-20 after channel shrinking leaves counts that are not multiples of 16 (16 -> 13,
    // 32 -> 27, 64 -> 45 channels): the padded blocked and Winograd paths.
    {"r20p.13", 13, 13, 3, 1, 1, 32},         {"r20p.13-27s2", 13, 27, 3, 2, 1, 32},
    {"r20p.27", 27, 27, 3, 1, 1, 16},         {"r20p.27-45s2", 27, 45, 3, 2, 1, 16},
    {"r20p.45", 45, 45, 3, 1, 1, 8},
};

}  // namespace slab::tools
