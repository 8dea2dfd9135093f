#include "stack/testing/frames.h"

#include <array>
#include <cstring>

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"

namespace coronet::stack::testing {

namespace {

void put_mac(Bytes& b, const nic::MacAddress& m) {
  for (std::uint8_t v : m.bytes()) b.push_back(static_cast<std::byte>(v));
}
void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::byte>(v >> 8));
  b.push_back(static_cast<std::byte>(v & 0xff));
}
void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v & 0xffff));
}
nic::MacAddress get_mac(const std::byte* p) {
  std::array<std::uint8_t, 6> m;
  std::memcpy(m.data(), p, 6);
  return nic::MacAddress(m);
}
std::uint16_t sum_with_pseudo(Ipv4Address src, Ipv4Address dst, std::uint8_t proto,
                              std::span<const std::byte> segment) {
  Checksum c;
  c.add32(src.raw());
  c.add32(dst.raw());
  c.add16(proto);
  c.add16(static_cast<std::uint16_t>(segment.size()));
  c.add(segment);
  return c.finish();
}

}  // namespace

Bytes bytes_of(std::string_view text) {
  Bytes b(text.size());
  std::memcpy(b.data(), text.data(), text.size());
  return b;
}

Bytes bytes(std::initializer_list<int> values) {
  Bytes b;
  for (int v : values) b.push_back(static_cast<std::byte>(v));
  return b;
}

Bytes pattern(std::size_t n, int start) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((start + i) & 0xff);
  return b;
}

