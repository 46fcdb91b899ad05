// Which instructions run bf16 matrix products on this CPU, decided once at run time.
//
// The fallback chain, fastest first:
//   amx          AMX tiles: TDPBF16PS multiplies a 16x32 bf16 tile by a 32x16 one into a
//                16x16 float32 tile (1,024 flops per instruction);
//   avx512-bf16  VDPBF16PS: 16 float32 lanes each accumulate a pair of bf16 products;
//   avx512f      the same pair products emulated with float32 FMAs (bf16 widened by a shift).
// Every path reads the same bf16 inputs (core/cpu/bf16.h) and accumulates in float32; they
// differ only in the order the float32 sums are rounded (avx512f reproduces avx512-bf16 bit
// for bit on normal numbers; AMX sums inside a tile in its own order), within the bound
// of docs/algorithm.md#bf16-matrix-products.
//
// SLAB_BF16_PATH=amx|avx512-bf16|avx512f forces a path (tests, benchmarks); naming a path the
// CPU lacks is an error. Using AMX needs the kernel's permission for the tile state
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)), asked once before the first use.
#pragma once

namespace slab::cpu {

enum class Bf16Path { amx, avx512_bf16, avx512f };

const char* bf16_path_name(Bf16Path path);
// What this CPU (and kernel) can run.
bool cpu_supports(Bf16Path path);
// The path bf16 products use: SLAB_BF16_PATH when set, else the fastest supported one.
// Throws when the CPU has not even AVX-512F, or SLAB_BF16_PATH names an unknown or
// unsupported path.
Bf16Path bf16_path();
// Forces the path for this process (tests); throws when the CPU lacks it.
void force_bf16_path(Bf16Path path);

}  // namespace slab::cpu
