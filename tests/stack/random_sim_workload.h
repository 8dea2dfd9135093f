// The workload of tcp_random_sim_test: for each seed, two coronet hosts on the in-memory wire
// (virtual time) with impairments drawn from the seed (loss up to 20%, reordering, duplication,
// corruption, delay with jitter, a bandwidth cap), and a few concurrent connections whose
// applications also follow the seed: transfer sizes, write/read sizes, pauses, half-closes with
// shutdown(), request/response exchanges, aborts at a byte count, deadlines through
// with_timeout(), connect timeouts, closing with close() or by dropping the handle. Each side
// records what it saw (SideOutcome); the test judges the outcomes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coro/event.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::testing::random_sim {

using namespace std::chrono_literals;
using coro::Duration;
using stack::tcp::Connection;

// "12.345ms": a duration for the reports.
std::string ms(Duration d);

// ---------------------------------------------------------------------------------------------
// The plan: what the network and both applications of every connection do, all from the seed.

enum class Stop : std::uint8_t {
  kNone,
  kDeadline,      // the whole exchange runs under with_timeout(); on expiry the side aborts
  kAfterWritten,  // abort once this many bytes were written
  kAfterRead,     // abort once this many bytes were read
};

struct SidePlan {
  std::uint64_t send_bytes = 0;
  std::uint64_t out_seed = 0;   // pattern of the bytes this side writes
  std::uint64_t in_seed = 0;    // pattern of the bytes it expects
  std::uint64_t expect_in = 0;  // how many bytes the peer writes
  std::size_t write_chunk = 1;
  std::size_t read_chunk = 1;
  double pause_chance = 0;  // per write/read: sleep up to pause_max afterwards
  Duration pause_max{};
  bool no_delay = false;
  stack::tcp::BufferSizes buffers = {};
  bool send_after_eof = false;  // request/response: write only once the peer's stream ended
  bool drop_handle = false;     // finish by dropping the handle (background close), not close()
  Stop stop = Stop::kNone;
  Duration deadline{};
  std::uint64_t stop_bytes = 0;
  Duration keepalive_idle{};
  Duration keepalive_interval{};
  unsigned keepalive_count = 0;
  std::uint64_t rng_seed = 0;  // pauses
};

struct ConnPlan {
  std::uint16_t server_port = 0;
  std::uint16_t client_port = 0;
  Duration start_delay{};
  std::optional<Duration> connect_timeout;
  SidePlan client;
  SidePlan server;
};

struct SeedPlan {
  nic::ImpairmentConfig a_to_b;
  nic::ImpairmentConfig b_to_a;
  stack::tcp::TcpConfig tcp;
  std::vector<ConnPlan> conns;
};

// The plan of `seed`: the same on every run and every standard library.
SeedPlan draw_plan(std::uint64_t seed);

// The plan, one line per direction and per side.
std::string describe(const SeedPlan& p);

// ---------------------------------------------------------------------------------------------
// Running the plan: the applications and what they record.

// What one side of a connection saw.
struct SideOutcome {
  bool opened = false;               // connected / accepted
  bool finished = false;             // its task ran to the end
  std::optional<Error> error;        // why it failed; none: everything sent, read and closed
  std::optional<Error> stack_error;  // the first error the stack itself reported
  bool self_inflicted = false;       // failed by its own decision (stop, deadline, connect timeout)
  bool aborted = false;
  std::uint64_t written = 0;
  bool sent_fin = false;  // everything written and shutdown() done
  std::uint64_t received = 0;
  bool eof = false;
  std::vector<std::string> violations;
  const Connection* conn = nullptr;  // while the side drives it (for the hang report)
};

std::string describe(const SideOutcome& o);

// A connection's shared state. The listener belongs to the server side; the event tells the
// server that its client has finished, so an accept that can no longer succeed stops waiting.
struct ConnRun {
  std::optional<stack::tcp::Listener> listener;
  coro::Event client_done;
  SideOutcome client;
  SideOutcome server;
};

// A bench like SimPair with smaller packet pools: a seed builds and drops a fresh one, so its size
// matters (under ASan especially).
struct Bench {
  Bench(const nic::ImpairmentConfig& a_to_b, const nic::ImpairmentConfig& b_to_a,
        const stack::tcp::TcpConfig& tcp) {
    wire = std::make_unique<nic::Wire>(v.clock, end("a", 1, a_to_b), end("b", 2, b_to_a));
    a = std::make_unique<SimHost>(v.reactor, wire->a(), SimPair::kAddrA, tcp);
    b = std::make_unique<SimHost>(v.reactor, wire->b(), SimPair::kAddrB, tcp);
  }
  ~Bench() { v.reactor.shutdown(); }
  static nic::WireEndConfig end(const char* name, std::uint8_t last,
                                const nic::ImpairmentConfig& imp) {
    nic::WireEndConfig c;
    c.name = name;
    c.mac = nic::MacAddress({0x02, 0, 0, 0, 0, last});
    c.pool = nic::PacketPoolConfig{.name = std::string(name) + "-rx", .count = 2048};
    c.rx_ring_size = 1024;
    c.tx_impairment = imp;
    return c;
  }

  coro::testing::VirtualReactor v;
  std::unique_ptr<nic::Wire> wire;
  std::unique_ptr<SimHost> a;  // clients
  std::unique_ptr<SimHost> b;  // servers
};

// The client application of one connection on `host` (connect, after the planned delay, within the
// planned timeout), then its exchange; sets run.client_done when it ends.
coro::Task<void> client_side(SimHost& host, const ConnPlan& plan, ConnRun& run);

// The server application: accepts one connection on run.listener (unless the client finishes
// first), then runs its exchange.
coro::Task<void> server_side(const ConnPlan& plan, ConnRun& run);

}  // namespace coronet::testing::random_sim
