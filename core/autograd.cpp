#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/ops.h"

namespace slab {

namespace {
thread_local bool grad_mode = true;
}

bool grad_mode_enabled() { return grad_mode; }

NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!grad_mode) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Node* record_op(Tensor& output, const char* op_name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!any_requires_grad(inputs)) return nullptr;
  auto node = std::make_shared<Node>();
  node->op_name = op_name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  output.impl()->grad_fn = node;
  output.impl()->requires_grad = true;
  return node.get();
}

namespace {

// Reverse topological order of the tensors reachable from root through grad_fn edges,
// by an explicit-stack depth-first search (post-order).
// Holds shared pointers: freeing a node's inputs must not destroy tensors still to visit.
std::vector<std::shared_ptr<TensorImpl>> topological_order(const Tensor& root) {
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_set<TensorImpl*> visited;
  struct Frame {
    std::shared_ptr<TensorImpl> tensor;
    size_t next_input;
  };
  std::vector<Frame> stack{{root.impl_ptr(), 0}};
  visited.insert(root.impl());
  while (!stack.empty()) {
    Frame& frame = stack.back();
    Node* node = frame.tensor->grad_fn.get();
    if (node != nullptr && frame.next_input < node->inputs.size()) {
      const std::shared_ptr<TensorImpl>& input = node->inputs[frame.next_input++].impl_ptr();
      if (input != nullptr && input->requires_grad && input->grad_fn && visited.insert(input.get()).second)
        stack.push_back({input, 0});
      continue;
    }
    order.push_back(std::move(frame.tensor));
    stack.pop_back();
  }
  return {order.rbegin(), order.rend()};  // root first
}

void check_gradient_shape(const Tensor& gradient, const Tensor& target, const char* op_name) {
  SLAB_CHECK(gradient.shape() == target.shape(), "backward of ", op_name, ": gradient of shape ",
             gradient.shape(), " for an input of shape ", target.shape());
  SLAB_CHECK(gradient.dtype() == target.dtype() && gradient.device() == target.device(), "backward of ",
             op_name, ": gradient is ", gradient.dtype(), " on ", gradient.device(), ", input is ",
             target.dtype(), " on ", target.device());
}

// The first gradient a leaf receives becomes its .grad. It is kept as is only when nothing
// else can see its storage: a closure may hand one tensor to two inputs (add returns its
// upstream gradient for both operands), a reshape's gradient is a view of its upstream
// one, and a root that is a leaf receives the caller's own gradient tensor. An in-place
// update of one .grad (weight decay, gradient clipping) must not change another tensor.
Tensor owned(Tensor g) {
  if (g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1) return g;
  return g.clone();
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& gradient) {
  SLAB_CHECK(root.requires_grad(), "backward(): the tensor of shape ", root.shape(),
             " does not require a gradient (no input had requires_grad set)");
  Tensor seed = gradient;
  if (!seed.defined()) {
    SLAB_CHECK(root.numel() == 1, "backward(): the tensor of shape ", root.shape(),
               " is not a scalar; pass a gradient of that shape");
    seed = ones(root.shape(), {root.dtype(), root.device()});
  }
  check_gradient_shape(seed, root, "the root");

  NoGradGuard no_grad;  // closures run ops; they must not record
  std::unordered_map<TensorImpl*, Tensor> pending;  // gradients of non-leaf tensors
  auto accumulate = [&](const Tensor& target, Tensor g) {
    TensorImpl* impl = target.impl();
    if (impl->grad_fn) {
      auto [it, inserted] = pending.try_emplace(impl, g);
      if (!inserted) it->second = add(it->second, g);
    } else {
      // Leaf: gradients accumulate across backward calls (zero_grad() clears them).
      impl->grad = impl->grad ? add(Tensor(impl->grad), g).impl_ptr() : owned(std::move(g)).impl_ptr();
    }
  };
  accumulate(root, seed);

  // Runs the node that produced `tensor` (if a gradient reached it), then frees the node.
  auto run_node = [&](TensorImpl* tensor) {
    auto node_ptr = tensor->grad_fn;  // keep alive while it runs
    if (!node_ptr) return;
    Node& node = *node_ptr;
    SLAB_CHECK(!node.released, "backward(): the graph through ", node.op_name,
               " was already freed by an earlier backward; run the forward pass again");
    auto it = pending.find(tensor);
    if (it == pending.end()) return;  // no gradient flows here
    Tensor g = std::move(it->second);
    pending.erase(it);
    std::vector<Tensor> input_grads = node.backward(g);
    SLAB_CHECK(input_grads.size() == node.inputs.size(), "backward of ", node.op_name, " returned ",
               input_grads.size(), " gradients for ", node.inputs.size(), " inputs");
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Tensor& input = node.inputs[i];
      if (!input.defined() || !input.requires_grad() || !input_grads[i].defined()) continue;
      check_gradient_shape(input_grads[i], input, node.op_name);
      accumulate(input, std::move(input_grads[i]));
    }
    // Free the graph as we go: the closure and its captured tensors are no longer needed.
    node.backward = nullptr;
    node.inputs.clear();
    node.released = true;
  };

  std::vector<std::shared_ptr<TensorImpl>> order = topological_order(root);
  for (std::shared_ptr<TensorImpl>& tensor : order) {
    run_node(tensor.get());
    // Every consumer of this tensor ran before it, so nothing later needs it: dropping the
    // order's reference frees an activation as soon as the graph lets go of it, rather
    // than holding every forward output until the whole backward pass ends.
    tensor.reset();
  }
}

}  // namespace slab
