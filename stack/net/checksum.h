// The Internet checksum (RFC 1071) and its incremental update (RFC 1624), used by IPv4, ICMP, UDP
// and TCP when the device does not offload them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace coronet::stack {

// One's-complement sum accumulator. Feed it byte ranges (each treated as a sequence of big-endian
// 16-bit words continuing where the previous range ended) and 16/32-bit values, then fold.
class Checksum {
 public:
  Checksum() = default;
  explicit Checksum(std::uint32_t initial) : sum_(initial) {}

  void add(std::span<const std::byte> bytes);
  // A 16-bit field in host order.
  void add16(std::uint16_t v) { sum_ += v; }
  // A 32-bit field in host order (e.g. an IPv4 address as a number).
  void add32(std::uint32_t v) { sum_ += (v >> 16) + (v & 0xffff); }

  // The 16-bit one's-complement sum (not inverted).
  std::uint16_t fold() const;
  // The value to put in a header checksum field (host order): ~fold().
  std::uint16_t finish() const { return static_cast<std::uint16_t>(~fold()); }

 private:
  std::uint64_t sum_ = 0;
  bool odd_ = false;  // the previous range ended in the middle of a 16-bit word
};

// ~sum over `bytes` in one call (host order result for a header field).
std::uint16_t internet_checksum(std::span<const std::byte> bytes);

// RFC 1624 eqn. 3: the new checksum field after a 16-bit word of the covered data changes from
// `old_word` to `new_word` (all host order). Cheaper than recomputing for TTL/port/address edits.
std::uint16_t checksum_update16(std::uint16_t old_check, std::uint16_t old_word,
                                std::uint16_t new_word);
std::uint16_t checksum_update32(std::uint16_t old_check, std::uint32_t old_value,
                                std::uint32_t new_value);

}  // namespace coronet::stack
