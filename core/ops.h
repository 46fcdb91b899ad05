// The public ops: one function per op, each recording its backward when an input requires
// a gradient. Every op dispatches once on the device to a kernel with the same signature in
// cpu:: (core/cpu/) and cuda:: (core/cuda/). Errors name the shapes and values involved.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/autograd.h"
#include "core/tensor.h"

namespace slab {

class Generator;

// ---- elementwise arithmetic, NumPy-style broadcasting ---------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor rsub(double a, const Tensor& b);  // a - b

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
inline Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
inline Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
inline Tensor operator/(const Tensor& a, double b) { return mul(a, 1.0 / b); }

// ---- elementwise functions ------------------------------------------------------------
Tensor neg(const Tensor& x);
inline Tensor operator-(const Tensor& x) { return neg(x); }
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor abs(const Tensor& x);  // gradient sign(x), 0 at 0
Tensor clamp(const Tensor& x, double min_value, double max_value);  // gradient 1 strictly inside
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// ---- linear algebra -------------------------------------------------------------------
// [m,k]x[k,n] -> [m,n]; [b,m,k]x[b,k,n] -> [b,m,n]; [b,m,k]x[k,n] -> [b,m,n].
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., in] W [out, in] -> x W^T + bias (bias [out] may be undefined).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- reductions -----------------------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements -> shape []
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
struct MaxResult {
  Tensor values;
  Tensor indices;  // int64
};
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);  // gradient to the first maximum
Tensor max(const Tensor& x);                                       // all elements -> shape []
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // int64, not differentiable
// The number of NaN and infinite elements over all of `tensors` (float, on one device;
// undefined ones are skipped), as an int64 [1] tensor on that device, so a caller that
// checks a GPU step reads it back when it reads the loss. Not differentiable.
Tensor count_non_finite(const std::vector<Tensor>& tensors, Device device);
// Sums a broadcast gradient back to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
// Broadcasts x to `shape` (a copy; the backward of sum).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

// ---- shape ----------------------------------------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  // a free view
Tensor flatten(const Tensor& x, int64_t start_dim = 1, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);  // [start, end)

// ---- convolution and pooling (NCHW) ---------------------------------------------------
struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};
// x [n, c_in, h, w], weight [c_out, c_in/groups, kh, kw], bias [c_out] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv2dOptions& options = {});

struct Pool2dOptions {
  std::array<int64_t, 2> kernel{2, 2};
  std::array<int64_t, 2> stride{2, 2};
  std::array<int64_t, 2> padding{0, 0};
};
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options);  // count_include_pad = true, as PyTorch
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size);

// Batch normalisation over [n, c] or [n, c, h, w]. Training: normalises with the batch
// statistics and updates running_mean/var in place (unbiased variance, PyTorch's
// momentum convention: running = (1 - momentum) running + momentum batch).
// Evaluation: normalises with the running statistics. weight/bias may be undefined.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm(...)) in one pass over memory each way: the same values and gradients
// as the two ops (the forward writes max(0, normalised x); the backward masks the gradient
// by that output inside the batch norm's passes), without the ReLU's tensor and passes.
// While a trace records (export), it records the two ops.
Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// ---- regularisation, probabilities, losses --------------------------------------------
Tensor dropout(const Tensor& x, double p, bool training, Generator& generator);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// logits [n, classes], targets int64 [n]; mean of -log softmax(logits)[target].
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
Tensor mse_loss(const Tensor& prediction, const Tensor& target);  // mean squared error
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets);  // mean

// ---- in-place updates without history (optimizers, initialisers) -----------------------
void add_(const Tensor& dst, const Tensor& src, double alpha = 1.0);  // dst += alpha * src
void mul_(const Tensor& dst, double value);                         // dst *= value

}  // namespace slab
