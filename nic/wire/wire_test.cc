// Wire without impairments: frames cross byte-exact and in order, into the receiver's own pools;
// link state, MTU, pool exhaustion, ring and in-flight bounds are all counted; steering.
#include "nic/wire/wire.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace coronet::nic {
namespace {

using namespace std::chrono_literals;

WireEndConfig end_config(const char* name, std::uint8_t mac_last) {
  WireEndConfig c;
  c.name = name;
  c.mac = MacAddress({0x02, 0, 0, 0, 0, mac_last});
  c.pool = {.count = 256, .buffer_size = 2048, .headroom = 128};
  return c;
}

// A frame of `size` bytes: seq in the first four, then a pattern derived from it.
Packet* make_frame(Device& dev, std::uint32_t seq, std::uint32_t size = 64) {
  Packet* p = dev.pool(0).alloc();
  if (p == nullptr) return nullptr;
  std::byte* d = p->append(size);
  for (std::uint32_t i = 0; i < size; ++i) d[i] = static_cast<std::byte>((seq + i * 13) & 0xff);
  std::memcpy(d, &seq, sizeof(seq));
  return p;
}

bool has_pattern(const Packet& p, std::uint32_t seq, std::uint32_t size) {
  std::vector<std::byte> flat(p.chain_size());
  p.copy_out(flat);
  if (flat.size() != size) return false;
  std::uint32_t s;
  std::memcpy(&s, flat.data(), sizeof(s));
  if (s != seq) return false;
  for (std::uint32_t i = 4; i < size; ++i) {
    if (flat[i] != static_cast<std::byte>((seq + i * 13) & 0xff)) return false;
  }
  return true;
}

void send(Device& dev, std::uint32_t seq, std::uint32_t size = 64, std::uint16_t q = 0) {
  Packet* p[] = {make_frame(dev, seq, size)};
  ASSERT_NE(p[0], nullptr);
  ASSERT_EQ(dev.tx_burst(q, p), 1u);
}

std::vector<Packet*> receive_all(Device& dev, std::uint16_t q = 0) {
  std::vector<Packet*> got;
  Packet* buf[16];
  for (;;) {
    std::size_t n = dev.rx_burst(q, buf);
    got.insert(got.end(), buf, buf + n);
    if (n < std::size(buf)) return got;
  }
}

void free_all(const std::vector<Packet*>& ps) {
  for (Packet* p : ps) PacketPool::free(p);
}

struct WireTest : ::testing::Test {
  coro::VirtualClock clock;
  Wire wire{clock, end_config("a", 1), end_config("b", 2)};
};

TEST_F(WireTest, EndsReportTheirConfiguration) {
  EXPECT_EQ(wire.a().info().name, "a");
  EXPECT_EQ(wire.b().info().mac, MacAddress({0x02, 0, 0, 0, 0, 2}));
  EXPECT_EQ(wire.a().info().mtu, 1500);
  EXPECT_EQ(wire.a().info().rx_queues, 1);
  EXPECT_EQ(&wire.a().peer(), &wire.b());
  EXPECT_EQ(wire.a().link(), LinkState::kUp);
}

TEST_F(WireTest, FramesCrossByteExactAndInOrderBothWays) {
  for (std::uint32_t i = 0; i < 100; ++i) send(wire.a(), i, 60 + i * 14);
  for (std::uint32_t i = 0; i < 10; ++i) send(wire.b(), 1000 + i, 1514);
  auto at_b = receive_all(wire.b());
  auto at_a = receive_all(wire.a());
  ASSERT_EQ(at_b.size(), 100u);
  ASSERT_EQ(at_a.size(), 10u);
  for (std::uint32_t i = 0; i < 100; ++i) EXPECT_TRUE(has_pattern(*at_b[i], i, 60 + i * 14)) << i;
  for (std::uint32_t i = 0; i < 10; ++i) EXPECT_TRUE(has_pattern(*at_a[i], 1000 + i, 1514)) << i;
  free_all(at_b);
  free_all(at_a);
}

TEST_F(WireTest, ReceiverCopiesIntoItsOwnPoolAndSenderBufferIsFreed) {
  send(wire.a(), 1);
  EXPECT_EQ(wire.a().pool(0).stats().in_use, 1u);  // in flight: the sender's buffer
  EXPECT_EQ(wire.a().in_flight(), 1u);
  auto got = receive_all(wire.b());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->pool(), &wire.b().pool(0));
  EXPECT_EQ(got[0]->headroom(), 128u);  // room for the receiver to prepend
  EXPECT_EQ(got[0]->meta.queue, 0);
  EXPECT_EQ(wire.a().pool(0).stats().in_use, 0u);
  free_all(got);
}

