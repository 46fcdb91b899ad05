// The precision of convolutions and matrix products on float32 tensors, process-wide (like
// PyTorch's autocast, without a second copy of the weights): fp32, or bf16, where their
// inputs are rounded to bf16 and the products summed in float32, on the CPU's matrix units
// (core/cpu/gemm_bf16.h, docs/algorithm.md#bf16-matrix-products) or on a GPU's tensor cores
// (core/cuda/bf16_products.h). Everything else (batch
// norm statistics, softmax, the loss, the weights, their gradients and every optimizer
// state) stays float32 in both modes; float64 tensors are never rounded.
#pragma once
#include <string>

namespace slab {

enum class Precision { fp32, bf16 };

void set_matmul_precision(Precision precision);
Precision matmul_precision();
const char* precision_name(Precision precision);
// "fp32" or "bf16"; anything else is an error naming the text.
Precision parse_precision(const std::string& text);
// For the backend line: "fp32", or "bf16 (amx)" with the CPU path that runs it; with
// `gpu`, how a GPU runs it.
std::string precision_description(bool gpu = false);

}  // namespace slab
