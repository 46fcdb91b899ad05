// Reverse-mode autograd as a tape of closures (micrograd's idea, flashlight's shape).
//
// An op that records itself gives its output a Node: the inputs it differentiates with
// respect to, and a closure mapping the gradient of the output to one gradient per input.
// backward() orders the graph with an iterative depth-first search (a 110-layer ResNet
// never touches the C++ stack depth), runs the closures in reverse topological order,
// accumulates gradients with shape checks, and frees every closure it ran.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace slab {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  const char* op_name = "";
  std::vector<Tensor> inputs;  // one gradient is returned per input (undefined = zero)
  BackwardFn backward;         // captures only what the gradient needs
  bool released = false;       // set once backward has run and freed the closure

  // True when input i needs a gradient (closures skip work for the others).
  bool needs_grad(size_t i) const { return i < inputs.size() && inputs[i].requires_grad(); }
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
Node* record_op(Tensor& output, const char* op_name, std::vector<Tensor> inputs, BackwardFn backward);

// The engine behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& gradient);

}  // namespace slab
