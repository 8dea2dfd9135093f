// Types shared by IPv4 and the transports above it (ICMP, UDP, TCP). The engine re-exports them
// through stack/engine.h; they live here so that the layers below the engine can use them too.
#pragma once

#include <cstdint>

#include "stack/net/ipv4_addr.h"

namespace coronet::stack {

// IANA protocol numbers (RFC 790, "Assigned Internet Protocol Numbers").
inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;

// Room a transport leaves in front of its header: Ethernet (14) + IPv4 with options (60).
inline constexpr std::uint32_t kLinkAndIpHeadroom = 14 + 60;

// What a transport learns about a received datagram. The packet handed over with it starts at
// the transport header and ends at the IP payload's end (padding trimmed). It may be a chain
// (Packet::next()) when it was reassembled from fragments and did not fit one buffer.
struct IpRxInfo {
  Ipv4Address src{};
  Ipv4Address dst{};
  std::uint8_t protocol = 0;
  std::uint8_t ttl = 0;
  std::uint8_t tos = 0;
  bool l4_checksum_verified = false;  // the device checked the TCP/UDP checksum and it was good
  // The IPv4 header (options included) is still in the first segment's headroom, right in front
  // of the transport header: header_len bytes at data() - header_len. ICMP errors quote it.
  std::uint8_t header_len = 20;
  bool link_broadcast = false;  // arrived in an Ethernet broadcast/multicast frame
  bool ip_broadcast = false;    // sent to a broadcast or multicast IP address
  bool reassembled = false;     // rebuilt from fragments
};

struct IpSendOptions {
  std::uint8_t ttl = 0;  // 0: the configured default (RFC 1122 §3.2.1.7: never send TTL 0)
  std::uint8_t tos = 0;
  bool dont_fragment = true;
};

}  // namespace coronet::stack
