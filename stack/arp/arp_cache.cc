#include "stack/arp/arp_cache.h"

#include <algorithm>
#include <bit>
#include <span>
#include <stdexcept>

#include "nic/packet_pool.h"
#include "stack/arp/arp_packet.h"
#include "stack/ether/ether.h"

namespace coronet::stack::arp {

ArpCache::ArpCache(coro::Reactor& reactor, ether::Link& link, Ipv4Address ours, ArpConfig config)
    : reactor_(reactor), link_(link), ours_(ours), config_(config) {
  if (config_.max_entries == 0 || config_.max_entries > (1u << 30)) {
    throw std::invalid_argument("ArpConfig::max_entries must be in [1, 2^30]");
  }
  if (config_.max_pending_per_entry == 0) {
    throw std::invalid_argument("ArpConfig::max_pending_per_entry must be at least 1");
  }
  const std::size_t n = config_.max_entries;
  entries_ = std::make_unique<Entry[]>(n);
  for (std::size_t i = 0; i < n; ++i) {
    entries_[i].owner = this;
    entries_[i].hash_next = i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1;
  }
  free_head_ = 0;
  const std::size_t nb = std::bit_ceil(n);
  buckets_ = std::make_unique<std::int32_t[]>(nb);
  for (std::size_t i = 0; i < nb; ++i) buckets_[i] = -1;
  bucket_mask_ = nb - 1;
  pending_ = std::make_unique<nic::Packet*[]>(n * config_.max_pending_per_entry);
  scratch_ = std::make_unique<nic::Packet*[]>(config_.max_pending_per_entry);
}

ArpCache::~ArpCache() {
  for (std::size_t i = 0; i < config_.max_entries; ++i) {
    Entry& e = entries_[i];
    reactor_.cancel_timer(e);
    nic::PacketPool::free_bulk(std::span<nic::Packet* const>(slots(e), e.npending));
    e.npending = 0;
  }
}

std::size_t ArpCache::bucket_of(Ipv4Address ip) const {
  // Fibonacci hashing: multiply, keep the high bits.
  const std::uint64_t h = static_cast<std::uint64_t>(ip.raw()) * 0x9e3779b97f4a7c15ull;
  return static_cast<std::size_t>(h >> 32) & bucket_mask_;
}

ArpCache::Entry* ArpCache::find(Ipv4Address ip) const {
  for (std::int32_t i = buckets_[bucket_of(ip)]; i >= 0; i = entries_[i].hash_next) {
    if (entries_[i].ip == ip) return &entries_[i];
  }
  return nullptr;
}

void ArpCache::age_unlink(Entry& e) {
  if (e.age_prev >= 0) {
    entries_[e.age_prev].age_next = e.age_next;
  } else {
    age_head_ = e.age_next;
  }
  if (e.age_next >= 0) {
    entries_[e.age_next].age_prev = e.age_prev;
  } else {
    age_tail_ = e.age_prev;
  }
  e.age_prev = e.age_next = -1;
}

void ArpCache::age_append(Entry& e) {
  const std::int32_t i = index_of(e);
  e.age_prev = age_tail_;
  e.age_next = -1;
  if (age_tail_ >= 0) {
    entries_[age_tail_].age_next = i;
  } else {
    age_head_ = i;
  }
  age_tail_ = i;
}

ArpCache::Entry* ArpCache::create(Ipv4Address ip) {
  if (free_head_ < 0) {
    // Table full: evict the entry confirmed longest ago. Its waiting packets (if it was still
    // incomplete) are dropped and counted; they were the oldest requests anyway.
    Entry& victim = entries_[age_head_];
    stats_.pending_dropped_evicted += victim.npending;
    nic::PacketPool::free_bulk(std::span<nic::Packet* const>(slots(victim), victim.npending));
    victim.npending = 0;
    ++stats_.evicted;
    release(victim);
  }
  Entry& e = entries_[free_head_];
  free_head_ = e.hash_next;
  e.ip = ip;
  e.mac = nic::MacAddress();
  e.state = State::kNone;  // the caller makes it incomplete or reachable
  e.retries = 0;
  e.npending = 0;
  const std::size_t b = bucket_of(ip);
  e.hash_next = buckets_[b];
  buckets_[b] = index_of(e);
  age_append(e);
  ++size_;
  return &e;
}

void ArpCache::release(Entry& e) {
  reactor_.cancel_timer(e);
  const std::int32_t i = index_of(e);
  std::int32_t* link = &buckets_[bucket_of(e.ip)];
  while (*link != i) link = &entries_[*link].hash_next;
  *link = e.hash_next;
  age_unlink(e);
  e.state = State::kNone;
  e.hash_next = free_head_;
  free_head_ = i;
  --size_;
}

void ArpCache::transmit(nic::Packet* p, const nic::MacAddress& dst) {
  if (!ether::prepend(*p, dst, link_.mac(), ether::kTypeIpv4)) {
    ++stats_.tx_no_headroom;
    nic::PacketPool::free(p);
    return;
  }
  link_.send(p);
}

void ArpCache::confirm(Entry& e, const nic::MacAddress& mac) {
  const bool was_incomplete = e.state == State::kIncomplete;
  e.mac = mac;
  e.state = State::kReachable;
  e.retries = 0;
  reactor_.arm_timer(e, reactor_.now() + config_.entry_ttl);
  age_unlink(e);
  age_append(e);
  if (was_incomplete) {
    ++stats_.resolved;
    // Release the queue in arrival order; transmit() never re-enters the cache.
    nic::Packet** q = slots(e);
    const std::uint32_t n = e.npending;
    e.npending = 0;
    for (std::uint32_t i = 0; i < n; ++i) transmit(q[i], mac);
  }
}

void ArpCache::send_ipv4(nic::Packet* p, Ipv4Address next_hop) {
  Entry* e = find(next_hop);
  if (e != nullptr && e->state == State::kReachable) {
    transmit(p, e->mac);
    return;
  }
  if (e == nullptr) {
    e = create(next_hop);
    e->state = State::kIncomplete;
    send_request(next_hop, false);
    reactor_.arm_timer(*e, reactor_.now() + config_.retry_interval);
  }
  // Incomplete: wait, bounded. No new request here: retries run on the entry's timer, which
  // keeps us at one request per retry_interval however many packets queue up.
  if (e->npending >= config_.max_pending_per_entry) {
    ++stats_.pending_dropped_overflow;
    nic::PacketPool::free(p);
    return;
  }
  slots(*e)[e->npending++] = p;
  ++stats_.pending_queued;
}

void ArpCache::on_timer(coro::TimerNode* node) {
  auto* e = static_cast<Entry*>(node);
  e->owner->timer_fired(*e);
}

void ArpCache::timer_fired(Entry& e) {
  if (e.state == State::kReachable) {
    ++stats_.expired;
    release(e);
    return;
  }
  if (e.retries < config_.max_retries) {
    ++e.retries;
    send_request(e.ip, false);
    reactor_.arm_timer(e, reactor_.now() + config_.retry_interval);
    return;
  }
  // Give up. Move the queue aside and free the entry before calling out: the handler may send to
  // the same address again, which must start a fresh resolution, not append to this queue.
  ++stats_.resolution_failures;
  const std::uint32_t n = e.npending;
  std::copy_n(slots(e), n, scratch_.get());
  e.npending = 0;
  release(e);
  stats_.pending_dropped_unresolved += n;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (on_failure_ != nullptr) {
      on_failure_(failure_ctx_, scratch_[i]);
    } else {
      nic::PacketPool::free(scratch_[i]);
    }
  }
}

