// Shared-nothing engines on real threads (issue: sharding): a server host with one engine per
// thread, each owning one queue pair of a two-queue shared-memory wire whose receive side steers
// by a symmetric Toeplitz hash (the NIC's RSS); a listener clone per engine. A client engine on
// a third thread opens 10,000 short connections (connect, 64 bytes each way, close). Every
// connection must succeed, be served entirely by one engine (a segment on the wrong engine would
// find no connection and be answered with a RST), and the two engines' shares must be within
// ±10% of even. Tagged "tsan": ThreadSanitizer checks that the engines share nothing.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "coro/reactor.h"
#include "coro/when_all.h"
#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"
#include "nic/wire/shm_wire.h"
#include "stack/engine.h"
#include "stack/tcp/socket.h"
#include "stack/tcp/tcp_layer.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::testing {
namespace {

constexpr stack::Ipv4Address kClient{198, 18, 0, 1};
constexpr stack::Ipv4Address kServer{198, 18, 0, 2};
constexpr std::uint16_t kQueues = 2;
constexpr std::uint16_t kPort = 8000;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__) || defined(CORONET_TSAN) || \
    defined(CORONET_ASAN)
constexpr int kConns = 4000;  // sanitizers are 5-20x slower; 4,000 still tests ±10% (±200)
#else
constexpr int kConns = 10000;
#endif
constexpr int kConcurrency = 40;

TEST(TcpThreads, EnginesOnTheirOwnThreadsShareTheConnectionsEvenly) {
  nic::rss::Toeplitz hash(nic::rss::kSymmetricKey);
  nic::rss::Reta reta = nic::rss::Reta::round_robin(kQueues);
  nic::ShmWireConfig wc;
  wc.name = "threads";
  wc.slots = 512;
  wc.queues = kQueues;
  wc.mac_a = nic::MacAddress{{0x02, 0, 0, 0, 0, 1}};
  wc.mac_b = nic::MacAddress{{0x02, 0, 0, 0, 0, 2}};
  wc.pool = {.count = 4096, .buffer_size = 2048, .headroom = 128};
  // The client end has one engine: everything for it lands on its queue 0.
  wc.steer_a = [](const nic::Packet&, std::uint16_t) { return nic::Steering{}; };
  wc.steer_b = rss_steering(hash, reta);
  auto wire = nic::ShmWire::create(wc);
  ASSERT_TRUE(wire.has_value()) << wire.error().message();

  // The client engine first: its wake-up hook must be in place before any engine sends (the
  // hooks are set before traffic starts; the server threads are created after it).
  ShmCore client(**wire, (*wire)->a(), kClient, 0);
  // Server engines: constructed and run on their own threads; they report when listening.
  std::array<int, kQueues> served{};
  std::array<std::atomic<coro::Reactor*>, kQueues> reactors{};
  std::atomic<int> listening{0};
  std::vector<std::thread> servers;
  for (std::uint16_t q = 0; q < kQueues; ++q) {
    servers.emplace_back([&, q] {
      ShmCore core(**wire, (*wire)->b(), kServer, q);
      auto l = stack::tcp::listen(core.tcp, kPort, {.backlog = 1024});
      if (!l) {
        ADD_FAILURE() << l.error().message();
        return;
      }
      core.reactor.spawn(short_echo_server(*l, &served[q]));
      reactors[q].store(&core.reactor);
      listening.fetch_add(1);
      core.reactor.run();  // until the test stops it
      core.reactor.shutdown();
      EXPECT_EQ(core.tcp.stats().rx_no_connection, 0u) << "engine " << q;
      EXPECT_EQ(core.tcp.stats().rx_memory_drops, 0u) << "engine " << q;
    });
  }
  while (listening.load() < kQueues) std::this_thread::yield();

  int ok = 0;
  {
    std::vector<coro::Task<int>> tasks;
    for (int i = 0; i < kConcurrency; ++i) {
      tasks.push_back(short_echo_client(client.tcp, {kServer, kPort}, kConns / kConcurrency));
    }
    for (int n : client.reactor.block_on(coro::when_all(std::move(tasks)))) ok += n;
    // The last closes finish while the servers still run.
    client.reactor.block_on([]() -> coro::Task<void> {
      co_await coro::sleep_for(std::chrono::milliseconds(50));
    }());
    client.reactor.shutdown();
    const auto& st = client.tcp.stats();
    std::printf("client: %llu RTOs, %llu retransmits, %llu resets, %llu segments out, %llu in\n",
                static_cast<unsigned long long>(st.rto_expiries),
                static_cast<unsigned long long>(st.tx_retransmits),
                static_cast<unsigned long long>(st.connections_reset),
                static_cast<unsigned long long>(st.tx_segments),
                static_cast<unsigned long long>(st.rx_segments));
    // Only the first SYNs, beyond what ARP queues while the server's address is resolved, may
    // need a retransmission (a busy server once stalled here: TIME-WAIT pinned receive rings).
    EXPECT_LE(st.rto_expiries, static_cast<std::uint64_t>(kConcurrency));
  }
  for (auto& r : reactors) r.load()->stop();
  for (auto& t : servers) t.join();

  EXPECT_EQ(ok, kConns);
  EXPECT_EQ(served[0] + served[1], kConns);
  for (std::uint16_t q = 0; q < kQueues; ++q) {
    EXPECT_NEAR(served[q], kConns / kQueues, kConns / kQueues / 10) << "engine " << q;
    EXPECT_GT((*wire)->b().rx_stats(q).packets, 0u);
  }
  std::printf("%d connections: engine 0 served %d, engine 1 served %d\n", kConns, served[0],
              served[1]);
}

}  // namespace
}  // namespace coronet::testing
