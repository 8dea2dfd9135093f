// Hand-made Ethernet frames for kernel-peer tests: ARP, IPv4/ICMP echo and IPv4/UDP, built and
// parsed byte by byte, independent of coronet's own stack so a test can check the stack and the
// backends against the Linux kernel without trusting the code under test.
//
// Shared: the TAP backend's tests (nic/tap) and the DPDK backend's net_tap test (nic/dpdk) both use
// this library for the same kernel exchange, so keep the API small and stable; add, don't change.
//
// Conventions: IPv4 addresses are uint32_t in host byte order (198.18.0.1 == ipv4(198, 18, 0, 1));
// frames start at the Ethernet destination address and carry no FCS and no padding (the kernel's
// TAP driver neither adds nor needs them). Parsers return nullopt for anything that is not exactly
// the expected protocol (wrong EtherType, truncated, bad checksum), so callers can skip unrelated
// frames such as IPv6 router solicitations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "nic/ether_addr.h"

namespace coronet::nic::test_frames {

inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::size_t kEtherHeaderLen = 14;

constexpr std::uint32_t ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d;
}

// RFC 1071 one's-complement sum over `data` (odd length padded with a zero byte), folded and
// complemented: the value to store in a checksum field. Over data that includes a correct checksum
// field it returns 0.
std::uint16_t internet_checksum(std::span<const std::byte> data);

// ---- Ethernet -------------------------------------------------------------------------------

struct EtherHeader {
  MacAddress dst;
  MacAddress src;
  std::uint16_t ether_type = 0;
};
std::optional<EtherHeader> parse_ether(std::span<const std::byte> frame);

// ---- ARP (RFC 826, Ethernet/IPv4 only) ------------------------------------------------------

inline constexpr std::uint16_t kArpRequest = 1;
inline constexpr std::uint16_t kArpReply = 2;

struct ArpMessage {
  MacAddress eth_dst;
  MacAddress eth_src;
  std::uint16_t opcode = 0;  // kArpRequest or kArpReply
  MacAddress sender_mac;
  std::uint32_t sender_ip = 0;
  MacAddress target_mac;
  std::uint32_t target_ip = 0;
};
using ArpReply = ArpMessage;

// Broadcast "who has target_ip? tell src_ip (src_mac)".
std::vector<std::byte> build_arp_request(MacAddress src_mac, std::uint32_t src_ip,
                                         std::uint32_t target_ip);
// Unicast "src_ip is at src_mac", answering dst_mac/dst_ip.
std::vector<std::byte> build_arp_reply(MacAddress src_mac, std::uint32_t src_ip, MacAddress dst_mac,
                                       std::uint32_t dst_ip);
// Any Ethernet/IPv4 ARP message (request or reply); check `opcode`.
std::optional<ArpMessage> parse_arp(std::span<const std::byte> frame);

// ---- IPv4 + ICMP echo (RFC 791, RFC 792) ----------------------------------------------------

inline constexpr std::uint8_t kIcmpEchoReply = 0;
inline constexpr std::uint8_t kIcmpEchoRequest = 8;

struct IcmpEcho {
  MacAddress eth_dst;
  MacAddress eth_src;
  std::uint32_t src_ip = 0;
  std::uint32_t dst_ip = 0;
  std::uint8_t type = 0;  // kIcmpEchoRequest or kIcmpEchoReply
  std::uint16_t id = 0;
  std::uint16_t seq = 0;
  std::vector<std::byte> payload;
};

// An echo request with correct IPv4 header and ICMP checksums (TTL 64, DF clear, IP id = seq).
std::vector<std::byte> build_icmp_echo(MacAddress src_mac, MacAddress dst_mac, std::uint32_t src_ip,
                                       std::uint32_t dst_ip, std::uint16_t id, std::uint16_t seq,
                                       std::span<const std::byte> payload);
// An echo request or reply whose IPv4 header and ICMP checksums verify; nullopt otherwise
// (IP options are accepted and skipped; fragments are rejected).
std::optional<IcmpEcho> parse_icmp_echo(std::span<const std::byte> frame);
// parse_icmp_echo() restricted to type kIcmpEchoReply.
std::optional<IcmpEcho> parse_icmp_echo_reply(std::span<const std::byte> frame);

// ---- IPv4 + UDP (RFC 768) -------------------------------------------------------------------

struct UdpDatagram {
  MacAddress eth_dst;
  MacAddress eth_src;
  std::uint32_t src_ip = 0;
  std::uint32_t dst_ip = 0;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::vector<std::byte> payload;
};

// A UDP datagram with correct IPv4 and UDP checksums.
std::vector<std::byte> build_udp(MacAddress src_mac, MacAddress dst_mac, std::uint32_t src_ip,
                                 std::uint32_t dst_ip, std::uint16_t src_port,
                                 std::uint16_t dst_port, std::span<const std::byte> payload);
// A UDP datagram whose IPv4 header checksum verifies and whose UDP checksum verifies (or is 0,
// "not computed"); nullopt otherwise.
std::optional<UdpDatagram> parse_udp(std::span<const std::byte> frame);

// Convenience for payloads written as text in tests.
std::vector<std::byte> bytes_of(std::string_view text);

}  // namespace coronet::nic::test_frames
