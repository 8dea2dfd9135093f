// TCP header codec (RFC 9293 §3.1) and the options this stack speaks: MSS (RFC 6691), window
// scale (RFC 7323 §2), SACK-permitted and SACK blocks (RFC 2018), timestamps (RFC 7323 §3). Parsing is defensive:
// a malformed option list ends parsing of options without touching memory beyond the header.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "stack/tcp/seq.h"

namespace coronet::stack::tcp {

namespace flag {
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
inline constexpr std::uint8_t kUrg = 0x20;
inline constexpr std::uint8_t kEce = 0x40;
inline constexpr std::uint8_t kCwr = 0x80;
}  // namespace flag

inline constexpr std::uint32_t kMinHeader = 20;
inline constexpr std::uint32_t kMaxHeader = 60;

// One SACK block (RFC 2018 §3): the peer holds [left, right).
struct SackBlock {
  SeqNum left;
  SeqNum right;
};
inline constexpr std::size_t kMaxSackBlocks = 4;  // 40 option bytes hold at most four

struct TcpOptions {
  std::optional<std::uint16_t> mss = {};
  std::optional<std::uint8_t> window_scale = {};  // shift as received (clamped to 14 on use)
  bool sack_permitted = false;
  std::optional<std::uint32_t> ts_val = {};
  std::optional<std::uint32_t> ts_ecr = {};
  std::uint8_t sack_count = 0;  // blocks in `sack` (RFC 2018 §3)
  std::array<SackBlock, kMaxSackBlocks> sack = {};
  // Parsing met a broken option list (a length below 2 or past the header) or a known option of
  // the wrong length: what could not be read was ignored (RFC 9293 §3.1, RFC 1122 §4.2.2.5).
  bool malformed = false;
};

struct TcpHeader {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  SeqNum seq;
  SeqNum ack;
  std::uint8_t data_offset = 5;  // header length in 32-bit words
  std::uint8_t flags = 0;
  std::uint16_t window = 0;
  std::uint16_t checksum = 0;
  std::uint16_t urgent = 0;
  TcpOptions options;

  bool has(std::uint8_t f) const { return (flags & f) != 0; }
  std::uint32_t header_len() const { return std::uint32_t{data_offset} * 4; }
};

enum class ParseError { kTruncated, kBadDataOffset };

// Parses the header at the start of `segment` (which holds header + payload). Errors for a
// segment shorter than 20 bytes or a data offset outside [5, 15] or beyond the segment.
std::optional<TcpHeader> parse_header(std::span<const std::byte> segment, ParseError* error);

// Bytes the options of `h` take when written (padded to a multiple of 4).
std::uint32_t options_length(const TcpOptions& o);

// Writes `h` (with its options; data_offset computed) into `out`, which must hold
// 20 + options_length(h.options) bytes. The checksum field is written as given.
void write_header(const TcpHeader& h, std::span<std::byte> out);

// The TCP checksum over the pseudo-header (RFC 9293 §3.1) and `segment`, for the field.
std::uint16_t tcp_checksum(std::uint32_t src_ip, std::uint32_t dst_ip,
                           std::span<const std::byte> segment);
// Just the pseudo-header sum, folded and not inverted: what a device doing the L4 checksum
// expects pre-seeded in the field.
std::uint16_t pseudo_header_sum(std::uint32_t src_ip, std::uint32_t dst_ip, std::uint16_t len);

}  // namespace coronet::stack::tcp
