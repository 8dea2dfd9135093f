#include "nic/ether_addr.h"

#include <fmt/format.h>

namespace coronet::nic {

std::optional<MacAddress> MacAddress::parse(std::string_view t) {
  if (t.size() != 17) return std::nullopt;
  std::array<std::uint8_t, 6> b{};
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (int i = 0; i < 6; ++i) {
    int hi = hex(t[i * 3]);
    int lo = hex(t[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && t[i * 3 + 2] != ':') return std::nullopt;
    b[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return MacAddress(b);
}

std::string MacAddress::to_string() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b_[0], b_[1], b_[2], b_[3], b_[4],
                     b_[5]);
}

}  // namespace coronet::nic
