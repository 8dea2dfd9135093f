// The echo service on the in-memory wire: a coronet client talks to examples::run_server.
#include <gtest/gtest.h>

#include "coro/when_all.h"
#include "examples/echo/echo.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::examples {
namespace {

TEST(EchoWire, EchoesEveryByteBackOverManyConnections) {
  testing::SimPair s;
  s.v.reactor.spawn(run_server(Stack::user(s.b->tcp), 7));
  auto client = [&](int id) -> coro::Task<bool> {
    auto c = co_await stack::tcp::connect(s.a->tcp, {testing::SimPair::kAddrB, 7});
    if (!c) co_return false;
    std::vector<std::byte> msg(10000);
    for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = testing::pattern(id, i);
    if (!co_await c->write(msg)) co_return false;
    std::vector<std::byte> back(msg.size());
    if (!co_await c->read_exactly(back)) co_return false;
    (void)co_await c->close();
    co_return back == msg;
  };
  std::vector<coro::Task<bool>> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(client(i));
  auto ok = s.v.reactor.block_on(coro::when_all(std::move(clients)));
  for (bool b : ok) EXPECT_TRUE(b);
}

}  // namespace
}  // namespace coronet::examples
