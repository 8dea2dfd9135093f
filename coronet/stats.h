// Per-core counters of a running server, read from any thread with no lock and no shared write on
// the data path. Each core keeps its own counters (TcpStats, the engine's, its device queue's) as
// plain integers; every `interval` (and when it stops) the core copies a snapshot into its slot
// of the StatsBoard. A reader (a /metrics handler on any core, a monitoring thread) takes a
// consistent snapshot of any slot, or the sum over all cores, at any time: a sequence lock per
// slot, so the writer never waits and a reader retries only while that core is publishing.
// Snapshots are at most one interval old.
//
//   run(options, [](coronet::Stack& stack) -> Task<void> { ...
//     const coronet::StatsBoard* board = stack.stats();   // null for the kernel stack
//     CoreStats all = board->total();                     // all cores, summed
//
// The kernel stack (io_uring) has no board: its counters live in the kernel (ss, nstat).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace coronet {

// One core's counters. Every field is a std::uint64_t (the board copies them as an array).
struct CoreStats {
  // TCP (stack/tcp TcpStats)
  std::uint64_t connections_opened = 0;  // active and passive opens that reached ESTABLISHED
  std::uint64_t connections_reset = 0;
  std::uint64_t connections_timed_out = 0;
  std::uint64_t live_connections = 0;    // TCBs, TIME-WAIT included
  std::uint64_t time_wait = 0;
  std::uint64_t rx_segments = 0;
  std::uint64_t tx_segments = 0;
  std::uint64_t tx_retransmits = 0;
  std::uint64_t rto_expiries = 0;
  std::uint64_t rx_no_connection = 0;    // segments answered with RST
  std::uint64_t syn_cookies_sent = 0;
  std::uint64_t syn_cookies_accepted = 0;  // ACKs with a valid cookie (RFC 4987 §3.6)
  std::uint64_t syn_dropped_backlog = 0;
  std::uint64_t rx_memory_drops = 0;     // segments dropped at the per-core receive memory cap
  // Engine and device queue
  std::uint64_t rx_frames = 0;
  std::uint64_t tx_frames = 0;
  std::uint64_t rx_device_drops = 0;     // the queue had no buffer for a frame
  std::uint64_t tx_device_full = 0;      // frames the device refused
  std::uint64_t pool_in_use = 0;         // packet buffers out of the queue's pool
  std::uint64_t pool_capacity = 0;

  static constexpr std::size_t kFields = 20;
  CoreStats& operator+=(const CoreStats& o);
  friend bool operator==(const CoreStats&, const CoreStats&) = default;
};

class StatsBoard {
 public:
  explicit StatsBoard(unsigned cores);
  unsigned cores() const { return cores_; }

  // From core `core`'s own thread only (one writer per slot).
  void publish(unsigned core, const CoreStats& s);
  // Any thread: the last snapshot `core` published (all zero before its first).
  CoreStats read(unsigned core) const;
  // Any thread: the sum of every core's last snapshot.
  CoreStats total() const;
  // Prometheus text exposition: every counter once per core, labelled core="N" (a query sums
  // them across cores).
  std::string prometheus(const std::string& prefix = "coronet") const;

 private:
  struct alignas(64) Slot {
    std::atomic<std::uint32_t> seq{0};  // odd while the owner writes
    std::array<std::atomic<std::uint64_t>, CoreStats::kFields> values{};
  };
  unsigned cores_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace coronet