bool ArpCache::send_request(Ipv4Address target, bool announcement) {
  nic::Packet* p = link_.alloc(ether::kHeaderLen);
  if (p == nullptr) {
    ++stats_.tx_no_buffer;
    return false;
  }
  std::byte* at = p->append(kPacketLen);
  ArpPacket a;
  a.op = kOpRequest;
  a.sender_mac = link_.mac();
  a.sender_ip = ours_;
  a.target_mac = nic::MacAddress();  // RFC 5227 §2.1.1: zero in requests
  a.target_ip = target;
  write(at, a);
  ether::prepend(*p, nic::MacAddress::broadcast(), link_.mac(), ether::kTypeArp);
  link_.send(p);
  ++(announcement ? stats_.tx_announcements : stats_.tx_requests);
  return true;
}

bool ArpCache::announce() { return send_request(ours_, true); }

void ArpCache::input(nic::Packet* p) {
  ++stats_.rx_packets;
  std::optional<ArpPacket> a = parse(p->bytes());
  if (!a) {
    ++stats_.rx_malformed;
    nic::PacketPool::free(p);
    return;
  }
  ++(a->op == kOpRequest ? stats_.rx_requests : stats_.rx_replies);
  if (a->sender_mac == link_.mac()) {
    ++stats_.rx_own;
    nic::PacketPool::free(p);
    return;
  }
  if (a->sender_ip == ours_ && !ours_.is_any()) {
    // Our address in use elsewhere (or our own announcement echoed): never learn it.
    ++stats_.rx_conflicts;
    nic::PacketPool::free(p);
    return;
  }
  // Only a unicast station can be a translation; a zero sender IP is an RFC 5227 probe, which we
  // answer (if it asks for us) but do not learn from.
  const bool probe = a->sender_ip.is_any();
  if (a->sender_mac.is_multicast() || a->sender_mac.is_zero() || a->sender_ip.is_broadcast() ||
      a->sender_ip.is_multicast()) {
    ++stats_.rx_bad_sender;
    nic::PacketPool::free(p);
    return;
  }
  // RFC 826 "Packet Reception": update the sender's entry if we have one (Merge_flag)...
  bool merged = false;
  if (!probe) {
    if (Entry* e = find(a->sender_ip)) {
      if (e->state == State::kReachable) ++stats_.updated;
      confirm(*e, a->sender_mac);
      merged = true;
      if (on_learn_ != nullptr) on_learn_(learn_ctx_, a->sender_ip, a->sender_mac);
    }
  }
  if (a->target_ip != ours_) {
    nic::PacketPool::free(p);
    return;
  }
  // ...and, when we are the target, add it if it was not there.
  if (!merged && !probe) {
    ++stats_.learned;
    confirm(*create(a->sender_ip), a->sender_mac);
    if (on_learn_ != nullptr) on_learn_(learn_ctx_, a->sender_ip, a->sender_mac);
  }
  if (a->op != kOpRequest) {
    nic::PacketPool::free(p);
    return;
  }
  // RFC 826: swap sender and target, put our addresses in as sender, set the opcode to reply and
  // send it to the requester's hardware address. The request's buffer becomes the reply.
  ArpPacket reply;
  reply.op = kOpReply;
  reply.sender_mac = link_.mac();
  reply.sender_ip = ours_;
  reply.target_mac = a->sender_mac;
  reply.target_ip = a->sender_ip;
  p->truncate(kPacketLen);  // drop Ethernet padding
  p->meta = {};
  write(p->data(), reply);
  if (!ether::prepend(*p, a->sender_mac, link_.mac(), ether::kTypeArp)) {
    ++stats_.tx_no_headroom;
    nic::PacketPool::free(p);
    return;
  }
  link_.send(p);
  ++stats_.tx_replies;
}

void ArpCache::learn(Ipv4Address ip, const nic::MacAddress& mac) {
  if (ip.is_any() || ip.is_broadcast() || ip.is_multicast() || ip == ours_ ||
      mac.is_multicast() || mac.is_zero()) {
    return;
  }
  ++stats_.shared_in;
  Entry* e = find(ip);
  confirm(e != nullptr ? *e : *create(ip), mac);
}

const nic::MacAddress* ArpCache::lookup(Ipv4Address ip) const {
  const Entry* e = find(ip);
  return e != nullptr && e->state == State::kReachable ? &e->mac : nullptr;
}

ArpCache::State ArpCache::state(Ipv4Address ip) const {
  const Entry* e = find(ip);
  return e != nullptr ? e->state : State::kNone;
}

std::size_t ArpCache::pending(Ipv4Address ip) const {
  const Entry* e = find(ip);
  return e != nullptr ? e->npending : 0;
}

}  // namespace coronet::stack::arp