Bytes concat(std::span<const std::byte> a, std::span<const std::byte> b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

Bytes eth(const nic::MacAddress& dst, const nic::MacAddress& src, std::uint16_t type,
          std::span<const std::byte> payload) {
  Bytes b;
  put_mac(b, dst);
  put_mac(b, src);
  put16(b, type);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes ipv4(const Ip& ip, std::span<const std::byte> payload) {
  Bytes opts = ip.options;
  while (opts.size() % 4 != 0) opts.push_back(std::byte{0});  // end-of-options padding
  const std::size_t hlen = 20 + opts.size();
  const int ihl = ip.ihl_words >= 0 ? ip.ihl_words : static_cast<int>(hlen / 4);
  const int total = ip.total_len >= 0 ? ip.total_len : static_cast<int>(hlen + payload.size());
  Bytes b;
  b.push_back(static_cast<std::byte>((ip.version << 4) | (ihl & 0x0f)));
  b.push_back(static_cast<std::byte>(ip.tos));
  put16(b, static_cast<std::uint16_t>(total));
  put16(b, ip.id);
  std::uint16_t frag = static_cast<std::uint16_t>((ip.frag_offset / 8) & 0x1fff);
  if (ip.df) frag |= 0x4000;
  if (ip.mf) frag |= 0x2000;
  put16(b, frag);
  b.push_back(static_cast<std::byte>(ip.ttl));
  b.push_back(static_cast<std::byte>(ip.protocol));
  put16(b, 0);
  put32(b, ip.src.raw());
  put32(b, ip.dst.raw());
  b.insert(b.end(), opts.begin(), opts.end());
  std::uint16_t sum = internet_checksum(std::span<const std::byte>(b.data(), hlen));
  if (ip.bad_checksum) sum = static_cast<std::uint16_t>(sum ^ 0x5a5a);
  store_be16(&b[10], sum);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes udp(Ipv4Address src, Ipv4Address dst, std::uint16_t src_port, std::uint16_t dst_port,
          std::span<const std::byte> payload, UdpSum sum, int length) {
  Bytes b;
  put16(b, src_port);
  put16(b, dst_port);
  put16(b, static_cast<std::uint16_t>(length >= 0 ? length : 8 + static_cast<int>(payload.size())));
  put16(b, 0);
  b.insert(b.end(), payload.begin(), payload.end());
  if (sum != UdpSum::kZero) {
    std::uint16_t s = sum_with_pseudo(src, dst, 17, b);
    if (s == 0) s = 0xffff;
    if (sum == UdpSum::kCorrupt) s = static_cast<std::uint16_t>(s ^ 0x0101);
    store_be16(&b[6], s);
  }
  return b;
}

Bytes icmp(std::uint8_t type, std::uint8_t code, std::uint32_t rest,
           std::span<const std::byte> payload, bool bad_checksum) {
  Bytes b;
  b.push_back(static_cast<std::byte>(type));
  b.push_back(static_cast<std::byte>(code));
  put16(b, 0);
  put32(b, rest);
  b.insert(b.end(), payload.begin(), payload.end());
  std::uint16_t s = internet_checksum(b);
  if (bad_checksum) s = static_cast<std::uint16_t>(s ^ 0x00ff);
  store_be16(&b[2], s);
  return b;
}

Bytes arp(std::uint16_t op, const nic::MacAddress& sha, Ipv4Address spa, const nic::MacAddress& tha,
          Ipv4Address tpa) {
  Bytes b;
  put16(b, 1);
  put16(b, 0x0800);
  b.push_back(std::byte{6});
  b.push_back(std::byte{4});
  put16(b, op);
  put_mac(b, sha);
  put32(b, spa.raw());
  put_mac(b, tha);
  put32(b, tpa.raw());
  return b;
}

EthView parse_eth(std::span<const std::byte> f) {
  EthView v;
  if (f.size() < 14) return v;
  v.dst = get_mac(f.data());
  v.src = get_mac(f.data() + 6);
  v.type = load_be16(f.data() + 12);
  v.payload.assign(f.begin() + 14, f.end());
  v.ok = true;
  return v;
}

IpView parse_ip(std::span<const std::byte> p) {
  IpView v;
  if (p.size() < 20) return v;
  v.version = static_cast<std::uint8_t>(p[0]) >> 4;
  v.header_len = static_cast<std::uint8_t>((static_cast<std::uint8_t>(p[0]) & 0x0f) * 4);
  if (v.header_len < 20 || v.header_len > p.size()) return v;
  v.tos = static_cast<std::uint8_t>(p[1]);
  v.total_len = load_be16(p.data() + 2);
  v.id = load_be16(p.data() + 4);
  const std::uint16_t frag = load_be16(p.data() + 6);
  v.df = (frag & 0x4000) != 0;
  v.mf = (frag & 0x2000) != 0;
  v.frag_offset = static_cast<std::uint16_t>((frag & 0x1fff) * 8);
  v.ttl = static_cast<std::uint8_t>(p[8]);
  v.protocol = static_cast<std::uint8_t>(p[9]);
  v.src = Ipv4Address(load_be32(p.data() + 12));
  v.dst = Ipv4Address(load_be32(p.data() + 16));
  v.checksum_ok = internet_checksum(p.first(v.header_len)) == 0;
  if (v.total_len < v.header_len || v.total_len > p.size()) return v;
  v.payload.assign(p.begin() + v.header_len, p.begin() + v.total_len);
  v.ok = true;
  return v;
}

IpView parse_ip_frame(std::span<const std::byte> frame) {
  EthView e = parse_eth(frame);
  if (!e.ok || e.type != kEthIpv4) return {};
  return parse_ip(e.payload);
}

UdpView parse_udp(const IpView& ip) {
  UdpView v;
  const Bytes& s = ip.payload;
  if (!ip.ok || s.size() < 8) return v;
  v.src_port = load_be16(s.data());
  v.dst_port = load_be16(s.data() + 2);
  v.length = load_be16(s.data() + 4);
  v.checksum = load_be16(s.data() + 6);
  if (v.length < 8 || v.length > s.size()) return v;
  std::span<const std::byte> seg(s.data(), v.length);
  v.checksum_ok = v.checksum == 0 || sum_with_pseudo(ip.src, ip.dst, 17, seg) == 0;
  v.payload.assign(s.begin() + 8, s.begin() + v.length);
  v.ok = true;
  return v;
}

IcmpView parse_icmp(std::span<const std::byte> m) {
  IcmpView v;
  if (m.size() < 8) return v;
  v.type = static_cast<std::uint8_t>(m[0]);
  v.code = static_cast<std::uint8_t>(m[1]);
  v.rest = load_be32(m.data() + 4);
  v.checksum_ok = internet_checksum(m) == 0;
  v.payload.assign(m.begin() + 8, m.end());
  v.ok = true;
  return v;
}

ArpView parse_arp(std::span<const std::byte> p) {
  ArpView v;
  if (p.size() < 28) return v;
  if (load_be16(p.data()) != 1 || load_be16(p.data() + 2) != 0x0800) return v;
  v.op = load_be16(p.data() + 6);
  v.sha = get_mac(p.data() + 8);
  v.spa = Ipv4Address(load_be32(p.data() + 14));
  v.tha = get_mac(p.data() + 18);
  v.tpa = Ipv4Address(load_be32(p.data() + 24));
  v.ok = true;
  return v;
}

}  // namespace coronet::stack::testing
