// The echo service: the shortest showcase of the socket API. A library (serve/run_server) plus
// thin mains, so it embeds anywhere.
#pragma once

#include <cstdint>

#include "coro/task.h"
#include "stack/tcp/socket.h"

namespace coronet::examples {

// Echoes everything it reads until the peer closes.
coro::Task<void> serve(stack::tcp::Connection conn);

// Accepts forever on `port`, one coroutine per connection.
coro::Task<void> run_server(stack::tcp::TcpLayer& tcp, std::uint16_t port);

}  // namespace coronet::examples
