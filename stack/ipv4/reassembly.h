// Reassembler: rebuilds fragmented IPv4 datagrams (RFC 791 §3.2 "Fragmentation and Reassembly")
// within fixed time and memory bounds.
//
// Policy (each one counted when it drops something):
// - Overlap: fragments of one datagram must not overlap. An exact duplicate (same offset, length
//   and bytes) is dropped on its own; any other overlap, or a duplicate with different bytes,
//   drops the whole datagram (the spirit of RFC 5722, written for IPv6: overlapping fragments are
//   either an attack or a bug, and no reassembly of them is safe). The datagram's slot then
//   stays "dead" until its timer expires so that its remaining fragments are dropped too instead
//   of starting a fresh reassembly.
// - Inconsistent lengths (a second last fragment, data beyond the last fragment, a non-final
//   fragment whose length is not a multiple of 8, an empty fragment) drop the datagram or the
//   fragment, as noted in the code.
// - Time: a datagram not complete reassembly_timeout after its first fragment arrived is dropped
//   (RFC 791 §3.2 reassembly timer; RFC 1122 §3.3.2). If fragment zero had arrived, the timeout
//   handler gets it so that ICMP can send Time Exceeded code 1 (RFC 792).
// - Memory: buffers held by incomplete datagrams are bounded by reassembly_max_bytes (counted by
//   buffer capacity); a fragment that would exceed it is dropped along with its datagram, which
//   can never complete without it. At most reassembly_max_datagrams datagrams are in progress; a
//   fragment of a new one beyond that is dropped. Datagrams longer than 65535 bytes are dropped.
//
// Holes (RFC 815): with overlaps rejected, the fragments of a datagram are kept sorted by offset
// and the hole list reduces to the gaps between neighbours, so completion is simply "bytes
// received == length announced by the last fragment". Fragments are held as received (starting
// at their IPv4 header) in a list linked through Packet::next(); no side allocation.
//
// The completed datagram starts at the first fragment's IPv4 header, rewritten with the full
// length and no fragment fields. It is copied into that first buffer when it fits, otherwise the
// fragments become a chain (each later one trimmed to its payload).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "coro/reactor.h"
#include "nic/packet.h"
#include "stack/ipv4/ipv4_config.h"
#include "stack/ipv4/ipv4_header.h"

namespace coronet::stack::ipv4 {

struct ReassemblyStats {
  std::uint64_t fragments = 0;        // received
  std::uint64_t reassembled = 0;      // datagrams completed
  std::uint64_t timeouts = 0;         // datagrams dropped incomplete
  std::uint64_t overlaps = 0;         // datagrams dropped for overlapping fragments
  std::uint64_t duplicates = 0;       // exact duplicate fragments dropped
  std::uint64_t inconsistent = 0;     // datagrams dropped for contradictory lengths
  std::uint64_t oversize = 0;         // datagrams dropped for exceeding 65535 bytes
  std::uint64_t bad_fragments = 0;    // fragments dropped: empty, or non-final not a multiple of 8
  std::uint64_t memory_exceeded = 0;  // datagrams dropped at the memory bound
  std::uint64_t table_full = 0;       // fragments dropped: too many datagrams in progress
  std::uint64_t late_fragments = 0;   // fragments of a datagram already dropped
  std::uint64_t chained_input = 0;    // multi-segment fragments (unsupported) dropped
};

class Reassembler {
 public:
  // Receives fragment zero of a datagram that timed out (starting at its IPv4 header); takes
  // ownership.
  using TimeoutFn = void (*)(void* ctx, nic::Packet* first_fragment);

  Reassembler(coro::Reactor& reactor, const Ipv4Config& config);
  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // `p` starts at the IPv4 header `h` of a validated fragment and is trimmed to its total length.
  // Takes ownership. Returns the completed datagram when `p` completed one, else null.
  nic::Packet* add(nic::Packet* p, const Header& h);

  void set_timeout_handler(TimeoutFn fn, void* ctx) {
    on_timeout_ = fn;
    timeout_ctx_ = ctx;
  }

  std::size_t held_bytes() const { return held_bytes_; }
  std::size_t in_progress() const;  // live (not dead) datagrams
  const ReassemblyStats& stats() const { return stats_; }

 private:
  struct Entry : coro::TimerNode {
    Entry() : TimerNode(&Reassembler::on_timer) {}
    Reassembler* owner = nullptr;
    bool used = false;
    bool dead = false;  // dropped; swallows late fragments until the timer fires
    Ipv4Address src;
    Ipv4Address dst;
    std::uint16_t id = 0;
    std::uint8_t protocol = 0;
    nic::Packet* head = nullptr;  // sorted by offset, linked through next()
    std::size_t held = 0;         // buffer bytes
    std::uint32_t received = 0;   // payload bytes
    std::uint32_t total = 0;      // payload length, known once the last fragment arrived
    bool have_last = false;
  };

  static void on_timer(coro::TimerNode* node);
  void expire(Entry& e);
  Entry* find_or_create(const Header& h);
  // Frees the fragments; the entry stays dead until its timer fires.
  void kill(Entry& e);
  void free_fragments(Entry& e);
  void release(Entry& e);
  nic::Packet* complete(Entry& e);

  coro::Reactor& reactor_;
  const Ipv4Config config_;
  std::unique_ptr<Entry[]> entries_;
  std::size_t held_bytes_ = 0;
  ReassemblyStats stats_;
  TimeoutFn on_timeout_ = nullptr;
  void* timeout_ctx_ = nullptr;
};

}  // namespace coronet::stack::ipv4
