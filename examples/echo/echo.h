// The echo service: the shortest showcase of the socket API. A library (serve/run_server) plus
// a thin main, so it embeds anywhere, on either stack (coronet::Stack: user or kernel TCP).
#pragma once

#include <cstdint>

#include "coro/task.h"
#include "coronet/socket.h"

namespace coronet::examples {

// Echoes everything it reads until the peer closes.
coro::Task<void> serve(Connection conn);

// Accepts forever on `port`, one coroutine per connection.
coro::Task<void> run_server(Stack stack, std::uint16_t port);

}  // namespace coronet::examples
