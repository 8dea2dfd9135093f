#include "stack/ipv4/ipv4_header.h"

#include <span>

#include "stack/net/checksum.h"

namespace coronet::stack::ipv4 {

void write_header(std::byte* p, const Header& h, bool compute_checksum) {
  p[0] = static_cast<std::byte>(0x45);
  p[1] = static_cast<std::byte>(h.tos);
  store_be16(p + 2, h.total_len);
  store_be16(p + 4, h.id);
  std::uint16_t frag = static_cast<std::uint16_t>((h.frag_offset / 8) & kOffsetMask);
  if (h.dont_fragment) frag |= kFlagDontFragment;
  if (h.more_fragments) frag |= kFlagMoreFragments;
  store_be16(p + 6, frag);
  p[8] = static_cast<std::byte>(h.ttl);
  p[9] = static_cast<std::byte>(h.protocol);
  store_be16(p + 10, 0);
  store_be32(p + 12, h.src.raw());
  store_be32(p + 16, h.dst.raw());
  if (compute_checksum) {
    store_be16(p + 10, internet_checksum(std::span<const std::byte>(p, kMinHeaderLen)));
  }
}

void rewrite_length_and_fragment(std::byte* p, std::uint16_t total_len, bool dont_fragment) {
  const std::uint32_t hlen = (static_cast<std::uint8_t>(p[0]) & 0x0f) * 4u;
  store_be16(p + 2, total_len);
  store_be16(p + 6, dont_fragment ? kFlagDontFragment : 0);
  store_be16(p + 10, 0);
  store_be16(p + 10, internet_checksum(std::span<const std::byte>(p, hlen)));
}

}  // namespace coronet::stack::ipv4
