#include "tools/trainer/interrupt.h"

#include <atomic>
#include <csignal>

namespace slab::tools {

namespace {

std::atomic<bool> interrupt_requested{false};

extern "C" void on_interrupt(int) {
  if (interrupt_requested.load()) {  // a second Ctrl-C: stop at once
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  interrupt_requested.store(true);
}

}  // namespace

InterruptHandler::InterruptHandler() {
  interrupt_requested.store(false);
  previous_ = std::signal(SIGINT, on_interrupt);
}

InterruptHandler::~InterruptHandler() { std::signal(SIGINT, previous_); }

bool InterruptHandler::requested() { return interrupt_requested.load(); }

}  // namespace slab::tools