TEST_F(WireTest, QueueCountersCountPacketsAndBytes) {
  send(wire.a(), 1, 100);
  send(wire.a(), 2, 200);
  free_all(receive_all(wire.b()));
  EXPECT_EQ(wire.a().tx_stats(0).packets, 2u);
  EXPECT_EQ(wire.a().tx_stats(0).bytes, 300u);
  EXPECT_EQ(wire.b().rx_stats(0).packets, 2u);
  EXPECT_EQ(wire.b().rx_stats(0).bytes, 300u);
  EXPECT_EQ(wire.b().rx_stats(0).drops, 0u);
}

TEST_F(WireTest, ArrivalTimestampIsTheClockAtTransmission) {
  clock.advance(42us);
  send(wire.a(), 1);
  clock.advance(1ms);  // polled later; no delay configured, so it arrived at 42 us
  auto got = receive_all(wire.b());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->meta.timestamp_ns, 42'000u);
  free_all(got);
}

TEST_F(WireTest, ChainedFrameArrivesAsOneBuffer) {
  Packet* head = make_frame(wire.a(), 5, 40);
  Packet* tail = wire.a().pool(0).alloc();
  std::memset(tail->append(30), 0xee, 30);
  head->set_next(tail);
  Packet* p[] = {head};
  wire.a().tx_burst(0, p);
  auto got = receive_all(wire.b());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->chain_segments(), 1u);
  EXPECT_EQ(got[0]->size(), 70u);
  EXPECT_EQ(got[0]->data()[69], std::byte{0xee});
  free_all(got);
}

TEST(Wire, LargeFrameChainsAcrossSmallReceiveBuffers) {
  coro::VirtualClock clock;
  WireEndConfig b = end_config("b", 2);
  b.pool = {.count = 64, .buffer_size = 512, .headroom = 64};
  Wire wire(clock, end_config("a", 1), b);
  send(wire.a(), 9, 1514);
  auto got = receive_all(wire.b());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->chain_segments(), 4u);  // 448 bytes of data room per buffer
  EXPECT_TRUE(has_pattern(*got[0], 9, 1514));
  free_all(got);
}

TEST_F(WireTest, OversizeFrameIsDroppedAsTxError) {
  send(wire.a(), 1, 1514);  // mtu 1500 + 14: fits
  send(wire.a(), 2, 1515);
  EXPECT_EQ(wire.a().tx_stats(0).errors, 1u);
  EXPECT_EQ(wire.a().wire_stats().tx_oversize, 1u);
  auto got = receive_all(wire.b());
  ASSERT_EQ(got.size(), 1u);
  free_all(got);
  EXPECT_EQ(wire.a().pool(0).stats().in_use, 0u);
}

TEST_F(WireTest, LinkNeedsBothEndsUp) {
  wire.b().set_link(LinkState::kDown);
  EXPECT_EQ(wire.a().link(), LinkState::kDown);
  EXPECT_EQ(wire.b().link(), LinkState::kDown);
  EXPECT_EQ(wire.a().admin_state(), LinkState::kUp);
  wire.b().set_link(LinkState::kUp);
  EXPECT_EQ(wire.a().link(), LinkState::kUp);
}

TEST_F(WireTest, LinkDownDropsTransmittedFramesAndCountsThem) {
  wire.a().set_link(LinkState::kDown);
  send(wire.a(), 1);
  send(wire.b(), 2);
  EXPECT_EQ(wire.a().tx_stats(0).drops, 1u);
  EXPECT_EQ(wire.a().wire_stats().tx_link_down, 1u);
  EXPECT_EQ(wire.b().wire_stats().tx_link_down, 1u);
  EXPECT_TRUE(receive_all(wire.b()).empty());
  EXPECT_TRUE(receive_all(wire.a()).empty());
  EXPECT_EQ(wire.a().pool(0).stats().in_use, 0u);
}

