// Software Toeplitz hash, the function NICs use for receive-side scaling (RSS), so that a core can
// predict which queue the NIC will steer a flow to: the hash of a received packet's IPv4 4-tuple
// picks an entry of the redirection table (reta.h), and that entry names the queue.
//
// The input is the tuple as it sits on the wire, in network byte order: source address, destination
// address, source port, destination port (12 bytes; 8 for the addresses-only hash that NICs use for
// fragments and protocols without ports). Ipv4Tuple holds host-order values (10.0.0.1 is
// 0x0a000001, like stack::Ipv4Address::raw()); the hash reads them most significant byte first,
// which is the wire order, so no byte swapping is needed anywhere.
//
// The hash is linear over XOR: every set input bit contributes the 32-bit window of the key that
// starts at that bit's position. Toeplitz precomputes, for each of the 12 input byte positions, the
// contribution of all 256 byte values (12 KiB per key), so one hash is 12 table loads and XORs.
// toeplitz_reference() is the bit-at-a-time definition, kept for tests and as the spec.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace coronet::nic::rss {

inline constexpr std::size_t kKeySize = 40;  // the key length of Microsoft's spec and most NICs
using Key = std::array<std::uint8_t, kKeySize>;

// The key of Microsoft's RSS specification (and its verification suite), which many NICs and
// drivers install by default.
inline constexpr Key kMicrosoftKey = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

// A key whose bit pattern repeats every 16 bits. A bit's contribution then depends only on its
// position modulo 16; swapping the addresses moves bits by 32 and swapping the ports moves them by
// 16, so both directions of a flow hash alike and land on the same queue (Woo and Park, "Scalable
// TCP Session Monitoring with Symmetric Receive-side Scaling", 2012). Any 16-bit pattern works;
// 0x6d5a keeps the bits of the first two bytes of the Microsoft key.
inline constexpr Key kSymmetricKey = [] {
  Key k{};
  for (std::size_t i = 0; i < k.size(); i += 2) {
    k[i] = 0x6d;
    k[i + 1] = 0x5a;
  }
  return k;
}();

// An IPv4 TCP or UDP flow as seen by the packet being hashed. All fields in host order.
struct Ipv4Tuple {
  std::uint32_t src_addr = 0;
  std::uint32_t dst_addr = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;

  // The other direction of the same flow.
  constexpr Ipv4Tuple reversed() const { return {dst_addr, src_addr, dst_port, src_port}; }
  friend constexpr bool operator==(const Ipv4Tuple&, const Ipv4Tuple&) = default;
};

// The longest input a key hashes: every input bit needs 32 key bits from its position on.
inline constexpr std::size_t kMaxInputBytes = kKeySize - 4;

// The definition, one input bit at a time. `input` is at most kMaxInputBytes bytes (longer input
// is truncated there). Slow; for tests and as the specification of Toeplitz below.
std::uint32_t toeplitz_reference(const Key& key, std::span<const std::uint8_t> input);
// The 12-byte wire form of `t` hashed by toeplitz_reference().
std::uint32_t toeplitz_reference(const Key& key, const Ipv4Tuple& t);

// The table-driven hash for one key. Construction costs a few microseconds; keep one per key (per
// core, since it is read on every hash and 12 KiB fits in L1). Hashing never allocates.
class Toeplitz {
 public:
  static constexpr std::size_t kTupleBytes = 12;  // src addr, dst addr, src port, dst port
  using ByteTable = std::array<std::uint32_t, 256>;

  explicit Toeplitz(const Key& key);

  const Key& key() const { return key_; }

  // The RSS hash of an IPv4 TCP/UDP packet (NIC hash types "TCP IPv4" / "UDP IPv4").
  std::uint32_t hash(const Ipv4Tuple& t) const {
    return hash_addrs(t.src_addr, t.dst_addr) ^ port_part(8, t.src_port) ^
           port_part(10, t.dst_port);
  }

  // The hash of the addresses alone (hash type "IPv4": fragments and port-less protocols).
  std::uint32_t hash_addrs(std::uint32_t src_addr, std::uint32_t dst_addr) const {
    return word_part(0, src_addr) ^ word_part(4, dst_addr);
  }

  // What a 16-bit field at byte offset `at` (0..10) of the tuple adds to the hash. By linearity
  // the hash of a tuple is the XOR of its fields' parts; PortSelector uses this to vary one port
  // without rehashing the rest.
  std::uint32_t port_part(std::size_t at, std::uint16_t value) const {
    return tables_[at][value >> 8] ^ tables_[at + 1][value & 0xff];
  }

  // The contribution table of tuple byte `position` (0..11): entry v is the hash of a tuple whose
  // only non-zero byte is v at that position.
  const ByteTable& byte_table(std::size_t position) const { return tables_[position]; }

 private:
  std::uint32_t word_part(std::size_t at, std::uint32_t value) const {
    return tables_[at][value >> 24] ^ tables_[at + 1][(value >> 16) & 0xff] ^
           tables_[at + 2][(value >> 8) & 0xff] ^ tables_[at + 3][value & 0xff];
  }

  std::array<ByteTable, kTupleBytes> tables_;
  Key key_;
};

}  // namespace coronet::nic::rss
