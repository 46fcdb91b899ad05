// Ctrl-C (SIGINT) or SIGTERM during training: the first one asks the loop to finish its
// step, write checkpoints/latest and exit with 128 + the signal's number (130, 143); a
// second one stops the process at once.
#pragma once

namespace slab::tools {

// Installs the handler for both signals for its lifetime (and restores the previous ones).
class InterruptHandler {
 public:
  InterruptHandler();
  ~InterruptHandler();
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

  // Whether SIGINT or SIGTERM arrived since the handler was installed.
  static bool requested();
  // The signal that arrived first (0: none).
  static int signal_number();

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

}  // namespace slab::tools
