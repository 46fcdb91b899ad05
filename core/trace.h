// The op tracer: while a Tracer is installed on a thread (ScopedTrace), every traced op that
// runs on that thread appends one TracedOp to it: the op's name, its input and output
// tensors and its attributes (stride, padding, groups, eps, ...). One eval-mode forward pass
// under a tracer is the network as a list of ops; tools/export/ turns that list into a graph
// (the exporter of slab-export). With no tracer installed an op pays one thread-local
// pointer test (trace::active()), nothing else.
//
// Ops call others (linear may call matmul; flatten is a reshape): the inner ops are traced
// too, before the outer one, and a consumer of the trace that walks back from the outputs
// finds only the outer op, whose inputs are the caller's tensors. The trace holds handles to
// the tensors, so no tensor it names is freed (and no address reused) while it lives.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace slab::trace {

struct TracedOp {
  std::string op;              // "conv2d", "batch_norm", "relu", "add", ...
  std::vector<Tensor> inputs;  // in the op's argument order; an absent optional input is undefined
  Tensor output;
  std::vector<int64_t> ints;   // the op's integer attributes, in the order its call site documents
  std::vector<double> reals;   // its real attributes
};

struct Tracer {
  std::vector<TracedOp> ops;
};

namespace detail {
extern thread_local Tracer* current;
}

inline bool active() { return detail::current != nullptr; }

// Appends one op to the installed tracer (call only when active()). An op whose output is its
// input unchanged (a reshape to the same shape) is not recorded: it is no op.
void record(const char* op, std::vector<Tensor> inputs, const Tensor& output, std::vector<int64_t> ints = {},
            std::vector<double> reals = {});

// Installs `tracer` on this thread for the scope's lifetime (the previous one is restored).
class ScopedTrace {
 public:
  explicit ScopedTrace(Tracer& tracer) : previous_(detail::current) { detail::current = &tracer; }
  ~ScopedTrace() { detail::current = previous_; }
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  Tracer* previous_;
};

}  // namespace slab::trace
