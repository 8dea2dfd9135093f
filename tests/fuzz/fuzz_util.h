// Small pieces the parser fuzz targets share: an invariant check that aborts with the file and
// line (a libFuzzer finding), and a deterministic sequence of read sizes for "the same bytes,
// split into reads" differential runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace coronet::testing::fuzz {

[[noreturn]] inline void violated(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
  std::abort();
}

#define FUZZ_CHECK(cond)                                                        \
  do {                                                                          \
    if (!(cond)) ::coronet::testing::fuzz::violated(#cond, __FILE__, __LINE__); \
  } while (false)

// Read sizes for a piecewise run: 1..(1 + seed % 32) bytes, or 1..`wide` when the seed's high
// bit is set; xorshift32 from the seed, so an input always splits the same way.
class Pieces {
 public:
  Pieces(std::uint8_t seed, std::uint32_t wide)
      : state_(0x9e3779b9u ^ (seed * 0x01000193u)),
        max_((seed & 0x80) != 0 ? wide : 1u + (seed & 31u)) {}

  std::size_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return 1 + state_ % max_;
  }

 private:
  std::uint32_t state_;
  std::uint32_t max_;
};

}  // namespace coronet::testing::fuzz
