#include "core/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <limits>
#include <sstream>

#include "core/autograd.h"
#ifdef SLAB_WITH_CUDA
#include "core/cuda/runtime.h"
#endif

namespace slab {

namespace {

// Element i of a CPU buffer, as double.
double load(const void* data, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::f32: return static_cast<const float*>(data)[i];
    case DType::f64: return static_cast<const double*>(data)[i];
    case DType::i64: return static_cast<double>(static_cast<const int64_t*>(data)[i]);
  }
  return 0;
}

void store(void* data, DType dtype, int64_t i, double value) {
  switch (dtype) {
    case DType::f32: static_cast<float*>(data)[i] = static_cast<float>(value); break;
    case DType::f64: static_cast<double*>(data)[i] = value; break;
    case DType::i64: static_cast<int64_t*>(data)[i] = static_cast<int64_t>(value); break;
  }
}

int64_t flat_index(const Shape& shape, const std::vector<int64_t>& index) {
  SLAB_CHECK(index.size() == shape.size(), "element access: index of rank ", index.size(),
             " into a tensor of shape ", shape);
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    SLAB_CHECK(index[d] >= 0 && index[d] < shape[d], "element access: index ", index[d],
               " out of range in dimension ", d, " of shape ", shape);
    flat = flat * shape[d] + index[d];
  }
  return flat;
}

void require_cpu(const Tensor& t, const char* what) {
  SLAB_CHECK(t.device().is_cpu(), what, ": needs a CPU tensor, got one on ", t.device(),
             " (copy it with .to(Device::cpu()))");
}

}  // namespace

namespace {
bool poisoning = false;
}

void set_tensor_poisoning(bool on) { poisoning = on; }

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t extent : shape)
    SLAB_CHECK(extent >= 0, "cannot create a tensor of shape ", shape, ": negative extent");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  Tensor out(std::move(impl));
  if (poisoning && device.is_cpu())
    out.fill(dtype == DType::i64 ? static_cast<double>(INT64_MIN) : std::numeric_limits<double>::infinity());
  return out;
}

const TensorImpl& Tensor::checked() const {
  SLAB_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked().shape; }
DType Tensor::dtype() const { return checked().dtype; }
Device Tensor::device() const { return checked().storage->device(); }
void* Tensor::raw_data() const { return checked().storage->data(); }

int64_t Tensor::size(int64_t d) const {
  SLAB_CHECK(dim() > 0, "size(", d, "): a 0-dimensional tensor has no dimensions");
  return shape()[wrap_dim(d, dim(), "size")];
}

double Tensor::item() const {
  SLAB_CHECK(numel() == 1, "item(): tensor of shape ", shape(), " has ", numel(), " elements, expected 1");
  if (!device().is_cpu()) return to(Device::cpu()).item();
  return load(raw_data(), dtype(), 0);
}

double Tensor::at(const std::vector<int64_t>& index) const {
  require_cpu(*this, "at()");
  return load(raw_data(), dtype(), flat_index(shape(), index));
}

void Tensor::set(const std::vector<int64_t>& index, double value) const {
  require_cpu(*this, "set()");
  store(raw_data(), dtype(), flat_index(shape(), index), value);
}

std::vector<double> Tensor::to_vector() const {
  if (!device().is_cpu()) return to(Device::cpu()).to_vector();
  std::vector<double> values(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) values[i] = load(raw_data(), dtype(), i);
  return values;
}

bool Tensor::requires_grad() const { return checked().requires_grad; }

const Tensor& Tensor::set_requires_grad(bool value) const {
  SLAB_CHECK(!value || dtype() != DType::i64, "requires_grad: an int64 tensor cannot require a gradient");
  impl_->requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(checked().grad); }

void Tensor::set_grad(const Tensor& g) const {
  if (g.defined())
    SLAB_CHECK(g.shape() == shape(), "set_grad: gradient of shape ", g.shape(), " for a tensor of shape ", shape());
  checked();
  impl_->grad = g.impl_ptr();
}

void Tensor::zero_grad() const {
  checked();
  impl_->grad.reset();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked().grad_fn; }

void Tensor::backward(const Tensor& gradient) const { run_backward(*this, gradient); }

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape();
  impl->dtype = dtype();
  impl->storage = checked().storage;
  return Tensor(std::move(impl));
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor out = empty(shape(), target, device());
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor out = empty(shape(), dtype(), target);
  out.copy_from(*this);
  return out;
}

void Tensor::copy_from(const Tensor& source) const {
  SLAB_CHECK(source.shape() == shape(), "copy_from: source of shape ", source.shape(),
             " into a tensor of shape ", shape());
  if (source.device() != device() || source.dtype() != dtype()) {
    if (source.dtype() != dtype()) {
      // Convert on the host: conversions are rare (checkpoints, gradient checks).
      Tensor host = source.device().is_cpu() ? source : source.to(Device::cpu());
      Tensor converted = empty(shape(), dtype(), Device::cpu());
      for (int64_t i = 0; i < numel(); ++i) store(converted.raw_data(), dtype(), i, load(host.raw_data(), host.dtype(), i));
      copy_from(converted);
      return;
    }
#ifdef SLAB_WITH_CUDA
    if (source.device().is_cpu())
      cuda::copy_host_to_device(raw_data(), source.raw_data(), nbytes(), device().index);
    else if (device().is_cpu())
      cuda::copy_device_to_host(raw_data(), source.raw_data(), nbytes(), source.device().index);
    else
      cuda::copy_device_to_device(raw_data(), source.raw_data(), nbytes(), device().index);
    return;
#else
    SLAB_FAIL("copy between ", source.device(), " and ", device(), ": built without CUDA");
#endif
  }
  if (raw_data() == source.raw_data()) return;
  if (device().is_cpu()) {
    std::memcpy(raw_data(), source.raw_data(), nbytes());
    return;
  }
#ifdef SLAB_WITH_CUDA
  cuda::copy_device_to_device(raw_data(), source.raw_data(), nbytes(), device().index);
#endif
}

