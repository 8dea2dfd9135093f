#include "stack/tcp/header.h"

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"

namespace coronet::stack::tcp {
namespace {

constexpr std::uint8_t kOptEnd = 0;
constexpr std::uint8_t kOptNop = 1;
constexpr std::uint8_t kOptMss = 2;
constexpr std::uint8_t kOptWscale = 3;
constexpr std::uint8_t kOptSackPermitted = 4;
constexpr std::uint8_t kOptSack = 5;
constexpr std::uint8_t kOptTimestamp = 8;

void parse_options(std::span<const std::byte> opts, TcpOptions& out) {
  std::size_t i = 0;
  while (i < opts.size()) {
    auto kind = static_cast<std::uint8_t>(opts[i]);
    if (kind == kOptEnd) return;
    if (kind == kOptNop) {
      ++i;
      continue;
    }
    // Every other option has a length byte that counts kind and length (RFC 9293 §3.1); a length
    // below 2 or past the end makes the rest unparseable: stop, keep what was read.
    // RFC 1122 §4.2.2.5: an illegal length (e.g. zero) must not hang or crash us; it is noted
    // so the segment can be counted.
    if (i + 1 >= opts.size()) {
      out.malformed = true;
      return;
    }
    auto len = static_cast<std::uint8_t>(opts[i + 1]);
    if (len < 2 || i + len > opts.size()) {
      out.malformed = true;
      return;
    }
    const std::byte* v = opts.data() + i + 2;
    // A known option of the wrong length is ignored (and noted).
    switch (kind) {
      case kOptMss:
        if (len == 4) out.mss = load_be16(v);
        out.malformed |= len != 4;
        break;
      case kOptWscale:
        if (len == 3) out.window_scale = static_cast<std::uint8_t>(v[0]);
        out.malformed |= len != 3;
        break;
      case kOptSackPermitted:
        if (len == 2) out.sack_permitted = true;
        out.malformed |= len != 2;
        break;
      case kOptSack:
        // RFC 2018 §3: 2 + 8n bytes, n blocks of left/right edges; any other length is bogus and
        // the option is ignored.
        if (len >= 10 && (len - 2) % 8 == 0 && static_cast<std::size_t>((len - 2) / 8) <= kMaxSackBlocks) {
          out.sack_count = static_cast<std::uint8_t>((len - 2) / 8);
          for (std::uint8_t b = 0; b < out.sack_count; ++b) {
            out.sack[b] = {SeqNum(load_be32(v + 8 * b)), SeqNum(load_be32(v + 8 * b + 4))};
          }
        } else {
          out.malformed = true;
        }
        break;
      case kOptTimestamp:
        if (len == 10) {
          out.ts_val = load_be32(v);
          out.ts_ecr = load_be32(v + 4);
        }
        out.malformed |= len != 10;
        break;
      default:
        break;  // unknown options are skipped by their length (RFC 9293 §3.1)
    }
    i += len;
  }
}

}  // namespace

std::optional<TcpHeader> parse_header(std::span<const std::byte> s, ParseError* error) {
  if (s.size() < kMinHeader) {
    if (error != nullptr) *error = ParseError::kTruncated;
    return std::nullopt;
  }
  TcpHeader h;
  h.src_port = load_be16(s.data());
  h.dst_port = load_be16(s.data() + 2);
  h.seq = SeqNum(load_be32(s.data() + 4));
  h.ack = SeqNum(load_be32(s.data() + 8));
  h.data_offset = static_cast<std::uint8_t>(static_cast<std::uint8_t>(s[12]) >> 4);
  h.flags = static_cast<std::uint8_t>(s[13]);
  h.window = load_be16(s.data() + 14);
  h.checksum = load_be16(s.data() + 16);
  h.urgent = load_be16(s.data() + 18);
  if (h.data_offset < 5 || h.header_len() > s.size()) {
    if (error != nullptr) *error = ParseError::kBadDataOffset;
    return std::nullopt;
  }
  parse_options(s.subspan(kMinHeader, h.header_len() - kMinHeader), h.options);
  return h;
}

std::uint32_t options_length(const TcpOptions& o) {
  std::uint32_t n = 0;
  if (o.mss) n += 4;
  if (o.window_scale) n += 4;  // NOP + 3
  if (o.sack_permitted) n += 4;  // NOP NOP + 2 (or folded with timestamps below)
  if (o.ts_val) n += 12;  // NOP NOP + 10
  if (o.sack_count > 0) n += 4 + 8 * std::uint32_t{o.sack_count};  // NOP NOP + 2 + 8n
  return n;
}

void write_header(const TcpHeader& h, std::span<std::byte> out) {
  std::uint32_t olen = options_length(h.options);
  std::byte* p = out.data();
  store_be16(p, h.src_port);
  store_be16(p + 2, h.dst_port);
  store_be32(p + 4, h.seq.raw());
  store_be32(p + 8, h.ack.raw());
  p[12] = static_cast<std::byte>(((kMinHeader + olen) / 4) << 4);
  p[13] = static_cast<std::byte>(h.flags);
  store_be16(p + 14, h.window);
  store_be16(p + 16, h.checksum);
  store_be16(p + 18, h.urgent);
  std::byte* o = p + kMinHeader;
  auto put = [&o](std::uint8_t b) { *o++ = static_cast<std::byte>(b); };
  if (h.options.mss) {
    put(kOptMss);
    put(4);
    store_be16(o, *h.options.mss);
    o += 2;
  }
  if (h.options.window_scale) {
    put(kOptNop);
    put(kOptWscale);
    put(3);
    put(*h.options.window_scale);
  }
  if (h.options.sack_permitted) {
    put(kOptNop);
    put(kOptNop);
    put(kOptSackPermitted);
    put(2);
  }
  if (h.options.ts_val) {
    put(kOptNop);
    put(kOptNop);
    put(kOptTimestamp);
    put(10);
    store_be32(o, *h.options.ts_val);
    store_be32(o + 4, h.options.ts_ecr.value_or(0));
    o += 8;
  }
  if (h.options.sack_count > 0) {
    put(kOptNop);
    put(kOptNop);
    put(kOptSack);
    put(static_cast<std::uint8_t>(2 + 8 * h.options.sack_count));
    for (std::uint8_t b = 0; b < h.options.sack_count; ++b) {
      store_be32(o, h.options.sack[b].left.raw());
      store_be32(o + 4, h.options.sack[b].right.raw());
      o += 8;
    }
  }
}

std::uint16_t pseudo_header_sum(std::uint32_t src_ip, std::uint32_t dst_ip, std::uint16_t len) {
  Checksum c;
  c.add32(src_ip);
  c.add32(dst_ip);
  c.add16(6);  // protocol
  c.add16(len);
  return c.fold();
}

std::uint16_t tcp_checksum(std::uint32_t src_ip, std::uint32_t dst_ip,
                           std::span<const std::byte> segment) {
  Checksum c(pseudo_header_sum(src_ip, dst_ip, static_cast<std::uint16_t>(segment.size())));
  c.add(segment);
  return c.finish();
}

}  // namespace coronet::stack::tcp
