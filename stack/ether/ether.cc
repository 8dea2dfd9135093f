#include "stack/ether/ether.h"

#include <array>
#include <cstring>

#include "stack/net/bytes.h"

namespace coronet::stack::ether {

namespace {
nic::MacAddress read_mac(const std::byte* p) {
  std::array<std::uint8_t, 6> b;
  std::memcpy(b.data(), p, 6);
  return nic::MacAddress(b);
}
}  // namespace

std::optional<Header> parse(std::span<const std::byte> frame) {
  if (frame.size() < kHeaderLen) return std::nullopt;
  Header h;
  h.dst = read_mac(frame.data());
  h.src = read_mac(frame.data() + 6);
  h.type = load_be16(frame.data() + 12);
  return h;
}

void write(std::byte* at, const Header& h) {
  std::memcpy(at, h.dst.bytes().data(), 6);
  std::memcpy(at + 6, h.src.bytes().data(), 6);
  store_be16(at + 12, h.type);
}

bool prepend(nic::Packet& p, const nic::MacAddress& dst, const nic::MacAddress& src,
             std::uint16_t type) {
  std::byte* at = p.prepend(kHeaderLen);
  if (at == nullptr) return false;
  write(at, Header{dst, src, type});
  p.meta.l2_len = kHeaderLen;
  return true;
}

RxClass classify(std::span<const std::byte> frame, const nic::MacAddress& ours) {
  RxClass c;
  if (frame.size() < kHeaderLen) return c;  // kRunt
  const std::byte* p = frame.data();
  // Compare in place: cheaper than building MacAddress values for every frame.
  const bool to_us = std::memcmp(p, ours.bytes().data(), 6) == 0;
  const auto first_src = static_cast<std::uint8_t>(p[6]);
  if (!to_us) {
    static constexpr std::array<std::uint8_t, 6> kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (std::memcmp(p, kBroadcast.data(), 6) != 0) {
      c.kind = RxKind::kNotForUs;
      return c;
    }
    c.broadcast = true;
  }
  // IEEE 802: the group bit is never set in a source address.
  if ((first_src & 1) != 0) {
    c.kind = RxKind::kBadSource;
    return c;
  }
  switch (load_be16(p + 12)) {
    case kTypeIpv4:
      c.kind = RxKind::kIpv4;
      break;
    case kTypeArp:
      c.kind = RxKind::kArp;
      break;
    default:
      c.kind = RxKind::kUnknownType;
      break;
  }
  return c;
}

nic::MacAddress multicast_mac(std::uint32_t group) {
  return nic::MacAddress({0x01, 0x00, 0x5e, static_cast<std::uint8_t>((group >> 16) & 0x7f),
                          static_cast<std::uint8_t>(group >> 8), static_cast<std::uint8_t>(group)});
}

}  // namespace coronet::stack::ether
