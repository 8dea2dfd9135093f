// Ethernet II framing (RFC 894): a 14-byte header (destination MAC, source MAC, EtherType) in
// front of the payload. Parsing and classification are plain functions: the engine counts what
// they reject.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "nic/ether_addr.h"
#include "nic/packet.h"

namespace coronet::stack::ether {

inline constexpr std::uint32_t kHeaderLen = 14;
// RFC 894: the minimum frame is 64 bytes with the 4-byte FCS, which devices strip: 60 on receive.
// Shorter frames carry padding we must tolerate; we only insist on a whole header.
inline constexpr std::uint32_t kMinFrameLen = 60;

// EtherTypes (IEEE registry). Values below 0x0600 are IEEE 802.3 lengths, not types.
inline constexpr std::uint16_t kTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kTypeArp = 0x0806;
inline constexpr std::uint16_t kTypeVlan = 0x8100;
inline constexpr std::uint16_t kTypeIpv6 = 0x86dd;

struct Header {
  nic::MacAddress dst;
  nic::MacAddress src;
  std::uint16_t type = 0;
};

// Reads the header at the front of `frame`; nullopt when the frame is shorter than a header.
std::optional<Header> parse(std::span<const std::byte> frame);
// Writes a header at `at` (14 bytes).
void write(std::byte* at, const Header& h);
// Prepends a header to `p` and records l2_len for transmit offloads. False when `p` has less than
// 14 bytes of headroom (nothing changed).
bool prepend(nic::Packet& p, const nic::MacAddress& dst, const nic::MacAddress& src,
             std::uint16_t type);

// What the engine does with a received frame.
enum class RxKind : std::uint8_t {
  kIpv4,
  kArp,
  kRunt,         // shorter than an Ethernet header
  kUnknownType,  // EtherType we do not speak (IPv6, VLAN tags, 802.3 lengths, ...)
  kNotForUs,     // unicast to another MAC, or multicast we never joined
  kBadSource,    // source MAC is multicast/broadcast: no station sends from a group address
};

struct RxClass {
  RxKind kind = RxKind::kRunt;
  bool broadcast = false;  // destination was the broadcast address
};

// Classifies a received frame for the station `ours`. Unicast to us and broadcast are accepted
// for ARP and IPv4 (IPv4 broadcast serves limited/subnet broadcast UDP); other multicast groups
// are not joined, so they are "not for us".
RxClass classify(std::span<const std::byte> frame, const nic::MacAddress& ours);

// RFC 1112 §6.4: the Ethernet group address of an IPv4 multicast group: 01:00:5e plus the low 23
// bits of the group address.
nic::MacAddress multicast_mac(std::uint32_t group_host_order);

}  // namespace coronet::stack::ether
