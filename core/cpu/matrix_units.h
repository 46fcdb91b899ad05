// Which instructions run bf16 matrix products on this CPU, decided once at run time.
//
// The fallback chain, fastest first:
//   amx          AMX tiles: TDPBF16PS multiplies a 16x32 bf16 tile by a 32x16 one into a
//                16x16 float32 tile (1,024 flops per instruction);
//   avx512-bf16  VDPBF16PS: 16 float32 lanes each accumulate a pair of bf16 products;
//   avx512f      the same pair products emulated with float32 FMAs (bf16 widened by a shift);
//   float32      any CPU: the inputs rounded to bf16 into float32 copies, multiplied by the
//                float32 GEMM (core/cpu/gemm.cpp). A product of two bf16 values is exact in
//                float32 (8 x 8 significand bits fit in 24), so this is the same contract;
//                it saves no arithmetic, it only lets --precision bf16 run everywhere.
// Every path reads the same bf16 inputs (core/cpu/bf16.h) and accumulates in float32; they
// differ only in the order the float32 sums are rounded (avx512f reproduces avx512-bf16 bit
// for bit on normal numbers; AMX sums inside a tile in its own order, float32 in the float32
// GEMM's), within the bound of docs/algorithm.md#bf16-matrix-products.
//
// A -march=native build for a CPU without AVX-512F/BW has no AVX-512 or AMX kernels at all
// (CMakeLists.txt says why) and runs the float32 link whatever CPU it later runs on.
//
// SLAB_BF16_PATH=amx|avx512-bf16|avx512f|float32 forces a path (tests, benchmarks); naming a
// path the CPU lacks is an error. Using AMX needs the kernel's permission for the tile state
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)), asked once before the first use.
#pragma once

namespace slab::cpu {

enum class Bf16Path { amx, avx512_bf16, avx512f, float32 };
// Fastest first: the order bf16_path() tries them in.
inline constexpr Bf16Path kBf16Paths[] = {Bf16Path::amx, Bf16Path::avx512_bf16, Bf16Path::avx512f, Bf16Path::float32};
// Whether the path multiplies the packed bf16 tiles of core/cpu/gemm_bf16.h (all but float32).
inline constexpr bool multiplies_packed_tiles(Bf16Path path) { return path != Bf16Path::float32; }

const char* bf16_path_name(Bf16Path path);
// What this CPU (and kernel) can run.
bool cpu_supports(Bf16Path path);
// The path bf16 products use: SLAB_BF16_PATH when set, else the fastest supported one.
// Throws when SLAB_BF16_PATH names an unknown or unsupported path.
Bf16Path bf16_path();
// Forces the path for this process (tests); throws when the CPU lacks it.
void force_bf16_path(Bf16Path path);

}  // namespace slab::cpu
