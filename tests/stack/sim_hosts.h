// Two coronet hosts joined by the in-memory wire, on one reactor with virtual time: the bench for
// TCP simulation tests.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "coro/testing.h"
#include "nic/rss/reta.h"
#include "nic/rss/toeplitz.h"
#include "nic/wire/shm_wire.h"
#include "nic/wire/wire.h"
#include "stack/engine.h"
#include "stack/tcp/socket.h"
#include "stack/tcp/tcp_layer.h"

namespace coronet::testing {

// One end of a simulation wire: MAC 02:00:00:00:00:<last>, an 8192-buffer pool per queue, a
// 4096-frame rx ring, `imp` on what it transmits.
nic::WireEndConfig end_config(const char* name, std::uint8_t last, nic::ImpairmentConfig imp = {},
                              std::uint16_t queues = 1);

// The badly impaired link of tests/stack/tcp_kernel_impair_test (issue 6), for one direction:
// 5% loss, 1% duplication, 25% reordering, 10 ms +/- 5 ms delay, 0.1% of frames corrupted.
nic::ImpairmentConfig harsh_link(std::uint64_t seed);

// A NIC's receive-side scaling as a wire steering function: ARP to every queue (each engine
// learns its neighbours), IPv4 TCP by the Toeplitz hash of its 4-tuple through the RETA, the
// rest to queue 0. `hash` and `reta` must outlive the function.
nic::SteeringFn rss_steering(const nic::rss::Toeplitz& hash, const nic::rss::Reta& reta);

struct SimHost {
  SimHost(coro::Reactor& reactor, nic::Device& dev, stack::Ipv4Address addr,
          stack::tcp::TcpConfig tcp_config)
      : engine(reactor, dev, stack::EngineConfig{.address = addr, .prefix_len = 24}),
        tcp(engine, tcp_config) {}
  stack::Engine engine;
  stack::tcp::TcpLayer tcp;
};

struct SimPair {
  explicit SimPair(nic::ImpairmentConfig a_to_b = {}, nic::ImpairmentConfig b_to_a = {},
                   stack::tcp::TcpConfig tcp_config = {});
  // Tasks still suspended hold connection handles: destroy them before the hosts.
  ~SimPair() { v.reactor.shutdown(); }

  coro::testing::VirtualReactor v;
  std::unique_ptr<nic::Wire> wire;
  std::unique_ptr<SimHost> a;  // 198.18.0.1
  std::unique_ptr<SimHost> b;  // 198.18.0.2
  static constexpr stack::Ipv4Address kAddrA{198, 18, 0, 1};
  static constexpr stack::Ipv4Address kAddrB{198, 18, 0, 2};
};

// Deterministic test data: byte i of stream `seed`.
inline std::byte pattern(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ULL ^ seed;
  x ^= x >> 29;
  return static_cast<std::byte>(x & 0xff);
}

// Writes `total` pattern bytes in chunks of up to `chunk`.
coro::Task<Result<void>> send_pattern(stack::tcp::Connection& c, std::uint64_t seed,
                                      std::uint64_t total, std::size_t chunk = 16384);
// Reads until EOF, checking every byte against the pattern; returns the count read (an error
// on the first mismatch or a read error).
coro::Task<Result<std::uint64_t>> receive_pattern(stack::tcp::Connection& c, std::uint64_t seed,
                                                  std::size_t chunk = 16384);

// Connects to `to`, sends `up` bytes of pattern `seed_up`, half-closes, then reads pattern
// `seed_down` to EOF; the bytes read.
coro::Task<Result<std::uint64_t>> send_then_receive(stack::tcp::TcpLayer& tcp, stack::Endpoint to,
                                                    std::uint64_t seed_up, std::uint64_t up,
                                                    std::uint64_t seed_down);
// mTCP's short-connection workload, server side: accepts, reads `bytes`, writes them back, closes;
// until `count` connections were served (-1: until the listener or the reactor ends). Counts
// every connection served in full in *served.
coro::Task<void> short_echo_server(stack::tcp::Listener& l, int* served, std::size_t bytes = 64,
                                   int count = -1);
// Client side: `count` connections one after another, each connect, write `bytes` (a pattern that
// differs per connection), read them back, compare, close. Returns how many came back intact.
coro::Task<int> short_echo_client(stack::tcp::TcpLayer& tcp, stack::Endpoint to, int count,
                                  std::size_t bytes = 64);

// One engine on a thread of its own over a queue of a shared-memory wire: its reactor (real time,
// sleeping when idle), the engine on `queue`, its TCP. The wire has no file descriptor, so the
// constructor installs the wake-up hook that lets a sender wake this reactor; construct every
// engine of a wire before any of them sends (the hooks are set before traffic).
struct ShmCore {
  ShmCore(nic::ShmWire& wire, nic::ShmWireDevice& dev, stack::Ipv4Address addr,
          std::uint16_t queue, stack::tcp::TcpConfig tcp_config = {},
          coro::Duration spin_before_sleep = coro::ReactorOptions{}.spin_before_sleep)
      : reactor(coro::ReactorOptions{.core = queue, .spin_before_sleep = spin_before_sleep}),
        engine(reactor, dev, stack::EngineConfig{.address = addr, .queue = queue}),
        tcp(engine, tcp_config) {
    wire.set_rx_notify(dev, queue, [r = &reactor] { r->wake(); });
  }
  coro::Reactor reactor;
  stack::Engine engine;
  stack::tcp::TcpLayer tcp;
};

// The shared-memory wire the ShmCore benchmarks use: end a is MAC 02:00:00:00:00:01, end b
// ...:02, `slots` per ring, `buffers` packets (2048 bytes, 128 headroom) per rx pool. Prints the
// error and exits when the wire cannot be made (a benchmark cannot go on without it).
std::unique_ptr<nic::ShmWire> shm_wire_or_exit(const char* name, std::uint32_t slots,
                                               std::uint32_t buffers, std::uint16_t queues = 1,
                                               nic::SteeringFn steer_a = {},
                                               nic::SteeringFn steer_b = {});

// Connects to `to` and reads once: what the peer's immediate close or reset looks like.
coro::Task<Result<std::size_t>> connect_and_read(stack::tcp::TcpLayer& tcp, stack::Endpoint to);

}  // namespace coronet::testing