void Tensor::fill(double value) const {
  if (!device().is_cpu()) {
#ifdef SLAB_WITH_CUDA
    cuda::fill(raw_data(), dtype(), numel(), value, device().index);  // a kernel: no host buffer
#endif
    return;
  }
  void* data = raw_data();
  const int64_t n = numel();
  switch (dtype()) {
    case DType::f32: std::fill_n(static_cast<float*>(data), n, static_cast<float>(value)); break;
    case DType::f64: std::fill_n(static_cast<double*>(data), n, value); break;
    case DType::i64: std::fill_n(static_cast<int64_t*>(data), n, static_cast<int64_t>(value)); break;
  }
}

Tensor Tensor::reshape(const Shape& target) const {
  Shape resolved = target;
  int64_t known = 1, infer_at = -1;
  for (size_t d = 0; d < resolved.size(); ++d) {
    if (resolved[d] == -1) {
      SLAB_CHECK(infer_at < 0, "reshape: more than one -1 in ", target);
      infer_at = static_cast<int64_t>(d);
    } else {
      SLAB_CHECK(resolved[d] >= 0, "reshape: negative extent in ", target);
      known *= resolved[d];
    }
  }
  if (infer_at >= 0) {
    SLAB_CHECK(known > 0 && numel() % known == 0, "reshape: cannot infer -1 in ", target,
               " for a tensor of shape ", shape(), " (", numel(), " elements)");
    resolved[infer_at] = numel() / known;
  }
  SLAB_CHECK(shape_numel(resolved) == numel(), "reshape: cannot view a tensor of shape ", shape(), " (",
             numel(), " elements) as ", target, " (", shape_numel(resolved), " elements)");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = resolved;
  impl->dtype = dtype();
  impl->storage = checked().storage;
  Tensor out(std::move(impl));
  if (requires_grad() && grad_mode_enabled()) {
    const Shape original = shape();
    record_op(out, "reshape", {*this}, [original](const Tensor& g) -> std::vector<Tensor> {
      return {g.reshape(original)};
    });
  }
  return out;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream out;
  out << "Tensor(shape=" << shape() << ", dtype=" << dtype() << ", device=" << device();
  if (requires_grad()) out << ", requires_grad";
  out << ")\n";
  const std::vector<double> values = to_vector();
  const int64_t last = dim() == 0 ? 1 : shape().back();
  const int64_t shown = std::min<int64_t>(numel(), 64);
  out << std::setprecision(6);
  for (int64_t i = 0; i < shown; ++i) {
    out << (i % last == 0 ? (i ? "]\n[" : "[") : ", ") << values[i];
  }
  if (shown > 0) out << (shown < numel() ? ", ...]" : "]");
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Tensor& t) { return out << t.str(); }

// ---- creation -------------------------------------------------------------------------
namespace {
Tensor make(const Shape& shape, TensorOptions options) {
  Tensor t = Tensor::empty(shape, options.dtype, options.device);
  return t;
}
}  // namespace

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor out = make(shape, {options.dtype, options.device, false});
  out.fill(value);  // on the GPU a fill kernel, not a host buffer and a copy
  out.set_requires_grad(options.requires_grad);
  return out;
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }

Tensor arange(int64_t count, TensorOptions options) {
  std::vector<double> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[i] = static_cast<double>(i);
  return from_vector(values, {count}, options);
}

Tensor from_vector(const std::vector<double>& values, const Shape& shape, TensorOptions options) {
  SLAB_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
             " values for shape ", shape, " (", shape_numel(shape), " elements)");
  Tensor host = make(shape, {options.dtype, Device::cpu(), false});
  for (size_t i = 0; i < values.size(); ++i) store(host.raw_data(), options.dtype, static_cast<int64_t>(i), values[i]);
  Tensor out = options.device.is_cpu() ? host : host.to(options.device);
  out.set_requires_grad(options.requires_grad);
  return out;
}

Tensor from_vector_f32(const std::vector<float>& values, const Shape& shape) {
  SLAB_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector_f32: ", values.size(),
             " values for shape ", shape);
  Tensor out = Tensor::empty(shape, DType::f32);
  if (!values.empty()) std::memcpy(out.raw_data(), values.data(), values.size() * sizeof(float));
  return out;
}

Tensor labels_from_vector(const std::vector<int64_t>& values) {
  Tensor out = Tensor::empty({static_cast<int64_t>(values.size())}, DType::i64);
  if (!values.empty()) std::memcpy(out.raw_data(), values.data(), values.size() * sizeof(int64_t));  // memcpy of null is undefined
  return out;
}

Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {t.dtype(), t.device()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {t.dtype(), t.device()}); }

}  // namespace slab
