// Invariants of a TcpLayer's connections that must hold between any two events (after the
// reactor settled): the sequence spaces (RFC 9293 §3.3.1), the buffers' accounting, the timers a
// connection needs to make progress, the SACK scoreboard and the receive islands. The fuzz
// targets check them after every step; simulation tests can too.
#pragma once

#include <string>

#include "stack/tcp/tcp_layer.h"

namespace coronet::testing {

// Empty when every invariant holds; otherwise what broke, for which connection.
std::string tcp_invariant_violation(const stack::tcp::TcpLayer& layer);

}  // namespace coronet::testing
