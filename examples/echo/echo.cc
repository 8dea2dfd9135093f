#include "examples/echo/echo.h"

#include <array>

#include "coro/log.h"
#include "coro/reactor.h"

namespace coronet::examples {

coro::Task<void> serve(Connection conn) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = co_await conn.read(buf);  // Result<size_t>: 0 = peer closed
    if (!n || *n == 0) break;
    if (!co_await conn.write(std::span(buf).first(*n))) break;
  }
  (void)co_await conn.close();
}

coro::Task<void> run_server(Stack stack, std::uint16_t port) {
  auto listener = stack.listen(port, {.backlog = 1024});
  if (!listener) {
    log::error("echo: listen on {}: {}", port, listener.error().message());
    co_return;
  }
  log::info("echo: listening on port {} ({} stack)", port, stack_kind_name(stack.kind()));
  for (;;) {
    auto conn = co_await listener->accept();
    if (conn) coro::spawn(serve(std::move(*conn)));
  }
}

}  // namespace coronet::examples
