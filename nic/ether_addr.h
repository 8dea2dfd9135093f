// MacAddress: a strong type for 48-bit Ethernet addresses.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coronet::nic {

class MacAddress {
 public:
  constexpr MacAddress() = default;
  constexpr explicit MacAddress(std::array<std::uint8_t, 6> b) : b_(b) {}
  // "02:00:00:00:00:01" (case-insensitive); nullopt for anything else.
  static std::optional<MacAddress> parse(std::string_view text);
  static constexpr MacAddress broadcast() { return MacAddress({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}); }

  const std::array<std::uint8_t, 6>& bytes() const { return b_; }
  bool is_broadcast() const { return *this == broadcast(); }
  bool is_multicast() const { return (b_[0] & 1) != 0; }
  bool is_zero() const { return *this == MacAddress(); }
  std::string to_string() const;
  friend constexpr bool operator==(const MacAddress&, const MacAddress&) = default;

 private:
  std::array<std::uint8_t, 6> b_{};
};

}  // namespace coronet::nic
