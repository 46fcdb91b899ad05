// Tensor = shape + dtype + device + shared contiguous storage, plus the autograd fields.
// Copies of a Tensor share everything (it is a handle); clone() copies the data.
// Only reshape makes views (free for contiguous data); every other op writes a new tensor.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace slab {

struct Node;

struct TensorImpl {
  Shape shape;
  DType dtype = DType::f32;
  std::shared_ptr<Storage> storage;
  // autograd
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;   // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;      // the op that produced this tensor (null for leaves)
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // An uninitialised tensor (contents undefined): the op kernels' output buffer.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(shape()); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }

  // Typed access to the storage; checks the element type.
  template <typename T> T* data() const;
  void* raw_data() const;

  // Element access on a CPU tensor, converted to/from double (tests, printing, metrics).
  double item() const;  // the single element of a one-element tensor
  double at(const std::vector<int64_t>& index) const;
  void set(const std::vector<int64_t>& index, double value) const;
  std::vector<double> to_vector() const;  // all elements, row-major, as double

  // autograd
  bool requires_grad() const;
  const Tensor& set_requires_grad(bool value = true) const;
  Tensor grad() const;            // undefined until a backward pass reaches this leaf
  void set_grad(const Tensor& g) const;
  void zero_grad() const;         // drops the gradient
  const std::shared_ptr<Node>& grad_fn() const;
  bool is_leaf() const { return grad_fn() == nullptr; }
  // Backpropagates from this tensor; `gradient` may be omitted only for a one-element tensor.
  void backward(const Tensor& gradient = Tensor()) const;
  Tensor detach() const;          // same storage, no history

  // Copies and conversions (no history: use ops for differentiable transforms).
  Tensor clone() const;
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  void copy_from(const Tensor& source) const;  // same shape, any dtype/device
  void fill(double value) const;

  // Free view on the same storage; -1 infers one extent. Differentiable (see ops::reshape).
  Tensor reshape(const Shape& shape) const;

  std::string str() const;  // readable printing, shape and dtype first
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& out, const Tensor& t);

template <typename T>
T* Tensor::data() const {
  const TensorImpl& t = checked();
  SLAB_CHECK(t.dtype == dtype_of<T>(), "tensor of dtype ", t.dtype, " accessed as ", dtype_of<T>());
  return static_cast<T*>(t.storage->data());
}

// Test aid: while on, every CPU tensor that Tensor::empty hands out is filled with +infinity
// (int64: INT64_MIN), so an output element a kernel forgets to write is caught.
void set_tensor_poisoning(bool on);

// ---- creation -------------------------------------------------------------------------
struct TensorOptions {
  DType dtype = DType::f32;
  Device device = Device::cpu();
  bool requires_grad = false;
};

Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
Tensor arange(int64_t count, TensorOptions options = {});  // 0, 1, ..., count-1
Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options = {});
Tensor from_vector_f32(const std::vector<float>& values, const Shape& shape);
Tensor labels_from_vector(const std::vector<int64_t>& values);  // int64, shape [n]
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);

}  // namespace slab
