// ArpCache: IPv4-to-Ethernet address resolution (RFC 826) for one engine.
//
// - Requests for our address are answered in place (the request's buffer becomes the reply).
// - Learning follows RFC 826's "merge" rule: any ARP packet refreshes an entry we already have for
//   its sender; a new entry is created only when the packet is aimed at us.
// - Outgoing IPv4 packets to an unresolved next hop wait in a bounded per-entry queue while
//   requests are retried (RFC 1122 §2.3.2.1: at most one request per retry_interval per
//   address); overflow is dropped and counted. After max_retries the queue is dropped, counted,
//   and each packet goes to the failure handler so transports learn "host unreachable"
//   (RFC 1122 §2.3.2.2 lets the link layer report this to IP).
// - Reachable entries expire entry_ttl after they were last confirmed by an ARP packet
//   (RFC 1122 §2.3.2.1 option (1): time out even entries in use).
// - The table is bounded: when full, the least recently confirmed entry is evicted.
//
// All storage (entries, hash buckets, pending slots) is allocated at construction; resolution
// and sending never allocate. Timers are intrusive nodes on the reactor's wheel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "coro/reactor.h"
#include "nic/packet.h"
#include "stack/ether/link.h"
#include "stack/net/ipv4_addr.h"

namespace coronet::stack::arp {

struct ArpConfig {
  coro::Duration entry_ttl = std::chrono::seconds(60);      // reachable entries expire after this
  coro::Duration retry_interval = std::chrono::seconds(1);  // re-send an unanswered request
  unsigned max_retries = 3;  // requests after the first one; then drop what waits, counted
  std::size_t max_pending_per_entry = 16;  // packets waiting for one address; more are dropped
  std::size_t max_entries = 1024;
};

struct ArpStats {
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_malformed = 0;  // truncated, not Ethernet/IPv4, unknown opcode
  std::uint64_t rx_requests = 0;
  std::uint64_t rx_replies = 0;
  std::uint64_t rx_bad_sender = 0;  // multicast/zero sender MAC or non-unicast sender IP: ignored
  std::uint64_t rx_conflicts = 0;   // someone else claims our address (RFC 5227 §2.4): ignored
  std::uint64_t rx_own = 0;         // our own packet reflected back by the network: ignored
  std::uint64_t learned = 0;        // entries created from packets aimed at us
  std::uint64_t shared_in = 0;      // translations handed over by another engine (learn())
  std::uint64_t updated = 0;        // existing entries refreshed (merge rule)
  std::uint64_t resolved = 0;       // incomplete entries that got an answer
  std::uint64_t expired = 0;
  std::uint64_t evicted = 0;  // removed to make room (table full)
  std::uint64_t tx_requests = 0;
  std::uint64_t tx_replies = 0;
  std::uint64_t tx_announcements = 0;
  std::uint64_t tx_no_buffer = 0;         // a request/announcement could not be allocated
  std::uint64_t tx_no_headroom = 0;       // an IP packet without room for the Ethernet header
  std::uint64_t resolution_failures = 0;  // entries that gave up after max_retries
  std::uint64_t pending_queued = 0;
  std::uint64_t pending_dropped_overflow = 0;    // queue of an entry was full
  std::uint64_t pending_dropped_unresolved = 0;  // dropped when resolution failed
  std::uint64_t pending_dropped_evicted = 0;     // dropped with an evicted incomplete entry
};

class ArpCache {
 public:
  enum class State : std::uint8_t { kNone, kIncomplete, kReachable };
  // Receives each packet dropped because resolution failed (starting at its IPv4 header) and
  // takes ownership of it.
  using FailureFn = void (*)(void* ctx, nic::Packet* ip_packet);
  // Told of every translation a received ARP packet confirmed (learned or refreshed).
  using LearnFn = void (*)(void* ctx, Ipv4Address ip, const nic::MacAddress& mac);

  // Throws std::invalid_argument for max_entries == 0 or max_pending_per_entry == 0.
  ArpCache(coro::Reactor& reactor, ether::Link& link, Ipv4Address ours, ArpConfig config);
  ~ArpCache();
  ArpCache(const ArpCache&) = delete;
  ArpCache& operator=(const ArpCache&) = delete;

