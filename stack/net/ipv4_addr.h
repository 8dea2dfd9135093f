// Strong types for IPv4 addresses and transport endpoints. Values are kept in host order; the
// codecs convert at the wire.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace coronet::stack {

class Ipv4Address {
 public:
  constexpr Ipv4Address() = default;
  constexpr explicit Ipv4Address(std::uint32_t host_order) : v_(host_order) {}
  constexpr Ipv4Address(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d)
      : v_((std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d) {}
  // Dotted quad; nullopt for anything else (no leading '+', no octet > 255, exactly 4 parts).
  static std::optional<Ipv4Address> parse(std::string_view text);
  static constexpr Ipv4Address any() { return Ipv4Address(0u); }
  static constexpr Ipv4Address broadcast() { return Ipv4Address(0xffffffffu); }

  constexpr std::uint32_t raw() const { return v_; }
  constexpr bool is_any() const { return v_ == 0; }
  constexpr bool is_broadcast() const { return v_ == 0xffffffffu; }
  constexpr bool is_multicast() const { return (v_ >> 28) == 0xe; }
  constexpr bool is_loopback() const { return (v_ >> 24) == 127; }
  // Same network under a /prefix_len mask.
  constexpr bool same_subnet(Ipv4Address other, unsigned prefix_len) const {
    std::uint32_t mask = prefix_len == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_len);
    return (v_ & mask) == (other.v_ & mask);
  }
  std::string to_string() const;
  friend constexpr auto operator<=>(Ipv4Address, Ipv4Address) = default;

 private:
  std::uint32_t v_ = 0;
};

// An address and port pair (port in host order).
struct Endpoint {
  Ipv4Address addr;
  std::uint16_t port = 0;
  std::string to_string() const;
  friend constexpr auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

}  // namespace coronet::stack

template <>
struct std::hash<coronet::stack::Ipv4Address> {
  std::size_t operator()(coronet::stack::Ipv4Address a) const noexcept {
    return std::hash<std::uint32_t>{}(a.raw());
  }
};
