#include "stack/net/checksum.h"

#include <cstring>

namespace coronet::stack {

void Checksum::add(std::span<const std::byte> bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  if (n == 0) return;
  if (odd_) {
    // Complete the word the previous range started: this byte is its low half.
    sum_ += *p;
    ++p;
    --n;
    odd_ = false;
  }
  // Sum 32-bit chunks into a 64-bit accumulator: no carry handling until the fold. The bytes are
  // read in memory order and byte-swapped at the end (the one's-complement sum is byte-order
  // independent up to a final swap, RFC 1071 §2(B)).
  std::uint64_t acc = 0;
  while (n >= 8) {
    std::uint32_t a;
    std::uint32_t b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + 4, 4);
    acc += a;
    acc += b;
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    std::uint32_t a;
    std::memcpy(&a, p, 4);
    acc += a;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    std::uint16_t a;
    std::memcpy(&a, p, 2);
    acc += a;
    p += 2;
    n -= 2;
  }
  // Fold the native-order accumulator to 16 bits, then swap to network (big-endian) order.
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  auto native16 = static_cast<std::uint16_t>(acc);
  sum_ += static_cast<std::uint16_t>((native16 >> 8) | (native16 << 8));
  if (n == 1) {
    sum_ += static_cast<std::uint32_t>(*p) << 8;  // high half of a word the next range finishes
    odd_ = true;
  }
}

std::uint16_t Checksum::fold() const {
  std::uint64_t s = sum_;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

std::uint16_t internet_checksum(std::span<const std::byte> bytes) {
  Checksum c;
  c.add(bytes);
  return c.finish();
}

std::uint16_t checksum_update16(std::uint16_t old_check, std::uint16_t old_word,
                                std::uint16_t new_word) {
  // HC' = ~(~HC + ~m + m')  (RFC 1624 §3, eqn. 3)
  std::uint32_t s = static_cast<std::uint16_t>(~old_check);
  s += static_cast<std::uint16_t>(~old_word);
  s += new_word;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(~s);
}

std::uint16_t checksum_update32(std::uint16_t old_check, std::uint32_t old_value,
                                std::uint32_t new_value) {
  std::uint16_t c = checksum_update16(old_check, static_cast<std::uint16_t>(old_value >> 16),
                                      static_cast<std::uint16_t>(new_value >> 16));
  return checksum_update16(c, static_cast<std::uint16_t>(old_value & 0xffff),
                           static_cast<std::uint16_t>(new_value & 0xffff));
}

}  // namespace coronet::stack
