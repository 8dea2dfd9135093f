// coronet TCP on the in-memory wire, client and server engines on one core and one reactor
// (virtual time: no waiting, only work), so the numbers are the CPU cost of both ends together.
//   bazel run --config=opt //benchmarks:tcp_bench
#include <benchmark/benchmark.h>

#include "coro/when_all.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::testing {
namespace {

// One connection streams state.range(0) bytes per iteration (MSS 1460, 256 KiB buffers).
void BM_TcpBulkOneFlow(benchmark::State& state) {
  SimPair s;
  auto listener = stack::tcp::listen(s.b->tcp, 9000);
  std::uint64_t chunk = static_cast<std::uint64_t>(state.range(0));
  std::uint64_t iterations = 0;
  auto server = [&]() -> coro::Task<void> {
    auto c = co_await listener->accept();
    std::vector<std::byte> buf(65536);
    for (;;) {
      auto n = co_await c->read(buf);
      if (!n || *n == 0) co_return;
    }
  };
  auto client = [&]() -> coro::Task<void> {
    auto c = co_await stack::tcp::connect(s.a->tcp, {SimPair::kAddrB, 9000});
    std::vector<std::byte> buf(chunk, std::byte{7});
    for (auto _ : state) {
      (void)co_await c->write(buf);
      ++iterations;
    }
    (void)co_await c->close();
  };
  s.v.reactor.block_on(coro::when_all(server(), client()));
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations * chunk));
}
BENCHMARK(BM_TcpBulkOneFlow)->Arg(1 << 20)->UseRealTime();

// mTCP's workload: connect, 64-byte request, 64-byte response, close; one at a time.
void BM_TcpShortConnections(benchmark::State& state) {
  SimPair s;
  auto listener = stack::tcp::listen(s.b->tcp, 9001, {.backlog = 4096});
  bool done = false;
  auto server = [&]() -> coro::Task<void> {
    while (!done) {
      auto c = co_await listener->accept();
      if (!c) co_return;
      std::byte buf[64];
      if (co_await c->read_exactly(buf)) (void)co_await c->write(buf);
      (void)co_await c->close();
    }
  };
  s.v.reactor.spawn(server());
  auto client = [&]() -> coro::Task<void> {
    std::byte msg[64] = {};
    for (auto _ : state) {
      auto c = co_await stack::tcp::connect(s.a->tcp, {SimPair::kAddrB, 9001});
      (void)co_await c->write(msg);
      (void)co_await c->read_exactly(msg);
      (void)co_await c->close();
    }
    done = true;
  };
  s.v.reactor.block_on(client());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TcpShortConnections)->UseRealTime();

}  // namespace
}  // namespace coronet::testing
