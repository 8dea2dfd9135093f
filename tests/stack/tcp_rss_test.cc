// Shared-nothing engines on one multi-queue device (issue: sharding): the wire steers frames by
// a symmetric Toeplitz hash through a RETA, like a NIC's RSS; ARP goes to every queue. Each
// engine owns a queue, its own TCP layer and listener clone. Active opens choose local ports so
// that every reply lands on the opening engine; passive opens spread evenly over the engines.
#include <gtest/gtest.h>

#include <array>
#include <memory>

#include "coro/testing.h"
#include "coro/when_all.h"
#include "nic/rss/port_selector.h"
#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"
#include "nic/wire/wire.h"
#include "stack/engine.h"
#include "stack/net/bytes.h"
#include "stack/tcp/socket.h"
#include "stack/tcp/tcp_layer.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::testing {
namespace {

constexpr stack::Ipv4Address kAddrA{198, 18, 0, 1};  // the sharded host
constexpr stack::Ipv4Address kAddrB{198, 18, 0, 2};  // its single-engine peer
constexpr std::uint16_t kQueues = 2;

struct Sharded {
  Sharded()
      : hash(nic::rss::kSymmetricKey),
        reta(nic::rss::Reta::round_robin(kQueues)),
        selector(hash, reta) {
    wire = std::make_unique<nic::Wire>(v.clock, end_config("a", 1, {}, kQueues),
                                       end_config("b", 2));
    // The NIC: ARP to every queue; IPv4 TCP by the Toeplitz hash of its 4-tuple.
    wire->a().set_steering(rss_steering(hash, reta));
    for (std::uint16_t q = 0; q < kQueues; ++q) {
      a[q] = std::make_unique<Host>(v.reactor, wire->a(),
                                    stack::EngineConfig{.address = kAddrA, .queue = q});
      a[q]->tcp.set_port_selector(&selector);
    }
    b = std::make_unique<Host>(v.reactor, wire->b(), stack::EngineConfig{.address = kAddrB});
  }
  ~Sharded() { v.reactor.shutdown(); }

  struct Host {
    Host(coro::Reactor& r, nic::Device& dev, stack::EngineConfig cfg)
        : engine(r, dev, cfg), tcp(engine) {}
    stack::Engine engine;
    stack::tcp::TcpLayer tcp;
  };
  coro::testing::VirtualReactor v;
  nic::rss::Toeplitz hash;
  nic::rss::Reta reta;
  nic::rss::PortSelector selector;
  std::unique_ptr<nic::Wire> wire;
  std::array<std::unique_ptr<Host>, kQueues> a;
  std::unique_ptr<Host> b;
};

// Every SYN-ACK (and every later segment) of thousands of active opens arrives on the engine
// that sent the SYN: a wrong queue would find no TCB there and answer with a RST.
TEST(TcpRss, ActiveOpensReceiveTheirRepliesOnTheOpeningEngine) {
  Sharded s;
  constexpr int kPerEngine = 1500;
  auto listener = stack::tcp::listen(s.b->tcp, 7000, {.backlog = 1024});
  ASSERT_TRUE(listener.has_value());
  int served = 0;
  auto ok = s.v.reactor.block_on(coro::when_all(
      short_echo_server(*listener, &served, 64, kPerEngine * kQueues),
      short_echo_client(s.a[0]->tcp, {kAddrB, 7000}, kPerEngine),
      short_echo_client(s.a[1]->tcp, {kAddrB, 7000}, kPerEngine)));
  EXPECT_EQ(served, kPerEngine * kQueues);
  for (std::uint16_t q = 0; q < kQueues; ++q) {
    EXPECT_EQ(q == 0 ? std::get<1>(ok) : std::get<2>(ok), kPerEngine) << "engine " << q;
    EXPECT_EQ(s.a[q]->tcp.stats().rx_no_connection, 0u) << "engine " << q;
    EXPECT_EQ(s.a[q]->tcp.stats().connections_opened, static_cast<std::uint64_t>(kPerEngine));
  }
}

// A listener opened on every engine (one clone per core) spreads 10,000 incoming connections
// within ±10% of even, and each is served entirely by the engine that accepted it.
TEST(TcpRss, PassiveOpensSpreadEvenlyOverTheEngines) {
  Sharded s;
  constexpr int kConns = 10000;
  std::array<std::optional<stack::tcp::Listener>, kQueues> listeners;
  std::array<int, kQueues> served{};
  for (std::uint16_t q = 0; q < kQueues; ++q) {
    auto l = stack::tcp::listen(s.a[q]->tcp, 8000, {.backlog = 1024});
    ASSERT_TRUE(l.has_value());
    listeners[q].emplace(std::move(*l));
  }
  // The servers run until the reactor shuts down; the client's loop decides the end.
  for (std::uint16_t q = 0; q < kQueues; ++q) {
    s.v.reactor.spawn(short_echo_server(*listeners[q], &served[q]));
  }
  const int ok = s.v.reactor.block_on(short_echo_client(s.b->tcp, {kAddrA, 8000}, kConns));
  s.v.drain();
  EXPECT_EQ(ok, kConns);
  EXPECT_EQ(served[0] + served[1], kConns);
  for (std::uint16_t q = 0; q < kQueues; ++q) {
    EXPECT_NEAR(served[q], kConns / kQueues, kConns / kQueues / 10) << "engine " << q;
    EXPECT_EQ(s.a[q]->tcp.stats().rx_no_connection, 0u);
  }
}

}  // namespace
}  // namespace coronet::testing
