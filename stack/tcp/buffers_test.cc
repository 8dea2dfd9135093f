// SendBuffer / RecvBuffer: wrap-around, out-of-order islands in the window, bounds.
#include "stack/tcp/buffers.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace coronet::stack::tcp {
namespace {

std::vector<std::byte> seq_bytes(std::size_t n, std::uint8_t start = 0) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(start + i);
  return v;
}

TEST(SendBuffer, PushCopyConsumeAcrossTheWrap) {
  SendBuffer b(8);
  auto d = seq_bytes(6);
  EXPECT_EQ(b.push(d), 6u);
  b.consume(4);
  auto e = seq_bytes(6, 100);
  EXPECT_EQ(b.push(e), 6u);  // wraps
  EXPECT_EQ(b.push(e), 0u);  // full
  std::vector<std::byte> out(8);
  b.copy(0, out);
  EXPECT_EQ(out[0], std::byte{4});
  EXPECT_EQ(out[1], std::byte{5});
  EXPECT_EQ(out[2], std::byte{100});
  EXPECT_EQ(out[7], std::byte{105});
}

TEST(RecvBuffer, InOrderDataIsReadable) {
  RecvBuffer b(16);
  b.reset(SeqNum(1000));
  auto d = seq_bytes(5);
  EXPECT_EQ(b.insert(SeqNum(1000), d), RecvBuffer::Insert::kInOrder);
  EXPECT_EQ(b.readable(), 5u);
  EXPECT_EQ(b.next(), SeqNum(1005));
  EXPECT_EQ(b.window(), 11u);
  std::vector<std::byte> out(10);
  EXPECT_EQ(b.read(out), 5u);
  EXPECT_EQ(out[4], std::byte{4});
  EXPECT_EQ(b.window(), 16u);
}

TEST(RecvBuffer, OutOfOrderThenFillDeliversEverythingInOrder) {
  RecvBuffer b(32);
  b.reset(SeqNum(0xfffffff8u));  // across the sequence wrap too
  auto all = seq_bytes(24);
  SeqNum base(0xfffffff8u);
  EXPECT_EQ(b.insert(base + 16, std::span(all).subspan(16, 8)), RecvBuffer::Insert::kOutOfOrder);
  EXPECT_EQ(b.insert(base + 8, std::span(all).subspan(8, 4)), RecvBuffer::Insert::kOutOfOrder);
  EXPECT_EQ(b.readable(), 0u);
  EXPECT_TRUE(b.has_out_of_order());
  EXPECT_EQ(b.insert(base, std::span(all).subspan(0, 8)), RecvBuffer::Insert::kInOrder);
  EXPECT_EQ(b.readable(), 12u);  // 0..12 contiguous; 12..16 still missing
  EXPECT_EQ(b.insert(base + 12, std::span(all).subspan(12, 4)), RecvBuffer::Insert::kInOrder);
  EXPECT_EQ(b.readable(), 24u);
  EXPECT_FALSE(b.has_out_of_order());
  std::vector<std::byte> out(24);
  EXPECT_EQ(b.read(out), 24u);
  EXPECT_EQ(out, all);
}

TEST(RecvBuffer, DuplicatesAndBeyondWindowAreRecognised) {
  RecvBuffer b(8);
  b.reset(SeqNum(0));
  auto d = seq_bytes(8);
  EXPECT_EQ(b.insert(SeqNum(0), std::span(d).first(4)), RecvBuffer::Insert::kInOrder);
  EXPECT_EQ(b.insert(SeqNum(0), std::span(d).first(4)), RecvBuffer::Insert::kDuplicate);
  EXPECT_EQ(b.insert(SeqNum(8), std::span(d).first(4)), RecvBuffer::Insert::kNoRoom);
  // Overlapping old and new bytes: only the new part lands.
  EXPECT_EQ(b.insert(SeqNum(2), std::span(d).subspan(2, 4)), RecvBuffer::Insert::kInOrder);
  EXPECT_EQ(b.readable(), 6u);
}

TEST(RecvBuffer, RandomSegmentOrderReassemblesExactly) {
  std::mt19937 rng(5);
  for (int round = 0; round < 50; ++round) {
    RecvBuffer b(4096);
    SeqNum base(rng());
    b.reset(base);
    auto all = seq_bytes(4000, static_cast<std::uint8_t>(round));
    std::vector<std::pair<std::size_t, std::size_t>> segs;
    for (std::size_t off = 0; off < all.size();) {
      std::size_t n = std::min<std::size_t>(1 + rng() % 300, all.size() - off);
      segs.emplace_back(off, n);
      off += n;
    }
    std::shuffle(segs.begin(), segs.end(), rng);
    // Deliver each up to twice (duplicates) in random order; the island limit may refuse some,
    // so keep going until everything is in.
    std::vector<std::byte> got;
    for (int pass = 0; pass < 20 && got.size() < all.size(); ++pass) {
      for (auto [off, n] : segs) {
        b.insert(base + static_cast<std::uint32_t>(off), std::span(all).subspan(off, n));
      }
      std::vector<std::byte> out(b.readable());
      b.read(out);
      got.insert(got.end(), out.begin(), out.end());
      base = b.next() - static_cast<std::uint32_t>(got.size());
    }
    EXPECT_EQ(got, all) << "round " << round;
  }
}

}  // namespace
}  // namespace coronet::stack::tcp
