// Pooling over NCHW tensors: max and average pooling with kernel, stride and zero padding
// (PyTorch's max_pool2d / avg_pool2d with ceil_mode = false, count_include_pad = true), and
// adaptive average pooling to a fixed output size. Each output cell reduces one window of
// its own input plane; the backwards send the gradient back to the window (all of it for
// the averages, the first maximum for max pooling).
#include "core/ops_common.h"
#include "core/trace.h"

namespace slab {

using detail::check_float;

namespace {

void check_pool_input(const Tensor& x, const char* name) {
  check_float(x, name);
  SLAB_CHECK(x.dim() == 4, name, ": input must be [n, c, h, w] (rank 4), got ", x.shape());
}

// Output extent of a window sweep (floor, as ceil_mode = false); throws naming the shapes.
int64_t pooled_extent(const Tensor& x, int64_t input, int64_t kernel, int64_t stride, int64_t pad, const char* axis,
                      const char* name) {
  SLAB_CHECK(kernel >= 1 && stride >= 1 && pad >= 0, name, ": kernel and stride must be >= 1 and padding >= 0, got ",
             axis, " kernel ", kernel, ", stride ", stride, ", padding ", pad);
  SLAB_CHECK(2 * pad <= kernel, name, ": padding ", pad, " must be at most half the kernel ", kernel, " (", axis,
             ")");
  SLAB_CHECK(kernel <= input + 2 * pad, name, ": kernel ", kernel, " is larger than the padded input ", x.shape(),
             " (", axis, " ", input, " + 2 x padding ", pad, ")");
  return (input + 2 * pad - kernel) / stride + 1;
}

Shape pooled_shape(const Tensor& x, const Pool2dOptions& o, const char* name) {
  return {x.size(0), x.size(1), pooled_extent(x, x.size(2), o.kernel[0], o.stride[0], o.padding[0], "height", name),
          pooled_extent(x, x.size(3), o.kernel[1], o.stride[1], o.padding[1], "width", name)};
}

// Attributes: kernel h w, stride h w, padding h w.
void trace_pool(const char* name, const Tensor& x, const Tensor& out, const Pool2dOptions& o) {
  trace::record(name, {x}, out, {o.kernel[0], o.kernel[1], o.stride[0], o.stride[1], o.padding[0], o.padding[1]});
}

}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o) {
  check_pool_input(x, "max_pool2d");
  const Shape out_shape = pooled_shape(x, o, "max_pool2d");
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  const bool record = any_requires_grad({x});
  const Tensor indices = record ? Tensor::empty(out_shape, DType::i64, x.device()) : Tensor();
  SLAB_KERNEL(x.device(), max_pool2d_forward, x, out, indices, o.kernel[0], o.kernel[1], o.stride[0], o.stride[1],
              o.padding[0], o.padding[1]);
  if (record) {
    // The positions of the maxima are all the backward needs.
    record_op(out, "max_pool2d", {x}, [indices, x_shape = x.shape()](const Tensor& grad_out) {
      Tensor grad_x = Tensor::empty(x_shape, grad_out.dtype(), grad_out.device());
      SLAB_KERNEL(grad_out.device(), max_pool2d_backward, grad_out, indices, grad_x);
      return std::vector<Tensor>{grad_x};
    });
  }
  if (trace::active()) trace_pool("max_pool2d", x, out, o);
  return out;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& o) {
  check_pool_input(x, "avg_pool2d");
  Tensor out = Tensor::empty(pooled_shape(x, o, "avg_pool2d"), x.dtype(), x.device());
  SLAB_KERNEL(x.device(), avg_pool2d_forward, x, out, o.kernel[0], o.kernel[1], o.stride[0], o.stride[1],
              o.padding[0], o.padding[1]);
  record_op(out, "avg_pool2d", {x}, [x_shape = x.shape(), o](const Tensor& grad_out) {
    Tensor grad_x = Tensor::empty(x_shape, grad_out.dtype(), grad_out.device());
    SLAB_KERNEL(grad_out.device(), avg_pool2d_backward, grad_out, grad_x, o.kernel[0], o.kernel[1], o.stride[0],
                o.stride[1], o.padding[0], o.padding[1]);
    return std::vector<Tensor>{grad_x};
  });
  if (trace::active()) trace_pool("avg_pool2d", x, out, o);
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size) {
  check_pool_input(x, "adaptive_avg_pool2d");
  SLAB_CHECK(output_size[0] >= 1 && output_size[1] >= 1, "adaptive_avg_pool2d: output size must be >= 1, got [",
             output_size[0], ", ", output_size[1], "]");
  SLAB_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "adaptive_avg_pool2d: empty input plane ", x.shape());
  Tensor out = Tensor::empty({x.size(0), x.size(1), output_size[0], output_size[1]}, x.dtype(), x.device());
  SLAB_KERNEL(x.device(), adaptive_avg_pool2d_forward, x, out);
  record_op(out, "adaptive_avg_pool2d", {x}, [x_shape = x.shape()](const Tensor& grad_out) {
    Tensor grad_x = Tensor::empty(x_shape, grad_out.dtype(), grad_out.device());
    SLAB_KERNEL(grad_out.device(), adaptive_avg_pool2d_backward, grad_out, grad_x);
    return std::vector<Tensor>{grad_x};
  });
  if (trace::active()) trace::record("adaptive_avg_pool2d", {x}, out, {output_size[0], output_size[1]});
  return out;
}

}  // namespace slab