TEST_F(WireTest, LinkGoingDownLosesFramesInFlightButNotFramesReceived) {
  send(wire.a(), 1);
  Packet* none[1];
  wire.b().rx_burst(0, std::span(none, 0));  // frame 1 arrives in b's rx ring
  send(wire.a(), 2);                         // in flight toward b (nobody polled yet)
  send(wire.b(), 3);                         // in flight toward a
  wire.a().set_link(LinkState::kDown);
  EXPECT_EQ(wire.a().wire_stats().lost_link_down, 1u);
  EXPECT_EQ(wire.b().wire_stats().lost_link_down, 1u);
  EXPECT_EQ(wire.a().in_flight(), 0u);
  EXPECT_EQ(wire.b().in_flight(), 0u);

  auto kept = receive_all(wire.b());  // still readable while the link is down
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_TRUE(has_pattern(*kept[0], 1, 64));
  free_all(kept);

  wire.a().set_link(LinkState::kUp);
  EXPECT_TRUE(receive_all(wire.a()).empty());
  send(wire.a(), 4);
  auto got = receive_all(wire.b());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(has_pattern(*got[0], 4, 64));
  free_all(got);
  EXPECT_EQ(wire.a().pool(0).stats().in_use, 0u);
  EXPECT_EQ(wire.b().pool(0).stats().in_use, 0u);
}

TEST(Wire, ReceivePoolExhaustionIsCountedAsRxDrop) {
  coro::VirtualClock clock;
  WireEndConfig b = end_config("b", 2);
  b.pool = {.count = 4, .buffer_size = 2048, .headroom = 128};
  Wire wire(clock, end_config("a", 1), b);
  for (std::uint32_t i = 0; i < 6; ++i) send(wire.a(), i);
  Packet* buf[8];
  ASSERT_EQ(wire.b().rx_burst(0, buf), 4u);  // the app holds all 4 buffers...
  EXPECT_EQ(wire.b().rx_stats(0).drops, 2u);
  EXPECT_EQ(wire.b().wire_stats().rx_no_buffer, 2u);
  for (std::uint32_t i = 0; i < 4; ++i) EXPECT_TRUE(has_pattern(*buf[i], i, 64));
  PacketPool::free_bulk(std::span(buf, 4));
  EXPECT_EQ(wire.a().pool(0).stats().in_use, 0u);  // dropped frames' sender buffers freed too
}

TEST(Wire, FullRxRingIsCountedAsRxDrop) {
  coro::VirtualClock clock;
  WireEndConfig b = end_config("b", 2);
  b.rx_ring_size = 3;
  Wire wire(clock, end_config("a", 1), b);
  for (std::uint32_t i = 0; i < 5; ++i) send(wire.a(), i);
  auto got = receive_all(wire.b());
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(wire.b().wire_stats().rx_ring_full, 2u);
  EXPECT_EQ(wire.b().rx_stats(0).drops, 2u);
  free_all(got);
}

TEST(Wire, InFlightCapacityIsBoundedAndOverflowCounted) {
  coro::VirtualClock clock;
  WireEndConfig a = end_config("a", 1);
  a.tx_impairment.queue_limit = 10;
  Wire wire(clock, a, end_config("b", 2));
  for (std::uint32_t i = 0; i < 15; ++i) send(wire.a(), i);
  EXPECT_EQ(wire.a().in_flight(), 10u);
  EXPECT_EQ(wire.a().tx_stats(0).drops, 5u);
  EXPECT_EQ(wire.a().tx_stats(0).packets, 10u);
  EXPECT_EQ(wire.a().wire_stats().tx_in_flight_full, 5u);
  EXPECT_EQ(wire.a().tx_impairment_stats().queue_overflow, 5u);
  auto got = receive_all(wire.b());
  EXPECT_EQ(got.size(), 10u);
  free_all(got);
}

TEST_F(WireTest, NextRxTimeIsNulloptWhenIdleAndNowWhenSomethingArrived) {
  EXPECT_EQ(wire.b().next_rx_time(0), std::nullopt);
  send(wire.a(), 1);
  EXPECT_EQ(wire.b().next_rx_time(0), clock.now());
  free_all(receive_all(wire.b()));
  EXPECT_EQ(wire.b().next_rx_time(0), std::nullopt);
}

