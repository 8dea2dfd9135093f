// ARP packets for IPv4 over Ethernet (RFC 826): hardware type 1, protocol type 0x0800, address
// lengths 6 and 4, opcode 1 (request) or 2 (reply). 28 bytes after the Ethernet header.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "nic/ether_addr.h"
#include "stack/net/ipv4_addr.h"

namespace coronet::stack::arp {

inline constexpr std::uint32_t kPacketLen = 28;
inline constexpr std::uint16_t kHardwareEthernet = 1;
inline constexpr std::uint16_t kOpRequest = 1;
inline constexpr std::uint16_t kOpReply = 2;

struct ArpPacket {
  std::uint16_t op = kOpRequest;
  nic::MacAddress sender_mac;  // ar$sha
  Ipv4Address sender_ip;       // ar$spa
  nic::MacAddress target_mac;  // ar$tha
  Ipv4Address target_ip;       // ar$tpa
};

enum class ParseError : std::uint8_t {
  kTruncated,    // fewer than 28 bytes
  kUnsupported,  // not Ethernet/IPv4 (ar$hrd, ar$pro, ar$hln, ar$pln)
  kBadOpcode,    // neither request nor reply
};

// RFC 826 "Packet Reception": a packet whose hardware or protocol type we do not speak is
// discarded; so is an opcode we do not know.
std::optional<ArpPacket> parse(std::span<const std::byte> bytes, ParseError* why = nullptr);
// Writes the 28 bytes at `at`.
void write(std::byte* at, const ArpPacket& a);

}  // namespace coronet::stack::arp
