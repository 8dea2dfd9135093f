// The soak test's workload (issue 10): many connections of different kinds between the two hosts
// of a SimPair, each judged on its own: it completes with byte-exact data, or it ends with the
// error its plan makes legitimate (a reset after the peer aborted, a timeout after the peer stopped
// reading). Every side of every connection is registered while it runs, with a virtual-time
// deadline that its progress pushes back: one that passes its deadline is stuck.
//
// Connection kinds (the plan of connection `id` is a pure function of the run seed and the id, so
// the server learns it from the 16-byte header the client sends first):
//   echo            request (1 B - 1 MiB), response, close; either side closes first, sometimes
//                   by dropping the handle instead of close()
//   idle            header, 10-90 s of silence under keepalive, then a small exchange
//   client-abort    the client aborts part-way through its request: the server sees a reset
//   server-abort    the server aborts part-way through its response: the client sees a reset
//   stalled-reader  the server stops reading; the client's write deadline fires, it aborts
//   server-drops    the server closes right after the header without reading the request: the
//                   client sees EOF or a reset
//   long            streams in both directions, paced, from start to stop of a phase
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "coro/event.h"
#include "tests/stack/sim_hosts.h"

namespace coronet::soak {

struct Options {
  double seconds = 600;          // wall-clock length of the workload (warm-up included)
  double warmup_fraction = 0.1;  // of `seconds`, before the heap baseline is taken
  std::uint64_t seed = 0;
  double loss = 0.02;
  double duplicate = 0.005;
  double reorder = 0.02;
  double corrupt = 0.001;
  coro::Duration delay = std::chrono::milliseconds(2);
  coro::Duration jitter = std::chrono::microseconds(500);
  unsigned lanes = 48;                            // concurrent short-lived connections
  unsigned long_conns = 4;                        // long-lived connections per phase
  std::uint64_t long_rate = 2u << 20;             // bytes per virtual second, per direction
  coro::Duration msl = std::chrono::seconds(10);  // TIME-WAIT lasts 2 * msl
  bool verbose = false;
};

enum class Kind : std::uint8_t {
  kEcho,
  kIdle,
  kClientAbort,
  kServerAbort,
  kStalledReader,
  kServerDrops,
  kLong,
  kUnknown,  // a server side that ended before it read the header
  kCount,
};
const char* kind_name(Kind k);

enum class Outcome : std::uint8_t {
  kCompleted,    // everything sent, read (byte-exact) and closed
  kReset,        // Errc::kConnectionReset
  kTimedOut,     // Errc::kTimedOut: a deadline of the application or of TCP
  kSelfAborted,  // this side aborted, as planned
  kBrokenPipe,   // a write after the connection closed
  kPeerClosed,   // EOF where data was still due
  kOther,        // anything else (data mismatch included): never expected
  kCount,
};
const char* outcome_name(Outcome o);

constexpr std::size_t kKinds = static_cast<std::size_t>(Kind::kCount);
constexpr std::size_t kOutcomes = static_cast<std::size_t>(Outcome::kCount);

struct Tally {
  std::array<std::uint64_t, kKinds> started{};
  // [kind][0 client, 1 server][outcome]
  std::array<std::array<std::array<std::uint64_t, kOutcomes>, 2>, kKinds> ended{};
  std::uint64_t bytes_verified = 0;  // read and checked against the pattern, both directions
};

struct Soak;

// One side of one connection while it runs (an intrusive list in Soak).
struct Side {
  Side(Soak& soak, std::uint64_t id, Kind kind, bool server);
  ~Side();
  Side(const Side&) = delete;
  Side& operator=(const Side&) = delete;
  // Progress: the side may now take kStuckLimit (plus a planned wait) before it counts as stuck.
  void touch(const char* what, coro::Duration planned_wait = {});

  Soak& soak;
  std::uint64_t id;
  Kind kind;
  bool server;
  const char* step = "start";
  coro::TimePoint deadline;
  bool reported = false;
  Side* prev = nullptr;
  Side* next = nullptr;
};

// A long-lived connection's byte counts, compared when each reader reaches EOF.
struct LongRecord {
  std::uint64_t seed_up = 0;
  std::uint64_t seed_down = 0;
  std::uint64_t written_up = 0;
  std::uint64_t written_down = 0;
};

struct Soak {
  Soak(const Options& o, testing::SimPair& p) : opt(o), pair(p), reactor(p.v.reactor) {}

  const Options& opt;
  testing::SimPair& pair;
  coro::Reactor& reactor;

  bool stopping = false;       // no new connections; long writers finish
  coro::Event stop_accepting;  // acceptors end
  std::uint64_t next_id = 1;
  std::vector<LongRecord> longs;
  std::size_t acceptors = 0;

  Side* sides = nullptr;
  std::size_t live_sides = 0;
  std::size_t peak_sides = 0;

  Tally tally;
  std::uint64_t failure_count = 0;
  std::vector<std::string> failures;  // the first ones, for the report

  void fail(std::string what);
  // Reports every side past its deadline (once each); how many are past it.
  std::size_t scan_stuck();
};

// No progress for this long (virtual time) beyond a planned wait means stuck. The slowest
// legitimate endings are far shorter: SYN retries give up after ~3 min, data retries (12, RTO
// capped at 60 s) after ~8 min, keepalive (5 s idle, 9 probes 2 s apart) after ~23 s.
inline constexpr coro::Duration kStuckLimit = std::chrono::minutes(20);
inline constexpr std::uint16_t kPort = 7000;

// Accepts on `host` until soak.stop_accepting is set; each connection runs as a spawned server.
coro::Task<void> acceptor(Soak& soak, testing::SimHost& host);
// Client connections one after another from `from` to `to` until soak.stopping.
coro::Task<void> lane(Soak& soak, testing::SimHost& from, stack::Ipv4Address to, unsigned index);
// Long connection `index` of soak.longs, from `from` to `to`, until soak.stopping.
coro::Task<void> long_client(Soak& soak, testing::SimHost& from, stack::Ipv4Address to,
                             std::size_t index);

}  // namespace coronet::soak
