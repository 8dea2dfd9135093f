// SendBuffer / RecvBuffer: wrap-around, out-of-order islands in the window, bounds.
#include "stack/tcp/buffers.h"

#include <gtest/gtest.h>

#include <algorithm>
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

nic::PacketPoolConfig chunk_config(std::uint32_t count, std::uint32_t views = 16) {
  return {.name = "chunks", .count = count, .buffer_size = 64, .headroom = 0, .views = views};
}

std::vector<std::byte> flatten(const nic::Packet* p) {
  std::vector<std::byte> v(p->chain_size());
  p->copy_out(v);
  return v;
}

TEST(SendBuffer, PushCopyConsumeAcrossChunks) {
  nic::PacketPool pool(chunk_config(8));
  SendBuffer b(200, pool);
  auto d = seq_bytes(150);
  EXPECT_EQ(b.push(d), 150u);
  EXPECT_EQ(b.chunks_held(), 3u);  // 64 + 64 + 22
  std::vector<std::byte> out(100);
  b.copy(30, out);  // spans all three chunks
  EXPECT_TRUE(std::equal(out.begin(), out.end(), d.begin() + 30));
  b.consume(70);  // the first chunk is wholly acknowledged: back to the pool
  EXPECT_EQ(b.chunks_held(), 2u);
  EXPECT_EQ(pool.stats().in_use, 2u);
  auto e = seq_bytes(200, 150);
  EXPECT_EQ(b.push(e), 120u);  // capacity 200, 80 still queued
  EXPECT_EQ(b.push(e), 0u);
  EXPECT_FALSE(b.starved());
  out.resize(200);
  b.copy(0, out);
  EXPECT_TRUE(std::equal(out.begin(), out.begin() + 80, d.begin() + 70));
  EXPECT_TRUE(std::equal(out.begin() + 80, out.end(), e.begin()));
  b.consume(200);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.chunks_held(), 0u);  // an idle connection holds no send memory
  EXPECT_EQ(pool.stats().in_use, 0u);
}

TEST(SendBuffer, ViewsShowTheSameBytesAndOutliveTheAcknowledgement) {
  nic::PacketPool pool(chunk_config(4));
  auto d = seq_bytes(180);
  nic::Packet* v = nullptr;
  {
    SendBuffer b(256, pool);
    ASSERT_EQ(b.push(d), 180u);
    v = b.views(50, 100);  // chunk 0 [50,64), chunk 1 [64,128), chunk 2 [128,150)
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->chain_segments(), 3u);
    auto seen = flatten(v);
    EXPECT_TRUE(std::equal(seen.begin(), seen.end(), d.begin() + 50));
    b.consume(180);  // acknowledged while "on the wire"
    EXPECT_EQ(b.chunks_held(), 0u);
  }  // and the connection is gone, too
  auto seen = flatten(v);
  EXPECT_TRUE(std::equal(seen.begin(), seen.end(), d.begin() + 50));
  EXPECT_EQ(pool.stats().in_use, 3u);  // the chunks the views show
  nic::PacketPool::free(v);
  EXPECT_EQ(pool.stats().in_use, 0u);
  EXPECT_EQ(pool.stats().views_in_use, 0u);
}

TEST(SendBuffer, EmptyPoolStarvesAndViewExhaustionLeaksNothing) {
  nic::PacketPool pool(chunk_config(2, 2));
  SendBuffer b(1000, pool);
  auto d = seq_bytes(200);
  EXPECT_EQ(b.push(d), 128u);  // two chunks, then the pool is dry
  EXPECT_TRUE(b.starved());
  nic::Packet* one = b.views(0, 10);
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(b.views(0, 128), nullptr);  // needs two views, one left: the partial chain is undone
  EXPECT_EQ(pool.stats().views_exhausted, 1u);
  EXPECT_EQ(pool.stats().views_in_use, 1u);
  nic::PacketPool::free(one);
  b.consume(128);
  EXPECT_EQ(b.push(d), 128u);
  EXPECT_EQ(pool.stats().views_in_use, 0u);
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

nic::Packet* packet_of(nic::PacketPool& pool, std::span<const std::byte> bytes) {
  nic::Packet* p = pool.alloc();
  p->append_bytes(bytes);
  return p;
}

TEST(RecvBuffer, HeldPacketsReadInOrderWithRingDataAndIslandsAfterThem) {
  nic::PacketPool pool({.name = "rx", .count = 4, .buffer_size = 128, .headroom = 0});
  auto all = seq_bytes(40);
  std::span<const std::byte> a(all);
  {
    RecvBuffer b(64);
    b.reset(SeqNum(1000));
    // An island at [20, 30) arrives first; it lives in the ring.
    EXPECT_EQ(b.insert(SeqNum(1020), a.subspan(20, 10)), RecvBuffer::Insert::kOutOfOrder);
    ASSERT_TRUE(b.can_hold(SeqNum(1000), 12));
    b.hold(SeqNum(1000), packet_of(pool, a.subspan(0, 12)));
    ASSERT_TRUE(b.can_hold(SeqNum(1012), 10));
    b.hold(SeqNum(1012), packet_of(pool, a.subspan(12, 10)));  // reaches the island: absorbed
    EXPECT_EQ(b.held_packets(), 2u);
    EXPECT_EQ(b.readable(), 30u);
    EXPECT_EQ(b.window(), 34u);  // held bytes count against the window like ring bytes
    EXPECT_FALSE(b.can_hold(SeqNum(1030), 5));  // ring bytes are readable: no longer a prefix
    EXPECT_EQ(b.insert(SeqNum(1030), a.subspan(30, 10)), RecvBuffer::Insert::kInOrder);
    std::vector<std::byte> out(7);
    EXPECT_EQ(b.read(out), 7u);  // part of the first packet
    EXPECT_TRUE(std::equal(out.begin(), out.end(), all.begin()));
    out.resize(40);
    EXPECT_EQ(b.read(out), 33u);  // rest of both packets, then the ring
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + 33, all.begin() + 7));
    EXPECT_EQ(pool.stats().in_use, 0u);  // read packets went back at once
    EXPECT_EQ(b.next(), SeqNum(1040));
    EXPECT_TRUE(b.can_hold(SeqNum(1040), 5));
    b.hold(SeqNum(1040), packet_of(pool, a.subspan(0, 5)));
    EXPECT_EQ(pool.stats().in_use, 1u);
  }  // a connection freed with unread held packets returns them
  EXPECT_EQ(pool.stats().in_use, 0u);
}

TEST(RecvBuffer, HoldIsRefusedOutOfOrderBeyondTheWindowAndPastTheCap) {
  nic::PacketPool pool({.name = "rx", .count = 80, .buffer_size = 128, .headroom = 0});
  RecvBuffer b(4096);
  b.reset(SeqNum(0));
  EXPECT_FALSE(b.can_hold(SeqNum(5), 10));    // not at RCV.NXT
  EXPECT_FALSE(b.can_hold(SeqNum(0), 5000));  // beyond the window
  EXPECT_FALSE(b.can_hold(SeqNum(0), 0));
  auto d = seq_bytes(10);
  for (std::size_t i = 0; i < RecvBuffer::kMaxHeld; ++i) {
    ASSERT_TRUE(b.can_hold(b.next(), d.size()));
    b.hold(b.next(), packet_of(pool, d));
  }
  EXPECT_FALSE(b.can_hold(b.next(), d.size()));  // bounded per connection
  EXPECT_EQ(b.readable(), 10 * RecvBuffer::kMaxHeld);
}

}  // namespace
}  // namespace coronet::stack::tcp
