// The AVX-512 and AMX bf16 kernels' entry points for a build without them (CMakeLists.txt:
// a -march=native build for a CPU without AVX-512F/BW). matrix_units.cpp then reports those
// paths as unsupported, so none of these is ever called; each says why if it is.
#include <string>

#include "core/cpu/conv_paths.h"
#include "core/cpu/gemm_bf16_kernels.h"
#include "core/error.h"

namespace slab::cpu {

namespace {
[[noreturn]] void absent(const char* kernel) {
  throw Error(std::string("bf16 kernel ") + kernel + ": this build has no AVX-512 or AMX kernels (built for a CPU without AVX-512F)");
}
}  // namespace

namespace bf16_kernels {
void amx_tiles_begin() { absent("amx_tiles_begin"); }
void amx_tiles_end() { absent("amx_tiles_end"); }
void amx_block(const Block&) { absent("amx_block"); }
void avx512_bf16_block(const Block&) { absent("avx512_bf16_block"); }
void avx512f_block(const Block&) { absent("avx512f_block"); }
}  // namespace bf16_kernels

namespace conv {
bool amx_supports(const Geometry&, DType, Pass) { return false; }
void amx_forward(const Geometry&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) { absent("amx_forward"); }
void amx_backward_input(const Geometry&, const Tensor&, const Tensor&, const Tensor&) { absent("amx_backward_input"); }
void amx_backward_weight(const Geometry&, const Tensor&, const Tensor&, const Tensor&) { absent("amx_backward_weight"); }
}  // namespace conv

}  // namespace slab::cpu
