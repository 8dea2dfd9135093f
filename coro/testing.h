// Test support: a reactor on virtual time (testonly).
#pragma once

#include "coro/clock.h"
#include "coro/reactor.h"

namespace coronet::coro::testing {

// A reactor on a VirtualClock: sleeps and timeouts take no real time, and an idle reactor jumps
// straight to its next deadline.
struct VirtualReactor {
  VirtualClock clock;
  Reactor reactor{ReactorOptions{.core = 0, .clock = &clock}};
  // Runs iterations until nothing is runnable (without advancing time).
  void drain() {
    while (reactor.run_once()) {
    }
  }
};

}  // namespace coronet::coro::testing
