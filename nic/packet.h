// Packet buffers. A Packet is a descriptor for one fixed-size buffer owned by a per-core
// PacketPool: headroom for headers that get prepended, data, tailroom. Larger payloads chain
// several packets (next()). Ownership is single-owner: a Packet* is held by exactly one party (the
// pool's free list, a device queue, the stack, the application) and is handed over explicitly, e.g.
// tx_burst() takes the packets it accepted. Duplicating means copying (PacketPool::clone).
//
// Views are the one exception: a view is a buffer-less descriptor (PacketPool::alloc_view) that
// points into another packet's bytes and holds a reference on it, so the same bytes can be on the
// wire and in their owner's hands at once. TCP sends its payload this way: a segment is a header
// packet chained to views of the send buffer, which copies nothing and keeps the bytes alive until
// both the ACK and the device are done with them. A packet's buffer returns to its pool when its
// last holder frees it. So a device must never write into the bytes of a frame it transmits
// (anything that damages frames on purpose, like the impairment layer, copies first).
//
// Offload metadata rides along: RSS hash and queue on receive, checksum verdicts from the NIC, and
// on transmit the checksum/TSO work the device is asked to do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace coronet::nic {

class PacketPool;

// Receive-side verdicts and transmit-side requests. Plain bit flags, cheap to test per packet.
namespace offload {
inline constexpr std::uint32_t kRssHashValid = 1u << 0;
inline constexpr std::uint32_t kRxIpv4CsumGood = 1u << 1;  // device verified the IPv4 header sum
inline constexpr std::uint32_t kRxIpv4CsumBad = 1u << 2;
inline constexpr std::uint32_t kRxL4CsumGood = 1u << 3;  // device verified the TCP/UDP sum
inline constexpr std::uint32_t kRxL4CsumBad = 1u << 4;
inline constexpr std::uint32_t kTxIpv4Csum = 1u << 8;  // device must fill the IPv4 header sum
inline constexpr std::uint32_t kTxTcpCsum = 1u << 9;   // device must fill the TCP sum
inline constexpr std::uint32_t kTxUdpCsum = 1u << 10;  // device must fill the UDP sum
inline constexpr std::uint32_t kTxTso = 1u << 11;      // device segments at tso_mss
inline constexpr std::uint32_t kRxLro = 1u << 12;      // device merged several segments
}  // namespace offload

struct PacketMeta {
  std::uint32_t flags = 0;     // offload:: bits
  std::uint32_t rss_hash = 0;  // valid with kRssHashValid
  std::uint16_t queue = 0;     // queue it arrived on
  std::uint16_t tso_mss = 0;   // with kTxTso
  std::uint8_t l2_len = 0;     // header lengths the stack fills for tx offloads
  std::uint8_t l3_len = 0;
  std::uint8_t l4_len = 0;
  std::uint64_t timestamp_ns = 0;  // receive time (device or wire clock), 0 if unknown
};

class Packet {
 public:
  Packet() = default;
  Packet(const Packet&) = delete;
  Packet& operator=(const Packet&) = delete;

  // This segment's bytes.
  std::byte* data() { return buf_ + off_; }
  const std::byte* data() const { return buf_ + off_; }
  std::uint32_t size() const { return len_; }
  std::span<std::byte> bytes() { return {data(), len_}; }
  std::span<const std::byte> bytes() const { return {data(), len_}; }

  std::uint32_t headroom() const { return off_; }
  std::uint32_t tailroom() const { return cap_ - off_ - len_; }
  std::uint32_t capacity() const { return cap_; }

  // Grows the front by n bytes (for a header) and returns the new start, or null when the
  // headroom is too small. Never reallocates.
  std::byte* prepend(std::uint32_t n) {
    if (n > off_) return nullptr;
    off_ -= n;
    len_ += n;
    return data();
  }
  // Grows the back by n bytes and returns the start of the new bytes, or null when full.
  std::byte* append(std::uint32_t n) {
    if (n > tailroom()) return nullptr;
    std::byte* p = data() + len_;
    len_ += n;
    return p;
  }
  // Drops n bytes from the front (a parsed header). False if n > size().
  bool trim_front(std::uint32_t n) {
    if (n > len_) return false;
    off_ += n;
    len_ -= n;
    return true;
  }
  // Cuts the segment to n bytes (e.g. Ethernet padding). False if n > size().
  bool truncate(std::uint32_t n) {
    if (n > len_) return false;
    len_ = n;
    return true;
  }
  // Copies `src` to the end. False (and nothing copied) when it does not fit.
  bool append_bytes(std::span<const std::byte> src) {
    std::byte* p = append(static_cast<std::uint32_t>(src.size()));
    if (p == nullptr) return false;
    // (An empty span may carry a null pointer: memcpy from null is undefined even for 0 bytes.)
    if (!src.empty()) std::memcpy(p, src.data(), src.size());
    return true;
  }
  // Empties the buffer and puts the data start `headroom` bytes in.
  void reset(std::uint32_t headroom) {
    off_ = headroom < cap_ ? headroom : cap_;
    len_ = 0;
    next_ = nullptr;
    meta = {};
  }

  // Chains: `next()` is the following segment of the same frame/payload.
  Packet* next() const { return next_; }
  void set_next(Packet* p) { next_ = p; }
  // Total bytes over the chain.
  std::size_t chain_size() const {
    std::size_t n = 0;
    for (const Packet* p = this; p != nullptr; p = p->next_) n += p->len_;
    return n;
  }
  std::size_t chain_segments() const {
    std::size_t n = 0;
    for (const Packet* p = this; p != nullptr; p = p->next_) ++n;
    return n;
  }
  // Copies the whole chain into `out` (up to out.size() bytes); returns bytes copied.
  std::size_t copy_out(std::span<std::byte> out) const;

  PacketPool* pool() const { return pool_; }
  // The packet whose bytes this view shows, or null for an ordinary packet.
  const Packet* view_base() const { return base_; }
  // Holders of this buffer: 1 for its owner, plus one per live view of it.
  std::uint32_t refs() const { return refs_; }
  // Backend cookie (e.g. the rte_mbuf behind this descriptor); null for native pools.
  void* backend() const { return backend_; }

  PacketMeta meta;

 private:
  friend class PacketPool;
  std::byte* buf_ = nullptr;
  std::uint32_t cap_ = 0;
  std::uint32_t off_ = 0;
  std::uint32_t len_ = 0;
  Packet* next_ = nullptr;
  PacketPool* pool_ = nullptr;
  void* backend_ = nullptr;
  Packet* base_ = nullptr;  // a view's target
  std::uint32_t refs_ = 0;
  bool in_pool_ = false;  // on its pool's free list: a second free is caught, not corrupting
};

inline std::size_t Packet::copy_out(std::span<std::byte> out) const {
  std::size_t done = 0;
  for (const Packet* p = this; p != nullptr && done < out.size(); p = p->next_) {
    std::size_t n = p->len_ < out.size() - done ? p->len_ : out.size() - done;
    std::memcpy(out.data() + done, p->data(), n);
    done += n;
  }
  return done;
}

}  // namespace coronet::nic
