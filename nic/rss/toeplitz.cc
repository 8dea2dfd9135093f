#include "nic/rss/toeplitz.h"

#include <algorithm>

namespace coronet::nic::rss {
namespace {

// Key bit `i`, counting from the most significant bit of key[0].
unsigned key_bit(const Key& key, std::size_t i) { return (key[i / 8] >> (7 - i % 8)) & 1u; }

// The 32 key bits starting at bit `pos`: what an input bit at position `pos` contributes.
std::uint32_t key_window(const Key& key, std::size_t pos) {
  // Five bytes always cover 32 bits starting anywhere inside the first of them.
  std::uint64_t five = 0;
  for (std::size_t i = 0; i < 5; ++i) five = (five << 8) | key[pos / 8 + i];
  return static_cast<std::uint32_t>(five >> (8 - pos % 8));
}

}  // namespace

std::uint32_t toeplitz_reference(const Key& key, std::span<const std::uint8_t> input) {
  // Microsoft's definition: walk the input from its most significant bit; for every set bit, XOR
  // the leftmost 32 bits of the key into the result; shift the key left by one bit after each
  // input bit.
  const std::size_t n = std::min(input.size(), kMaxInputBytes);
  std::uint32_t window = 0;
  for (std::size_t i = 0; i < 32; ++i) window = (window << 1) | key_bit(key, i);
  std::uint32_t result = 0;
  std::size_t next_key_bit = 32;
  for (std::size_t byte = 0; byte < n; ++byte) {
    for (int bit = 7; bit >= 0; --bit) {
      if ((input[byte] >> bit) & 1u) result ^= window;
      // After the very last input bit of a maximal input the key is used up; nothing reads the
      // window again, so shift in a zero.
      const unsigned next = next_key_bit < 8 * kKeySize ? key_bit(key, next_key_bit) : 0;
      window = (window << 1) | next;
      ++next_key_bit;
    }
  }
  return result;
}

std::uint32_t toeplitz_reference(const Key& key, const Ipv4Tuple& t) {
  const std::array<std::uint8_t, Toeplitz::kTupleBytes> wire = {
      static_cast<std::uint8_t>(t.src_addr >> 24), static_cast<std::uint8_t>(t.src_addr >> 16),
      static_cast<std::uint8_t>(t.src_addr >> 8),  static_cast<std::uint8_t>(t.src_addr),
      static_cast<std::uint8_t>(t.dst_addr >> 24), static_cast<std::uint8_t>(t.dst_addr >> 16),
      static_cast<std::uint8_t>(t.dst_addr >> 8),  static_cast<std::uint8_t>(t.dst_addr),
      static_cast<std::uint8_t>(t.src_port >> 8),  static_cast<std::uint8_t>(t.src_port),
      static_cast<std::uint8_t>(t.dst_port >> 8),  static_cast<std::uint8_t>(t.dst_port),
  };
  return toeplitz_reference(key, wire);
}

Toeplitz::Toeplitz(const Key& key) : key_(key) {
  for (std::size_t position = 0; position < kTupleBytes; ++position) {
    // bit_part[b]: the contribution of bit b of this byte (b = 0 is the least significant), whose
    // position in the input is 8 * position + 7 - b.
    std::array<std::uint32_t, 8> bit_part;
    for (std::size_t b = 0; b < 8; ++b) bit_part[b] = key_window(key, 8 * position + 7 - b);
    // Every value is a smaller value (its lowest set bit cleared) plus one bit: 255 XORs a table.
    ByteTable& table = tables_[position];
    table[0] = 0;
    for (unsigned v = 1; v < 256; ++v) {
      const unsigned low = static_cast<unsigned>(__builtin_ctz(v));
      table[v] = table[v & (v - 1)] ^ bit_part[low];
    }
  }
}

}  // namespace coronet::nic::rss
