#include "stack/ipv4/reassembly.h"

#include <cstring>
#include <stdexcept>

#include "nic/packet_pool.h"

namespace coronet::stack::ipv4 {

namespace {

// Fields of a held fragment, read back from its header (fragments start at their IPv4 header).
std::uint32_t header_len_of(const nic::Packet* p) {
  return (static_cast<std::uint8_t>(p->data()[0]) & 0x0f) * 4u;
}
std::uint32_t offset_of(const nic::Packet* p) {
  return static_cast<std::uint32_t>(load_be16(p->data() + 6) & kOffsetMask) * 8;
}
std::uint32_t payload_len_of(const nic::Packet* p) { return p->size() - header_len_of(p); }
std::uint32_t end_of(const nic::Packet* p) { return offset_of(p) + payload_len_of(p); }
const std::byte* payload_of(const nic::Packet* p) { return p->data() + header_len_of(p); }

}  // namespace

Reassembler::Reassembler(coro::Reactor& reactor, const Ipv4Config& config)
    : reactor_(reactor), config_(config) {
  if (config_.reassembly_max_datagrams == 0) {
    throw std::invalid_argument("Ipv4Config::reassembly_max_datagrams must be at least 1");
  }
  entries_ = std::make_unique<Entry[]>(config_.reassembly_max_datagrams);
  for (std::size_t i = 0; i < config_.reassembly_max_datagrams; ++i) entries_[i].owner = this;
}

Reassembler::~Reassembler() {
  for (std::size_t i = 0; i < config_.reassembly_max_datagrams; ++i) {
    reactor_.cancel_timer(entries_[i]);
    free_fragments(entries_[i]);
  }
}

std::size_t Reassembler::in_progress() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < config_.reassembly_max_datagrams; ++i) {
    n += entries_[i].used && !entries_[i].dead;
  }
  return n;
}

Reassembler::Entry* Reassembler::find_or_create(const Header& h) {
  // RFC 791 §3.2: fragments belong together when source, destination, protocol and
  // identification match. A linear scan: the table is small and fragments are off the fast path.
  Entry* unused = nullptr;
  for (std::size_t i = 0; i < config_.reassembly_max_datagrams; ++i) {
    Entry& e = entries_[i];
    if (!e.used) {
      if (unused == nullptr) unused = &e;
      continue;
    }
    if (e.id == h.id && e.src == h.src && e.dst == h.dst && e.protocol == h.protocol) return &e;
  }
  if (unused == nullptr) return nullptr;
  Entry& e = *unused;
  e.used = true;
  e.dead = false;
  e.src = h.src;
  e.dst = h.dst;
  e.id = h.id;
  e.protocol = h.protocol;
  e.head = nullptr;
  e.held = 0;
  e.received = 0;
  e.total = 0;
  e.have_last = false;
  reactor_.arm_timer(e, reactor_.now() + config_.reassembly_timeout);
  return &e;
}

void Reassembler::free_fragments(Entry& e) {
  if (e.head != nullptr) nic::PacketPool::free(e.head);  // frees the whole list
  e.head = nullptr;
  held_bytes_ -= e.held;
  e.held = 0;
  e.received = 0;
}

void Reassembler::kill(Entry& e) {
  free_fragments(e);
  e.dead = true;
}

void Reassembler::release(Entry& e) {
  reactor_.cancel_timer(e);
  free_fragments(e);
  e.used = false;
  e.dead = false;
}