TEST_F(WireTest, QueueOutOfRangeIsRefused) {
  Packet* p[] = {make_frame(wire.a(), 1)};
  EXPECT_EQ(wire.a().tx_burst(1, p), 0u);
  Packet* buf[1];
  EXPECT_EQ(wire.b().rx_burst(1, buf), 0u);
  EXPECT_EQ(wire.b().next_rx_time(1), std::nullopt);
  EXPECT_EQ(wire.a().tx_stats(1).packets, 0u);
  PacketPool::free(p[0]);
}

WireEndConfig multi_queue(const char* name, std::uint8_t mac_last, std::uint16_t queues) {
  WireEndConfig c = end_config(name, mac_last);
  c.queues = queues;
  c.pool.count = 64;
  return c;
}

TEST(Wire, DefaultSteeringPutsEverythingOnQueueZero) {
  coro::VirtualClock clock;
  Wire wire(clock, multi_queue("a", 1, 4), multi_queue("b", 2, 4));
  for (std::uint32_t i = 0; i < 8; ++i) send(wire.a(), i, 64, static_cast<std::uint16_t>(i % 4));
  for (std::uint16_t q = 1; q < 4; ++q) EXPECT_TRUE(receive_all(wire.b(), q).empty());
  auto got = receive_all(wire.b(), 0);
  EXPECT_EQ(got.size(), 8u);
  EXPECT_EQ(got[0]->meta.flags & offload::kRssHashValid, 0u);
  free_all(got);
  EXPECT_EQ(wire.b().info().rx_queues, 4);
}

TEST(Wire, SteeringFunctionPicksQueuePoolAndHash) {
  coro::VirtualClock clock;
  Wire wire(clock, multi_queue("a", 1, 3), multi_queue("b", 2, 3));
  wire.b().set_steering([](const Packet& frame, std::uint16_t queues) {
    std::uint32_t seq;
    std::memcpy(&seq, frame.data(), sizeof(seq));
    return Steering{.queue = static_cast<std::uint16_t>(seq % queues + queues),  // reduced mod 3
                    .rss_hash = seq * 1000};
  });
  for (std::uint32_t i = 0; i < 9; ++i) send(wire.a(), i);
  for (std::uint16_t q = 0; q < 3; ++q) {
    auto got = receive_all(wire.b(), q);
    ASSERT_EQ(got.size(), 3u) << q;
    for (std::size_t k = 0; k < 3; ++k) {
      const std::uint32_t seq = q + 3 * static_cast<std::uint32_t>(k);
      EXPECT_TRUE(has_pattern(*got[k], seq, 64));
      EXPECT_EQ(got[k]->meta.queue, q);
      EXPECT_EQ(got[k]->pool(), &wire.b().pool(q));
      EXPECT_NE(got[k]->meta.flags & offload::kRssHashValid, 0u);
      EXPECT_EQ(got[k]->meta.rss_hash, seq * 1000);
    }
    EXPECT_EQ(wire.b().rx_stats(q).packets, 3u);
    free_all(got);
  }
}

TEST(Wire, ZeroQueuesIsAConfigurationError) {
  coro::VirtualClock clock;
  WireEndConfig a = end_config("a", 1);
  a.queues = 0;
  EXPECT_THROW(Wire(clock, a, end_config("b", 2)), std::invalid_argument);
}

TEST(Wire, DestroyingTheWireFreesFramesInFlightAndQueued) {
  coro::VirtualClock clock;
  PacketPool outside({.count = 8, .buffer_size = 2048, .headroom = 0});
  {
    WireEndConfig a = end_config("a", 1);
    a.tx_impairment.delay = 1ms;
    Wire wire(clock, a, end_config("b", 2));
    send(wire.a(), 1);  // in flight (delayed)
    send(wire.b(), 2);  // arrives at a, never read
    Packet* none[1];
    wire.a().rx_burst(0, std::span(none, 0));
    Packet* foreign[] = {outside.alloc()};  // a buffer from a pool that outlives the wire
    std::memset(foreign[0]->append(64), 0, 64);
    wire.a().tx_burst(0, foreign);
  }
  EXPECT_EQ(outside.stats().in_use, 0u);
}

}  // namespace
}  // namespace coronet::nic
