#include "nic/tap/test_frames.h"

#include <algorithm>
#include <array>

namespace coronet::nic::test_frames {
namespace {

constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kArpLen = 28;

// A tiny big-endian writer/reader: frames are built field by field in wire order.
class Writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(std::byte{v}); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void mac(const MacAddress& m) {
    for (std::uint8_t b : m.bytes()) u8(b);
  }
  void raw(std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  std::size_t size() const { return out_.size(); }
  // Stores a 16-bit value at an offset already written (checksums, lengths).
  void patch16(std::size_t at, std::uint16_t v) {
    out_[at] = std::byte{static_cast<std::uint8_t>(v >> 8)};
    out_[at + 1] = std::byte{static_cast<std::uint8_t>(v)};
  }
  std::span<const std::byte> span(std::size_t from, std::size_t len) const {
    return std::span<const std::byte>(out_).subspan(from, len);
  }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::vector<std::byte> out_;
};

std::uint8_t rd8(std::span<const std::byte> b, std::size_t at) {
  return std::to_integer<std::uint8_t>(b[at]);
}
std::uint16_t rd16(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint16_t>((rd8(b, at) << 8) | rd8(b, at + 1));
}
std::uint32_t rd32(std::span<const std::byte> b, std::size_t at) {
  return (std::uint32_t{rd16(b, at)} << 16) | rd16(b, at + 2);
}
MacAddress rdmac(std::span<const std::byte> b, std::size_t at) {
  std::array<std::uint8_t, 6> m{};
  for (std::size_t i = 0; i < 6; ++i) m[i] = rd8(b, at + i);
  return MacAddress(m);
}

// Unfolded one's-complement sum, so pseudo-header and segment can be summed separately.
std::uint32_t sum16(std::span<const std::byte> data, std::uint32_t acc = 0) {
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) acc += rd16(data, i);
  if (i < data.size()) acc += std::uint32_t{rd8(data, i)} << 8;
  return acc;
}
std::uint16_t fold(std::uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint16_t>(~acc);
}
std::uint32_t pseudo_header_sum(std::uint32_t src, std::uint32_t dst, std::uint8_t proto,
                                std::uint16_t len) {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

void write_ether(Writer& w, MacAddress dst, MacAddress src, std::uint16_t type) {
  w.mac(dst);
  w.mac(src);
  w.u16(type);
}

// Writes a 20-byte IPv4 header (no options) for `payload_len` bytes of `proto`, checksum filled.
void write_ipv4(Writer& w, std::uint32_t src, std::uint32_t dst, std::uint8_t proto,
                std::size_t payload_len, std::uint16_t ident) {
  std::size_t start = w.size();
  w.u8(0x45);  // version 4, IHL 5
  w.u8(0);     // DSCP/ECN
  w.u16(static_cast<std::uint16_t>(kIpv4MinHeader + payload_len));
  w.u16(ident);
  w.u16(0);  // flags + fragment offset: a lone, unfragmented datagram
  w.u8(64);  // TTL
  w.u8(proto);
  w.u16(0);  // checksum, patched below
  w.u32(src);
  w.u32(dst);
  w.patch16(start + 10, internet_checksum(w.span(start, kIpv4MinHeader)));
}

struct Ipv4View {
  EtherHeader eth;
  std::uint32_t src = 0;
  std::uint32_t dst = 0;
  std::uint8_t proto = 0;
  std::span<const std::byte> payload;
};

// Validates the IPv4 header (version, lengths, checksum, no fragmentation) and returns the
// payload bounded by the header's total length (trailing Ethernet padding is ignored).
std::optional<Ipv4View> parse_ipv4(std::span<const std::byte> frame) {
  auto eth = parse_ether(frame);
  if (!eth || eth->ether_type != kEtherTypeIpv4) return std::nullopt;
  auto ip = frame.subspan(kEtherHeaderLen);
  if (ip.size() < kIpv4MinHeader) return std::nullopt;
  std::uint8_t vihl = rd8(ip, 0);
  std::size_t ihl = std::size_t{vihl & 0x0fu} * 4;
  if ((vihl >> 4) != 4 || ihl < kIpv4MinHeader || ip.size() < ihl) return std::nullopt;
  std::size_t total = rd16(ip, 2);
  if (total < ihl || total > ip.size()) return std::nullopt;
  if (internet_checksum(ip.first(ihl)) != 0) return std::nullopt;
  if ((rd16(ip, 6) & 0x3fff) != 0) return std::nullopt;  // MF set or non-zero offset
  Ipv4View v;
  v.eth = *eth;
  v.src = rd32(ip, 12);
  v.dst = rd32(ip, 16);
  v.proto = rd8(ip, 9);
  v.payload = ip.subspan(ihl, total - ihl);
  return v;
}

}  // namespace

std::uint16_t internet_checksum(std::span<const std::byte> data) { return fold(sum16(data)); }

std::optional<EtherHeader> parse_ether(std::span<const std::byte> frame) {
  if (frame.size() < kEtherHeaderLen) return std::nullopt;
  return EtherHeader{rdmac(frame, 0), rdmac(frame, 6), rd16(frame, 12)};
}

namespace {
std::vector<std::byte> build_arp(MacAddress eth_dst, std::uint16_t op, MacAddress sha,
                                 std::uint32_t spa, MacAddress tha, std::uint32_t tpa) {
  Writer w;
  write_ether(w, eth_dst, sha, kEtherTypeArp);
  w.u16(1);       // HTYPE Ethernet
  w.u16(0x0800);  // PTYPE IPv4
  w.u8(6);
  w.u8(4);
  w.u16(op);
  w.mac(sha);
  w.u32(spa);
  w.mac(tha);
  w.u32(tpa);
  return w.take();
}
}  // namespace

std::vector<std::byte> build_arp_request(MacAddress src_mac, std::uint32_t src_ip,
                                         std::uint32_t target_ip) {
  // RFC 826: the target hardware address is unknown in a request; zero by convention.
  return build_arp(MacAddress::broadcast(), kArpRequest, src_mac, src_ip, MacAddress(), target_ip);
}

std::vector<std::byte> build_arp_reply(MacAddress src_mac, std::uint32_t src_ip, MacAddress dst_mac,
                                       std::uint32_t dst_ip) {
  return build_arp(dst_mac, kArpReply, src_mac, src_ip, dst_mac, dst_ip);
}

std::optional<ArpMessage> parse_arp(std::span<const std::byte> frame) {
  auto eth = parse_ether(frame);
  if (!eth || eth->ether_type != kEtherTypeArp) return std::nullopt;
  auto a = frame.subspan(kEtherHeaderLen);
  if (a.size() < kArpLen) return std::nullopt;
  if (rd16(a, 0) != 1 || rd16(a, 2) != 0x0800 || rd8(a, 4) != 6 || rd8(a, 5) != 4) {
    return std::nullopt;
  }
  ArpMessage m;
  m.eth_dst = eth->dst;
  m.eth_src = eth->src;
  m.opcode = rd16(a, 6);
  m.sender_mac = rdmac(a, 8);
  m.sender_ip = rd32(a, 14);
  m.target_mac = rdmac(a, 18);
  m.target_ip = rd32(a, 24);
  return m;
}

std::vector<std::byte> build_icmp_echo(MacAddress src_mac, MacAddress dst_mac, std::uint32_t src_ip,
                                       std::uint32_t dst_ip, std::uint16_t id, std::uint16_t seq,
                                       std::span<const std::byte> payload) {
  Writer w;
  write_ether(w, dst_mac, src_mac, kEtherTypeIpv4);
  write_ipv4(w, src_ip, dst_ip, kProtoIcmp, 8 + payload.size(), seq);
  std::size_t icmp = w.size();
  w.u8(kIcmpEchoRequest);
  w.u8(0);   // code
  w.u16(0);  // checksum, patched below
  w.u16(id);
  w.u16(seq);
  w.raw(payload);
  // RFC 792: the ICMP checksum covers the ICMP message only (no pseudo-header).
  w.patch16(icmp + 2, internet_checksum(w.span(icmp, 8 + payload.size())));
  return w.take();
}

std::optional<IcmpEcho> parse_icmp_echo(std::span<const std::byte> frame) {
  auto ip = parse_ipv4(frame);
  if (!ip || ip->proto != kProtoIcmp || ip->payload.size() < 8) return std::nullopt;
  auto icmp = ip->payload;
  std::uint8_t type = rd8(icmp, 0);
  if ((type != kIcmpEchoReply && type != kIcmpEchoRequest) || rd8(icmp, 1) != 0) {
    return std::nullopt;
  }
  if (internet_checksum(icmp) != 0) return std::nullopt;
  IcmpEcho e;
  e.eth_dst = ip->eth.dst;
  e.eth_src = ip->eth.src;
  e.src_ip = ip->src;
  e.dst_ip = ip->dst;
  e.type = type;
  e.id = rd16(icmp, 4);
  e.seq = rd16(icmp, 6);
  e.payload.assign(icmp.begin() + 8, icmp.end());
  return e;
}

std::optional<IcmpEcho> parse_icmp_echo_reply(std::span<const std::byte> frame) {
  auto e = parse_icmp_echo(frame);
  if (!e || e->type != kIcmpEchoReply) return std::nullopt;
  return e;
}

std::vector<std::byte> build_udp(MacAddress src_mac, MacAddress dst_mac, std::uint32_t src_ip,
                                 std::uint32_t dst_ip, std::uint16_t src_port,
                                 std::uint16_t dst_port, std::span<const std::byte> payload) {
  Writer w;
  const auto udp_len = static_cast<std::uint16_t>(8 + payload.size());
  write_ether(w, dst_mac, src_mac, kEtherTypeIpv4);
  write_ipv4(w, src_ip, dst_ip, kProtoUdp, udp_len, 1);
  std::size_t udp = w.size();
  w.u16(src_port);
  w.u16(dst_port);
  w.u16(udp_len);
  w.u16(0);
  w.raw(payload);
  std::uint16_t csum =
      fold(sum16(w.span(udp, udp_len), pseudo_header_sum(src_ip, dst_ip, kProtoUdp, udp_len)));
  // RFC 768: a computed zero is sent as all ones; zero on the wire means "no checksum".
  w.patch16(udp + 6, csum == 0 ? 0xffff : csum);
  return w.take();
}

std::optional<UdpDatagram> parse_udp(std::span<const std::byte> frame) {
  auto ip = parse_ipv4(frame);
  if (!ip || ip->proto != kProtoUdp || ip->payload.size() < 8) return std::nullopt;
  std::size_t len = rd16(ip->payload, 4);
  if (len < 8 || len > ip->payload.size()) return std::nullopt;
  auto udp = ip->payload.first(len);
  if (rd16(udp, 6) != 0 &&
      fold(sum16(udp, pseudo_header_sum(ip->src, ip->dst, kProtoUdp,
                                        static_cast<std::uint16_t>(len)))) != 0) {
    return std::nullopt;
  }
  UdpDatagram d;
  d.eth_dst = ip->eth.dst;
  d.eth_src = ip->eth.src;
  d.src_ip = ip->src;
  d.dst_ip = ip->dst;
  d.src_port = rd16(udp, 0);
  d.dst_port = rd16(udp, 2);
  d.payload.assign(udp.begin() + 8, udp.end());
  return d;
}

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out(text.size());
  std::transform(text.begin(), text.end(), out.begin(),
                 [](char c) { return static_cast<std::byte>(c); });
  return out;
}

}  // namespace coronet::nic::test_frames