nic::Packet* Reassembler::add(nic::Packet* p, const Header& h) {
  ++stats_.fragments;
  auto drop = [p](std::uint64_t& counter) -> nic::Packet* {
    ++counter;
    nic::PacketPool::free(p);
    return nullptr;
  };
  if (p->next() != nullptr) return drop(stats_.chained_input);
  const std::uint32_t len = h.total_len - h.header_len;
  const std::uint32_t off = h.frag_offset;
  const std::uint32_t end = off + len;
  // RFC 791 §3.2: every fragment but the last carries a multiple of 8 bytes; an empty fragment
  // carries nothing to reassemble.
  if (len == 0 || (h.more_fragments && len % 8 != 0)) return drop(stats_.bad_fragments);

  Entry* e = find_or_create(h);
  if (e == nullptr) return drop(stats_.table_full);
  if (e->dead) return drop(stats_.late_fragments);
  auto drop_datagram = [&](std::uint64_t& counter) -> nic::Packet* {
    ++counter;
    kill(*e);
    nic::PacketPool::free(p);
    return nullptr;
  };
  // The datagram may not exceed 65535 bytes with its (smallest) header ("ping of death").
  if (end + kMinHeaderLen > kMaxDatagram) return drop_datagram(stats_.oversize);

  // Find the neighbours: `prev` starts before `off`, `cur` at or after it.
  nic::Packet* prev = nullptr;
  nic::Packet* cur = e->head;
  while (cur != nullptr && offset_of(cur) < off) {
    prev = cur;
    cur = cur->next();
  }
  if (!h.more_fragments) {
    // The last fragment fixes the length: it must agree with an earlier last fragment and with
    // every fragment already held.
    nic::Packet* last = prev;
    for (nic::Packet* f = cur; f != nullptr; f = f->next()) last = f;
    if ((e->have_last && e->total != end) || (last != nullptr && end_of(last) > end)) {
      return drop_datagram(stats_.inconsistent);
    }
  } else if (e->have_last && end > e->total) {
    return drop_datagram(stats_.inconsistent);
  }
  if (cur != nullptr && offset_of(cur) == off && end_of(cur) == end) {
    // Same place again: harmless if it is the same data, an attack or a bug if not.
    if (std::memcmp(payload_of(cur), payload_of(p), len) == 0) return drop(stats_.duplicates);
    return drop_datagram(stats_.overlaps);
  }
  if ((prev != nullptr && end_of(prev) > off) || (cur != nullptr && end > offset_of(cur))) {
    return drop_datagram(stats_.overlaps);
  }
  if (held_bytes_ + p->capacity() > config_.reassembly_max_bytes) {
    return drop_datagram(stats_.memory_exceeded);
  }

  p->set_next(cur);
  if (prev != nullptr) {
    prev->set_next(p);
  } else {
    e->head = p;
  }
  e->held += p->capacity();
  held_bytes_ += p->capacity();
  e->received += len;
  if (!h.more_fragments) {
    e->have_last = true;
    e->total = end;
  }
  // Disjoint fragments inside [0, total) that add up to total cover it: no holes left.
  if (e->have_last && e->received == e->total) return complete(*e);
  return nullptr;
}

nic::Packet* Reassembler::complete(Entry& e) {
  nic::Packet* first = e.head;
  const std::uint32_t hlen = header_len_of(first);
  const std::uint32_t total_len = hlen + e.total;
  if (total_len > kMaxDatagram) {  // options made the header longer than the early check assumed
    ++stats_.oversize;
    release(e);
    return nullptr;
  }
  held_bytes_ -= e.held;
  e.held = 0;
  e.head = nullptr;
  e.received = 0;
  reactor_.cancel_timer(e);
  e.used = false;

  nic::Packet* rest = first->next();
  first->set_next(nullptr);
  if (first->size() + first->tailroom() >= total_len) {
    // Fits in one buffer: copy, so transports mostly see a single segment.
    while (rest != nullptr) {
      nic::Packet* next = rest->next();
      rest->set_next(nullptr);
      first->append_bytes(std::span<const std::byte>(payload_of(rest), payload_len_of(rest)));
      nic::PacketPool::free(rest);
      rest = next;
    }
  } else {
    for (nic::Packet* f = rest; f != nullptr; f = f->next()) f->trim_front(header_len_of(f));
    first->set_next(rest);
  }
  const bool df = (load_be16(first->data() + 6) & kFlagDontFragment) != 0;
  rewrite_length_and_fragment(first->data(), static_cast<std::uint16_t>(total_len), df);
  first->meta.flags = 0;  // the device's checksum verdicts described fragment zero alone
  ++stats_.reassembled;
  return first;
}

void Reassembler::on_timer(coro::TimerNode* node) {
  auto* e = static_cast<Entry*>(node);
  e->owner->expire(*e);
}

void Reassembler::expire(Entry& e) {
  if (e.dead) {
    release(e);
    return;
  }
  ++stats_.timeouts;
  nic::Packet* first = e.head;
  if (first != nullptr && offset_of(first) == 0 && on_timeout_ != nullptr) {
    // RFC 792: Time Exceeded code 1 is only sent when fragment zero is available.
    e.head = first->next();
    first->set_next(nullptr);
    release(e);
    on_timeout_(timeout_ctx_, first);
    return;
  }
  release(e);
}

}  // namespace coronet::stack::ipv4
