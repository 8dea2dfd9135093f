// Hand-built frames for stack tests, and parsers for the frames the stack sends (testonly).
// Written independently of the code under test: only the byte codecs and the Internet checksum
// of stack/net are shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "nic/ether_addr.h"
#include "stack/net/ipv4_addr.h"

namespace coronet::stack::testing {

using Bytes = std::vector<std::byte>;

Bytes bytes_of(std::string_view text);
Bytes bytes(std::initializer_list<int> values);
// `n` bytes counting up from `start` (mod 256): recognisable payloads.
Bytes pattern(std::size_t n, int start = 0);
Bytes concat(std::span<const std::byte> a, std::span<const std::byte> b);

inline constexpr std::uint16_t kEthIpv4 = 0x0800;
inline constexpr std::uint16_t kEthArp = 0x0806;

Bytes eth(const nic::MacAddress& dst, const nic::MacAddress& src, std::uint16_t type,
          std::span<const std::byte> payload);

struct Ip {
  Ipv4Address src{};
  Ipv4Address dst{};
  std::uint8_t protocol = 17;
  std::uint8_t ttl = 64;
  std::uint8_t tos = 0;
  std::uint16_t id = 1;
  bool df = false;
  bool mf = false;
  std::uint16_t frag_offset = 0;  // bytes (multiple of 8)
  Bytes options{};                // appended to the 20-byte header (padded to 4 bytes)
  int ihl_words = -1;             // override the IHL field
  int total_len = -1;             // override the total length field
  std::uint8_t version = 4;
  bool bad_checksum = false;
};
Bytes ipv4(const Ip& ip, std::span<const std::byte> payload);

enum class UdpSum : std::uint8_t { kCorrect, kZero, kCorrupt };
Bytes udp(Ipv4Address src, Ipv4Address dst, std::uint16_t src_port, std::uint16_t dst_port,
          std::span<const std::byte> payload, UdpSum sum = UdpSum::kCorrect, int length = -1);

Bytes icmp(std::uint8_t type, std::uint8_t code, std::uint32_t rest,
           std::span<const std::byte> payload, bool bad_checksum = false);

Bytes arp(std::uint16_t op, const nic::MacAddress& sha, Ipv4Address spa, const nic::MacAddress& tha,
          Ipv4Address tpa);

// ---- Parsing what the stack sent ----------------------------------------------------------

struct EthView {
  bool ok = false;
  nic::MacAddress dst;
  nic::MacAddress src;
  std::uint16_t type = 0;
  Bytes payload;
};
EthView parse_eth(std::span<const std::byte> frame);

struct IpView {
  bool ok = false;
  std::uint8_t version = 0;
  std::uint8_t header_len = 0;
  std::uint8_t tos = 0;
  std::uint16_t total_len = 0;
  std::uint16_t id = 0;
  bool df = false;
  bool mf = false;
  std::uint16_t frag_offset = 0;
  std::uint8_t ttl = 0;
  std::uint8_t protocol = 0;
  bool checksum_ok = false;
  Ipv4Address src;
  Ipv4Address dst;
  Bytes payload;
};
IpView parse_ip(std::span<const std::byte> packet);
// Ethernet + IPv4 in one go (ok = false unless both parse).
IpView parse_ip_frame(std::span<const std::byte> frame);

struct UdpView {
  bool ok = false;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint16_t length = 0;
  std::uint16_t checksum = 0;
  bool checksum_ok = false;  // verified with the pseudo-header (0 counts as ok: none)
  Bytes payload;
};
UdpView parse_udp(const IpView& ip);

struct IcmpView {
  bool ok = false;
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  std::uint32_t rest = 0;
  bool checksum_ok = false;
  Bytes payload;
};
IcmpView parse_icmp(std::span<const std::byte> message);

struct ArpView {
  bool ok = false;
  std::uint16_t op = 0;
  nic::MacAddress sha;
  Ipv4Address spa;
  nic::MacAddress tha;
  Ipv4Address tpa;
};
ArpView parse_arp(std::span<const std::byte> packet);

}  // namespace coronet::stack::testing
