// The IPv4 header (RFC 791 §3.1): field access and construction. Validation of received headers
// lives in Ipv4Layer::input (it needs the frame length and the device's checksum verdict).
#pragma once

#include <cstddef>
#include <cstdint>

#include "stack/net/bytes.h"
#include "stack/net/ipv4_addr.h"

namespace coronet::stack::ipv4 {

inline constexpr std::uint32_t kMinHeaderLen = 20;
inline constexpr std::uint32_t kMaxHeaderLen = 60;
inline constexpr std::uint32_t kMaxDatagram = 65535;  // total length is a 16-bit field

// Flags and fragment offset share one 16-bit field (RFC 791 §3.1).
inline constexpr std::uint16_t kFlagReserved = 0x8000;
inline constexpr std::uint16_t kFlagDontFragment = 0x4000;
inline constexpr std::uint16_t kFlagMoreFragments = 0x2000;
inline constexpr std::uint16_t kOffsetMask = 0x1fff;  // in units of 8 bytes

struct Header {
  std::uint8_t version = 4;
  std::uint8_t header_len = kMinHeaderLen;  // bytes (IHL x 4)
  std::uint8_t tos = 0;
  std::uint16_t total_len = 0;
  std::uint16_t id = 0;
  bool dont_fragment = false;
  bool more_fragments = false;
  std::uint32_t frag_offset = 0;  // bytes
  std::uint8_t ttl = 0;
  std::uint8_t protocol = 0;
  std::uint16_t checksum = 0;
  Ipv4Address src;
  Ipv4Address dst;

  bool is_fragment() const { return more_fragments || frag_offset != 0; }
};

// Decodes the fixed 20 bytes at `p` (the caller checked they are there). No validation.
inline Header read_header(const std::byte* p) {
  Header h;
  const auto b0 = static_cast<std::uint8_t>(p[0]);
  h.version = b0 >> 4;
  h.header_len = static_cast<std::uint8_t>((b0 & 0x0f) * 4);
  h.tos = static_cast<std::uint8_t>(p[1]);
  h.total_len = load_be16(p + 2);
  h.id = load_be16(p + 4);
  const std::uint16_t frag = load_be16(p + 6);
  h.dont_fragment = (frag & kFlagDontFragment) != 0;
  h.more_fragments = (frag & kFlagMoreFragments) != 0;
  h.frag_offset = static_cast<std::uint32_t>(frag & kOffsetMask) * 8;
  h.ttl = static_cast<std::uint8_t>(p[8]);
  h.protocol = static_cast<std::uint8_t>(p[9]);
  h.checksum = load_be16(p + 10);
  h.src = Ipv4Address(load_be32(p + 12));
  h.dst = Ipv4Address(load_be32(p + 16));
  return h;
}

// Encodes a 20-byte header (no options) at `p`. The checksum field is written as 0 when
// `compute_checksum` is false (the device fills it: nic::offload::kTxIpv4Csum).
void write_header(std::byte* p, const Header& h, bool compute_checksum);

// Rewrites the total length, flags and offset of the header at `p` and recomputes its checksum
// (the header's length is taken from its IHL). Used to turn a first fragment into the header of
// the reassembled datagram.
void rewrite_length_and_fragment(std::byte* p, std::uint16_t total_len, bool dont_fragment);

}  // namespace coronet::stack::ipv4
