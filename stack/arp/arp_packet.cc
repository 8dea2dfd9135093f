#include "stack/arp/arp_packet.h"

#include <array>
#include <cstring>

#include "stack/ether/ether.h"
#include "stack/net/bytes.h"

namespace coronet::stack::arp {

namespace {
nic::MacAddress read_mac(const std::byte* p) {
  std::array<std::uint8_t, 6> b;
  std::memcpy(b.data(), p, 6);
  return nic::MacAddress(b);
}
}  // namespace

std::optional<ArpPacket> parse(std::span<const std::byte> bytes, ParseError* why) {
  auto fail = [why](ParseError e) -> std::optional<ArpPacket> {
    if (why != nullptr) *why = e;
    return std::nullopt;
  };
  if (bytes.size() < kPacketLen) return fail(ParseError::kTruncated);
  const std::byte* p = bytes.data();
  if (load_be16(p) != kHardwareEthernet || load_be16(p + 2) != ether::kTypeIpv4 ||
      static_cast<std::uint8_t>(p[4]) != 6 || static_cast<std::uint8_t>(p[5]) != 4) {
    return fail(ParseError::kUnsupported);
  }
  ArpPacket a;
  a.op = load_be16(p + 6);
  if (a.op != kOpRequest && a.op != kOpReply) return fail(ParseError::kBadOpcode);
  a.sender_mac = read_mac(p + 8);
  a.sender_ip = Ipv4Address(load_be32(p + 14));
  a.target_mac = read_mac(p + 18);
  a.target_ip = Ipv4Address(load_be32(p + 24));
  return a;
}

void write(std::byte* at, const ArpPacket& a) {
  store_be16(at, kHardwareEthernet);
  store_be16(at + 2, ether::kTypeIpv4);
  at[4] = std::byte{6};
  at[5] = std::byte{4};
  store_be16(at + 6, a.op);
  std::memcpy(at + 8, a.sender_mac.bytes().data(), 6);
  store_be32(at + 14, a.sender_ip.raw());
  std::memcpy(at + 18, a.target_mac.bytes().data(), 6);
  store_be32(at + 24, a.target_ip.raw());
}

}  // namespace coronet::stack::arp
