#include "tools/trainer/interrupt.h"

#include <atomic>
#include <csignal>

namespace slab::tools {

namespace {

std::atomic<int> received_signal{0};

extern "C" void on_interrupt(int signal) {
  int none = 0;
  if (!received_signal.compare_exchange_strong(none, signal)) {  // a second signal: stop at once
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}

}  // namespace

InterruptHandler::InterruptHandler() {
  received_signal.store(0);
  previous_int_ = std::signal(SIGINT, on_interrupt);
  previous_term_ = std::signal(SIGTERM, on_interrupt);
}

InterruptHandler::~InterruptHandler() {
  std::signal(SIGINT, previous_int_);
  std::signal(SIGTERM, previous_term_);
}

bool InterruptHandler::requested() { return received_signal.load() != 0; }

int InterruptHandler::signal_number() { return received_signal.load(); }

}  // namespace slab::tools
