#include "stack/net/ipv4_addr.h"

#include <fmt/format.h>

namespace coronet::stack {

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view t) {
  std::uint32_t v = 0;
  int parts = 0;
  std::size_t i = 0;
  while (parts < 4) {
    if (i >= t.size() || t[i] < '0' || t[i] > '9') return std::nullopt;
    std::uint32_t octet = 0;
    std::size_t digits = 0;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      octet = octet * 10 + static_cast<std::uint32_t>(t[i] - '0');
      if (++digits > 3 || octet > 255) return std::nullopt;
      ++i;
    }
    v = (v << 8) | octet;
    ++parts;
    if (parts < 4) {
      if (i >= t.size() || t[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != t.size()) return std::nullopt;
  return Ipv4Address(v);
}

std::string Ipv4Address::to_string() const {
  return fmt::format("{}.{}.{}.{}", v_ >> 24, (v_ >> 16) & 0xff, (v_ >> 8) & 0xff, v_ & 0xff);
}

std::string Endpoint::to_string() const { return fmt::format("{}:{}", addr.to_string(), port); }

}  // namespace coronet::stack
