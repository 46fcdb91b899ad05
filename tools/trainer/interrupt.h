// Ctrl-C during training: the first SIGINT asks the loop to finish its step, write
// checkpoints/latest and exit 130; a second one stops the process at once.
#pragma once

namespace slab::tools {

// Installs the handler for its lifetime (and restores the previous one).
class InterruptHandler {
 public:
  InterruptHandler();
  ~InterruptHandler();
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

  // Whether SIGINT arrived since the handler was installed.
  static bool requested();

 private:
  void (*previous_)(int);
};

}  // namespace slab::tools