  // A received ARP packet (`p` starts at the ARP header). Takes ownership.
  void input(nic::Packet* p);

  // Sends an IPv4 packet (`p` starts at the IPv4 header) to the on-link `next_hop`: prepends the
  // Ethernet header and queues the frame on the link, or waits for resolution. Takes ownership.
  void send_ipv4(nic::Packet* p, Ipv4Address next_hop);

  // Broadcasts a gratuitous ARP announcement of our address (RFC 5227 §3: a request with sender
  // and target protocol address both ours). False when no buffer was available.
  bool announce();

  void set_failure_handler(FailureFn fn, void* ctx) {
    on_failure_ = fn;
    failure_ctx_ = ctx;
  }

  // Engines sharing one interface (one per queue of a multi-queue device) see ARP only on the
  // queue the device steers it to; that engine passes what it learns to the others, which call
  // learn(). The hook runs on this cache's thread for every translation a received packet
  // confirmed.
  void set_learn_hook(LearnFn fn, void* ctx) {
    on_learn_ = fn;
    learn_ctx_ = ctx;
  }
  // A translation learned by another engine on the same link: creates or refreshes a reachable
  // entry and sends what waited for it. Addresses that could never be a neighbour (zero,
  // broadcast, multicast, ours; group or zero MACs) are ignored.
  void learn(Ipv4Address ip, const nic::MacAddress& mac);

  // Introspection (tests, metrics).
  const nic::MacAddress* lookup(Ipv4Address ip) const;  // reachable entries only
  State state(Ipv4Address ip) const;
  std::size_t pending(Ipv4Address ip) const;
  std::size_t size() const { return size_; }
  const ArpConfig& config() const { return config_; }
  const ArpStats& stats() const { return stats_; }

 private:
  struct Entry : coro::TimerNode {
    Entry() : TimerNode(&ArpCache::on_timer) {}
    ArpCache* owner = nullptr;
    Ipv4Address ip;
    nic::MacAddress mac;
    State state = State::kNone;
    unsigned retries = 0;
    std::uint32_t npending = 0;
    std::int32_t hash_next = -1;  // bucket chain, or the free list while unused
    std::int32_t age_prev = -1;   // confirmation order: oldest first
    std::int32_t age_next = -1;
  };

  static void on_timer(coro::TimerNode* node);
  void timer_fired(Entry& e);
  std::int32_t index_of(const Entry& e) const {
    return static_cast<std::int32_t>(&e - entries_.get());
  }
  std::size_t bucket_of(Ipv4Address ip) const;
  Entry* find(Ipv4Address ip) const;
  // A fresh entry for `ip` (evicting the oldest when full), linked in the hash and age lists.
  Entry* create(Ipv4Address ip);
  // Unlinks `e` and returns it to the free list. Its pending queue must be empty.
  void release(Entry& e);
  void age_unlink(Entry& e);
  void age_append(Entry& e);
  void confirm(Entry& e, const nic::MacAddress& mac);
  nic::Packet** slots(const Entry& e) const {
    return pending_.get() + static_cast<std::size_t>(index_of(e)) * config_.max_pending_per_entry;
  }
  bool send_request(Ipv4Address target, bool announcement);
  void transmit(nic::Packet* ip_packet, const nic::MacAddress& dst);

  coro::Reactor& reactor_;
  ether::Link& link_;
  Ipv4Address ours_;
  ArpConfig config_;
  ArpStats stats_;
  std::unique_ptr<Entry[]> entries_;
  std::unique_ptr<std::int32_t[]> buckets_;
  std::size_t bucket_mask_ = 0;
  std::unique_ptr<nic::Packet*[]> pending_;  // max_entries x max_pending_per_entry slots
  std::unique_ptr<nic::Packet*[]> scratch_;  // one entry's queue while it is being failed
  std::int32_t free_head_ = -1;
  std::int32_t age_head_ = -1;
  std::int32_t age_tail_ = -1;
  std::size_t size_ = 0;
  FailureFn on_failure_ = nullptr;
  void* failure_ctx_ = nullptr;
  LearnFn on_learn_ = nullptr;
  void* learn_ctx_ = nullptr;
};

}  // namespace coronet::stack::arp
