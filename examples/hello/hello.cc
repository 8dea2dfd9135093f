// README's "write your own server": greets every line it receives, on either TCP, N cores.
#include "coronet/run.h"

using namespace coronet;

coro::Task<void> greet(Connection conn) {
  std::array<std::byte, 512> buf;
  for (;;) {
    auto n = co_await conn.read(buf);  // some bytes, or 0 once the client closed
    if (!n || *n == 0) break;
    std::string reply = "hello, " + std::string(reinterpret_cast<char*>(buf.data()), *n);
    if (!co_await conn.write(std::as_bytes(std::span(reply)))) break;
  }
  (void)co_await conn.close();
}

int main(int argc, char** argv) {
  auto options = parse_options(argc, argv, 7070);  // --stack=user|kernel --cores=N --nic=...
  if (!options) return 2;
  return run(*options, [port = options->port](Stack& stack) -> coro::Task<void> {
    auto listener = stack.listen(port);  // on every core
    while (listener) {
      auto conn = co_await listener->accept();
      if (conn) coro::spawn(greet(std::move(*conn)));
    }
  });
}
