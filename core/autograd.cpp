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

Node::~Node() {
  // Moving a producer that only this edge owns onto the stack, before the node owning the
  // edge dies, turns the chain of destructors into a loop: each popped node is destroyed
  // with its sole-owned producers already taken out, so its own destructor goes no deeper.
  std::vector<std::shared_ptr<Node>> orphans;
  const auto take_sole_producers = [&orphans](Node& node) {
    for (Edge& edge : node.edges)
      if (edge.producer && edge.producer.use_count() == 1) orphans.push_back(std::move(edge.producer));
  };
  take_sole_producers(*this);
  while (!orphans.empty()) {
    std::shared_ptr<Node> node = std::move(orphans.back());
    orphans.pop_back();
    take_sole_producers(*node);
  }  // `node` is destroyed here, one level deep
}

Node* record_op(Tensor& output, const char* op_name, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!any_requires_grad(inputs)) return nullptr;
  auto node = std::make_shared<Node>();
  node->op_name = op_name;
  node->edges.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    Edge& edge = node->edges[i];
    if (!input.defined()) continue;
    edge.defined = true;
    edge.shape = input.shape();
    edge.dtype = input.dtype();
    edge.device = input.device();
    if (!input.requires_grad()) continue;
    // A non-leaf input is reached through its producer; the tensor (and its storage) is
    // not referenced. A leaf is referenced: its gradient accumulates on it, and a leaf
    // requiring a gradient (a parameter) is kept alive by its owner anyway.
    if (input.grad_fn()) edge.producer = input.grad_fn();
    else edge.leaf = input.impl_ptr();
  }
  node->backward = std::move(backward);
  output.impl()->grad_fn = node;
  output.impl()->requires_grad = true;
  return node.get();
}

namespace {

// Reverse topological order of the nodes reachable from root through the edges, by an
// explicit-stack depth-first search (post-order). Holds shared pointers: freeing a node's
// edges as backward runs must not destroy nodes still to run.
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_set<Node*> visited;
  struct Frame {
    std::shared_ptr<Node> node;
    size_t next_edge;
  };
  std::vector<Frame> stack{{root, 0}};
  visited.insert(root.get());
  while (!stack.empty()) {
    Frame& frame = stack.back();
    if (frame.next_edge < frame.node->edges.size()) {
      const std::shared_ptr<Node>& producer = frame.node->edges[frame.next_edge++].producer;
      if (producer && visited.insert(producer.get()).second) stack.push_back({producer, 0});
      continue;
    }
    order.push_back(std::move(frame.node));
    stack.pop_back();
  }
  return {order.rbegin(), order.rend()};  // root first
}

void check_gradient_shape(const Tensor& gradient, const Shape& shape, DType dtype, Device device,
                          const char* op_name) {
  SLAB_CHECK(gradient.shape() == shape, "backward of ", op_name, ": gradient of shape ", gradient.shape(),
             " for an input of shape ", shape);
  SLAB_CHECK(gradient.dtype() == dtype && gradient.device() == device, "backward of ", op_name,
             ": gradient is ", gradient.dtype(), " on ", gradient.device(), ", input is ", dtype, " on ",
             device);
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

void accumulate_leaf(TensorImpl& leaf, Tensor g) {
  // Gradients accumulate across backward calls (zero_grad() clears them).
  leaf.grad = leaf.grad ? add(Tensor(leaf.grad), g).impl_ptr() : owned(std::move(g)).impl_ptr();
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
  check_gradient_shape(seed, root.shape(), root.dtype(), root.device(), "the root");

  NoGradGuard no_grad;  // closures run ops; they must not record
  if (!root.grad_fn()) {  // a leaf root: its gradient is the seed
    accumulate_leaf(*root.impl(), std::move(seed));
    return;
  }

  std::unordered_map<Node*, Tensor> pending;  // gradients of the outputs of nodes not yet run
  auto accumulate = [&](Node* node, Tensor g) {
    auto [it, inserted] = pending.try_emplace(node, g);
    if (!inserted) it->second = add(it->second, g);
  };
  accumulate(root.grad_fn().get(), std::move(seed));

  // Runs a node (if a gradient reached it), hands each input its gradient, then frees the
  // node's closure and edges.
  auto run_node = [&](Node& node) {
    SLAB_CHECK(!node.released, "backward(): the graph through ", node.op_name,
               " was already freed by an earlier backward; run the forward pass again");
    auto it = pending.find(&node);
    if (it == pending.end()) return;  // no gradient flows here
    Tensor g = std::move(it->second);
    pending.erase(it);
    std::vector<Tensor> input_grads = node.backward(g);
    SLAB_CHECK(input_grads.size() == node.edges.size(), "backward of ", node.op_name, " returned ",
               input_grads.size(), " gradients for ", node.edges.size(), " inputs");
    for (size_t i = 0; i < node.edges.size(); ++i) {
      const Edge& edge = node.edges[i];
      if (!edge.requires_grad() || !input_grads[i].defined()) continue;
      check_gradient_shape(input_grads[i], edge.shape, edge.dtype, edge.device, node.op_name);
      if (edge.producer) accumulate(edge.producer.get(), std::move(input_grads[i]));
      else accumulate_leaf(*edge.leaf, std::move(input_grads[i]));
    }
    // Free the graph as we go: the closure and its captured tensors are no longer needed.
    node.backward = nullptr;
    node.edges.clear();
    node.released = true;
  };

  std::vector<std::shared_ptr<Node>> order = topological_order(root.grad_fn());
  for (std::shared_ptr<Node>& node : order) {
    run_node(*node);
    // Every consumer of this node's output ran before it, so nothing later needs it.
    node.reset();
  }
}

}  // namespace slab
