// Reverse-mode autograd as a tape of closures (micrograd's idea, flashlight's shape).
//
// An op that records itself gives its output a Node: one edge per input, and a closure
// mapping the gradient of the output to one gradient per input. An edge points at where
// that input's gradient goes (the Node that produced it, or the leaf itself) and never
// holds the input's storage: an activation stays alive only while a closure captured it
// (detail::saved), so the forward pass keeps what backward reads and nothing else.
// backward() orders the nodes with an iterative depth-first search (a 110-layer ResNet
// never touches the C++ stack depth), runs the closures in reverse topological order,
// accumulates gradients with shape checks, and frees every closure it ran.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace slab {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// Where the gradient of one input of an op goes, and what it must look like.
struct Edge {
  std::shared_ptr<Node> producer;    // the input's grad_fn, when it is not a leaf
  std::shared_ptr<TensorImpl> leaf;  // the input itself, when it is a leaf requiring a gradient
  // The input as recorded: the shape, dtype and device its gradient must have. Kept for
  // every defined input (also those not requiring a gradient) so the graph can be read.
  bool defined = false;
  Shape shape;
  DType dtype = DType::f32;
  Device device;

  bool requires_grad() const { return producer != nullptr || leaf != nullptr; }
};

struct Node {
  const char* op_name = "";
  std::vector<Edge> edges;  // one per input; one gradient is returned per edge (undefined = zero)
  BackwardFn backward;      // captures only what the gradient needs
  bool released = false;    // set once backward has run and freed the closure and edges

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Frees the producers this node alone kept alive with an explicit stack, not one C++
  // frame per op: a deep graph dropped without backward must not overflow the stack.
  ~Node();

  // True when input i needs a gradient (closures skip work for the others).
  bool needs_grad(size_t i) const { return i < edges.size() && edges[i].requires_grad(); }
};

// Is recording on? Off inside a NoGradGuard, and while backward runs.
bool grad_mode_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any of the inputs requires a gradient.
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Attaches a Node to `output` when recording is on and an input requires a gradient.
// Returns the node (or null) so callers can inspect it; the usual call ignores it.
// The inputs are read here (for the edges) and not kept.
Node* record_op(Tensor& output, const char* op_name, const std::vector<Tensor>& inputs, BackwardFn backward);

// The engine behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& gradient);

}  // namespace slab
