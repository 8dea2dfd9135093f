// Wire with impairments on virtual time: delay (nothing before the deadline, everything at it),
// bandwidth spacing, loss counted exactly, bit-for-bit replay, an ImpairedDevice stacked on a wire
// end, and a reactor on virtual time jumping straight to a delayed arrival.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "coro/reactor.h"
#include "nic/impair/impaired_device.h"
#include "nic/wire/wire.h"

namespace coronet::nic {
namespace {

using namespace std::chrono_literals;
using coro::TimePoint;

constexpr TimePoint kT0{};

WireEndConfig end_config(const char* name, ImpairmentConfig tx = {}) {
  WireEndConfig c;
  c.name = name;
  c.pool = {.count = 1024, .buffer_size = 2048, .headroom = 128};
  c.tx_impairment = tx;
  return c;
}

Packet* make_frame(Device& dev, std::uint32_t seq, std::uint32_t size = 64) {
  Packet* p = dev.pool(0).alloc();
  if (p == nullptr) return nullptr;
  std::byte* d = p->append(size);
  for (std::uint32_t i = 0; i < size; ++i) d[i] = static_cast<std::byte>((seq * 7 + i) & 0xff);
  std::memcpy(d, &seq, sizeof(seq));
  return p;
}

std::uint32_t seq_of(const Packet* p) {
  std::uint32_t s;
  std::memcpy(&s, p->data(), sizeof(s));
  return s;
}

void send(Device& dev, std::uint32_t seq, std::uint32_t size = 64) {
  Packet* p[] = {make_frame(dev, seq, size)};
  ASSERT_NE(p[0], nullptr);
  dev.tx_burst(0, p);
}

std::vector<Packet*> receive_all(Device& dev) {
  std::vector<Packet*> got;
  Packet* buf[32];
  for (;;) {
    std::size_t n = dev.rx_burst(0, buf);
    got.insert(got.end(), buf, buf + n);
    if (n < std::size(buf)) return got;
  }
}

void free_all(const std::vector<Packet*>& ps) {
  for (Packet* p : ps) PacketPool::free(p);
}

TEST(WireImpairment, DelayDeliversNothingBeforeTheDeadlineAndEverythingAtIt) {
  coro::VirtualClock clock;
  Wire wire(clock, end_config("a", {.delay = 25ms}), end_config("b"));
  for (std::uint32_t i = 0; i < 100; ++i) send(wire.a(), i);
  EXPECT_EQ(wire.b().next_rx_time(0), kT0 + 25ms);
  clock.advance_to(kT0 + 25ms - 1ns);
  EXPECT_TRUE(receive_all(wire.b()).empty());
  clock.advance_to(kT0 + 25ms);
  auto got = receive_all(wire.b());
  ASSERT_EQ(got.size(), 100u);
  for (std::uint32_t i = 0; i < 100; ++i) {
    EXPECT_EQ(seq_of(got[i]), i);
    EXPECT_EQ(got[i]->meta.timestamp_ns, 25'000'000u);
  }
  free_all(got);
  EXPECT_EQ(wire.a().tx_impairment_stats().delayed, 100u);
}

TEST(WireImpairment, DelayIsPerDirection) {
  coro::VirtualClock clock;
  Wire wire(clock, end_config("a", {.delay = 5ms}), end_config("b"));
  send(wire.b(), 1);
  auto got = receive_all(wire.a());
  EXPECT_EQ(got.size(), 1u);  // b -> a is not delayed
  free_all(got);
  send(wire.a(), 2);
  EXPECT_TRUE(receive_all(wire.b()).empty());
}

TEST(WireImpairment, BandwidthLimitSpacesArrivals) {
  coro::VirtualClock clock;
  // 1000-byte frames at 80 Mbit/s: one every 100 us.
  Wire wire(clock, end_config("a", {.bandwidth_bps = 80'000'000}), end_config("b"));
  for (std::uint32_t i = 0; i < 20; ++i) send(wire.a(), i, 1000);
  std::vector<std::uint64_t> stamps;
  while (auto t = wire.b().next_rx_time(0)) {
    clock.advance_to(*t);
    auto got = receive_all(wire.b());
    ASSERT_EQ(got.size(), 1u) << "one frame per 100 us, never a clump";
    EXPECT_EQ(got[0]->meta.timestamp_ns, static_cast<std::uint64_t>((clock.now() - kT0) / 1ns));
    stamps.push_back(got[0]->meta.timestamp_ns);
    free_all(got);
  }
  ASSERT_EQ(stamps.size(), 20u);
  for (std::size_t i = 0; i < stamps.size(); ++i) EXPECT_EQ(stamps[i], (i + 1) * 100'000u);
}

TEST(WireImpairment, LossOver10kIsExactForFixedSeedAndWithinTolerance) {
  coro::VirtualClock clock;
  Wire wire(clock, end_config("a", {.loss = 0.1, .seed = 42, .queue_limit = 20'000}),
            end_config("b"));
  std::size_t received = 0;
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    send(wire.a(), i);
    if (i % 100 == 99) {
      auto got = receive_all(wire.b());
      received += got.size();
      free_all(got);
    }
  }
  const ImpairmentStats& s = wire.a().tx_impairment_stats();
  EXPECT_EQ(s.dropped, 1001u);  // same decisions as the Impairer alone with this seed
  EXPECT_EQ(received + s.dropped, 10'000u);
  EXPECT_NEAR(static_cast<double>(s.dropped) / 10'000, 0.1, 0.01);
  EXPECT_EQ(wire.a().tx_stats(0).packets, 10'000u);  // lost on the wire, not refused by the port
  EXPECT_EQ(wire.b().rx_stats(0).packets, received);
}

struct Observed {
  TimePoint polled;            // clock when rx_burst returned it
  std::uint64_t timestamp_ns;  // arrival time the wire stamped
  std::uint16_t size;
  std::vector<std::byte> bytes;
  friend bool operator==(const Observed&, const Observed&) = default;
};

// Both directions impaired; a sends 5000 frames of varying size every 20 us, b echoes every
// frame it receives; a simulation loop jumps from event to event. Returns what b and a saw.
std::pair<std::vector<Observed>, std::vector<Observed>> simulate(std::uint64_t seed) {
  coro::VirtualClock clock;
  const ImpairmentConfig ab{.loss = 0.02,
                            .duplicate = 0.02,
                            .reorder = 0.05,
                            .reorder_depth = 3,
                            .delay = 3ms,
                            .jitter = 1ms,
                            .bandwidth_bps = 400'000'000,
                            .corrupt = 0.01,
                            .seed = seed,
                            .queue_limit = 4096};
  ImpairmentConfig ba = ab;
  ba.seed = seed + 1000;
  ba.bandwidth_bps = 0;
  Wire wire(clock, end_config("a", ab), end_config("b", ba));
  std::vector<Observed> at_b;
  std::vector<Observed> at_a;
  auto record = [&](std::vector<Observed>& log, Packet* p) {
    log.push_back({clock.now(),
                   p->meta.timestamp_ns,
                   static_cast<std::uint16_t>(p->size()),
                   {p->data(), p->data() + p->size()}});
  };
  std::uint32_t next_seq = 0;
  constexpr std::uint32_t kFrames = 5000;
  for (int steps = 0; steps < 1'000'000; ++steps) {
    std::optional<TimePoint> next;
    if (next_seq < kFrames) next = kT0 + next_seq * 20us;
    for (auto t : {wire.a().next_rx_time(0), wire.b().next_rx_time(0)}) {
      if (t && (!next || *t < *next)) next = t;
    }
    if (!next) break;
    clock.advance_to(*next);
    while (next_seq < kFrames && kT0 + next_seq * 20us <= clock.now()) {
      send(wire.a(), next_seq, 60 + (next_seq * 37) % 1400);
      ++next_seq;
    }
    for (Packet* p : receive_all(wire.b())) {
      record(at_b, p);
      Packet* echo[] = {p};  // b's own buffer goes back out
      wire.b().tx_burst(0, echo);
    }
    for (Packet* p : receive_all(wire.a())) {
      record(at_a, p);
      PacketPool::free(p);
    }
  }
  return {at_b, at_a};
}

TEST(WireImpairment, ReplaySameSeedGivesBitForBitIdenticalSequences) {
  auto first = simulate(2024);
  auto second = simulate(2024);
  ASSERT_GT(first.first.size(), 4000u);
  ASSERT_GT(first.second.size(), 3000u);
  EXPECT_TRUE(first.first == second.first);  // content, arrival stamps and poll times
  EXPECT_TRUE(first.second == second.second);
}

TEST(WireImpairment, ReplayDifferentSeedDiffers) {
  auto first = simulate(2024);
  auto other = simulate(2025);
  EXPECT_FALSE(first.first == other.first);
  EXPECT_FALSE(first.second == other.second);
}

TEST(WireImpairment, ImpairedDeviceStacksOnAWireEnd) {
  coro::VirtualClock clock;
  Wire wire(clock, end_config("a", {.delay = 3ms}), end_config("b"));
  ImpairedDevice b(wire.b(), clock, {}, {.delay = 2ms});
  send(wire.a(), 1);
  EXPECT_EQ(b.next_rx_time(0), kT0 + 3ms);  // the wire's own arrival first
  clock.advance_to(kT0 + 3ms);
  EXPECT_TRUE(receive_all(b).empty());
  EXPECT_EQ(b.next_rx_time(0), kT0 + 5ms);
  clock.advance_to(kT0 + 5ms);
  auto got = receive_all(b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->meta.timestamp_ns, 5'000'000u);
  EXPECT_EQ(got[0]->pool(), &wire.b().pool(0));
  free_all(got);
}

TEST(WireImpairment, ImpairedDeviceAddsTxLossOnTopOfTheWire) {
  coro::VirtualClock clock;
  Wire wire(clock, end_config("a"), end_config("b"));
  ImpairedDevice a(wire.a(), clock, {.loss = 1.0}, {});
  send(a, 1);
  EXPECT_TRUE(receive_all(wire.b()).empty());
  EXPECT_EQ(a.tx_impairment(0).dropped, 1u);
  EXPECT_EQ(wire.a().tx_stats(0).packets, 0u);  // never reached the wire
}

// Polls a device from a reactor; stops the reactor once `want` frames have arrived.
class RxSource final : public coro::PollSource {
 public:
  RxSource(coro::Reactor& r, Device& dev, std::size_t want) : r_(r), dev_(dev), want_(want) {}
  bool poll() override {
    Packet* buf[32];
    std::size_t n = dev_.rx_burst(0, buf);
    for (std::size_t i = 0; i < n; ++i) {
      arrival_ns.push_back(buf[i]->meta.timestamp_ns);
      PacketPool::free(buf[i]);
    }
    if (arrival_ns.size() >= want_) r_.stop();
    return n > 0;
  }
  std::optional<TimePoint> next_event() const override { return dev_.next_rx_time(0); }
  std::vector<std::uint64_t> arrival_ns;

 private:
  coro::Reactor& r_;
  Device& dev_;
  std::size_t want_;
};

TEST(WireImpairment, ReactorOnVirtualTimeJumpsStraightToDelayedArrivals) {
  coro::VirtualClock clock;
  Wire wire(clock, end_config("a", {.delay = 1h, .bandwidth_bps = 1'000'000}), end_config("b"));
  for (std::uint32_t i = 0; i < 3; ++i) send(wire.a(), i, 125);  // 1 ms each at 1 Mbit/s
  coro::Reactor reactor({.clock = &clock});
  RxSource source(reactor, wire.b(), 3);
  reactor.add_poll_source(&source);
  const auto wall = std::chrono::steady_clock::now();
  reactor.run();
  EXPECT_LT(std::chrono::steady_clock::now() - wall, 10s);  // an hour of virtual time
  reactor.remove_poll_source(&source);
  const std::uint64_t hour_ns = 3'600'000'000'000;
  EXPECT_EQ(source.arrival_ns, (std::vector<std::uint64_t>{hour_ns + 1'000'000, hour_ns + 2'000'000,
                                                           hour_ns + 3'000'000}));
  EXPECT_EQ(clock.now(), kT0 + 1h + 3ms);
}

}  // namespace
}  // namespace coronet::nic
