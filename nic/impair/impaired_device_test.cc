// ImpairedDevice over a scripted fake device: pass-through, tx and rx impairments on virtual time,
// delayed tx released by later calls, refused frames retried in order, per-queue seeds, cleanup.
#include "nic/impair/impaired_device.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <vector>

namespace coronet::nic {
namespace {

using namespace std::chrono_literals;

// A device whose rx side returns injected frames and whose tx side keeps what it accepted (up to
// `tx_room` frames per call, to model a full ring).
class FakeDevice final : public Device {
 public:
  explicit FakeDevice(std::uint16_t queues = 1)
      : pool_({.name = "fake", .count = 512, .buffer_size = 256, .headroom = 32}) {
    info_.name = "fake";
    info_.rx_queues = queues;
    info_.tx_queues = queues;
    rx_.resize(queues);
    sent_.resize(queues);
  }
  ~FakeDevice() override {
    for (auto& q : rx_) {
      for (Packet* p : q) PacketPool::free(p);
    }
    for (auto& q : sent_) {
      for (Packet* p : q) PacketPool::free(p);
    }
  }

  const DeviceInfo& info() const override { return info_; }
  LinkState link() const override { return LinkState::kUp; }
  std::size_t rx_burst(std::uint16_t q, std::span<Packet*> out) override {
    std::size_t n = 0;
    while (n < out.size() && !rx_[q].empty()) {
      out[n++] = rx_[q].front();
      rx_[q].pop_front();
    }
    return n;
  }
  std::size_t tx_burst(std::uint16_t q, std::span<Packet* const> pkts) override {
    std::size_t n = std::min(pkts.size(), tx_room);
    sent_[q].insert(sent_[q].end(), pkts.begin(), pkts.begin() + static_cast<std::ptrdiff_t>(n));
    ++tx_calls;
    return n;
  }
  QueueStats rx_stats(std::uint16_t) const override { return {}; }
  QueueStats tx_stats(std::uint16_t) const override { return {}; }
  PacketPool& pool(std::uint16_t) override { return pool_; }

  Packet* frame(std::uint32_t seq, std::uint32_t size = 64) {
    Packet* p = pool_.alloc();
    std::memset(p->append(size), 0x5a, size);
    std::memcpy(p->data(), &seq, sizeof(seq));
    return p;
  }
  void inject(std::uint16_t q, Packet* p) { rx_[q].push_back(p); }
  // Sequence numbers of what was transmitted on `q`, freeing the frames.
  std::vector<std::uint32_t> take_sent(std::uint16_t q = 0) {
    std::vector<std::uint32_t> seqs;
    for (Packet* p : sent_[q]) {
      std::uint32_t s;
      std::memcpy(&s, p->data(), sizeof(s));
      seqs.push_back(s);
      PacketPool::free(p);
    }
    sent_[q].clear();
    return seqs;
  }

  std::size_t tx_room = SIZE_MAX;
  int tx_calls = 0;

 private:
  DeviceInfo info_;
  PacketPool pool_;
  std::vector<std::deque<Packet*>> rx_;
  std::vector<std::vector<Packet*>> sent_;
};

std::uint32_t seq_of(const Packet* p) {
  std::uint32_t s;
  std::memcpy(&s, p->data(), sizeof(s));
  return s;
}

std::vector<std::uint32_t> rx_seqs(Device& dev, std::uint16_t q = 0) {
  std::vector<std::uint32_t> seqs;
  Packet* buf[8];
  for (;;) {
    std::size_t n = dev.rx_burst(q, buf);
    for (std::size_t i = 0; i < n; ++i) {
      seqs.push_back(seq_of(buf[i]));
      PacketPool::free(buf[i]);
    }
    if (n < std::size(buf)) return seqs;
  }
}

TEST(ImpairedDevice, InactiveConfigPassesStraightThrough) {
  FakeDevice inner;
  coro::VirtualClock clock;
  ImpairedDevice dev(inner, clock, {}, {});
  Packet* pkts[] = {inner.frame(1), inner.frame(2)};
  EXPECT_EQ(dev.tx_burst(0, pkts), 2u);
  EXPECT_EQ(inner.take_sent(), (std::vector<std::uint32_t>{1, 2}));
  inner.inject(0, inner.frame(3));
  EXPECT_EQ(rx_seqs(dev), (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(dev.tx_impairment(0).submitted, 0u);
  EXPECT_EQ(dev.next_rx_time(0), std::nullopt);
  EXPECT_EQ(&dev.pool(0), &inner.pool(0));
  EXPECT_EQ(dev.info().name, "fake");
}

TEST(ImpairedDevice, TxLossDropsBeforeTheWrappedDevice) {
  FakeDevice inner;
  coro::VirtualClock clock;
  ImpairedDevice dev(inner, clock, {.loss = 1.0}, {});
  Packet* pkts[] = {inner.frame(1), inner.frame(2), inner.frame(3)};
  EXPECT_EQ(dev.tx_burst(0, pkts), 3u);  // taken, then lost
  EXPECT_TRUE(inner.take_sent().empty());
  EXPECT_EQ(dev.tx_impairment(0).dropped, 3u);
  EXPECT_EQ(inner.pool(0).stats().in_use, 0u);
}

TEST(ImpairedDevice, DelayedTxLeavesOnALaterCallAtItsTime) {
  FakeDevice inner;
  coro::VirtualClock clock;
  ImpairedDevice dev(inner, clock, {.delay = 5ms}, {});
  Packet* pkts[] = {inner.frame(1), inner.frame(2)};
  dev.tx_burst(0, pkts);
  EXPECT_TRUE(inner.take_sent().empty());
  EXPECT_EQ(dev.next_rx_time(0), clock.now() + 5ms);  // a reactor must come back then
  clock.advance(5ms - 1ns);
  dev.rx_burst(0, {});
  EXPECT_TRUE(inner.take_sent().empty());
  clock.advance(1ns);
  Packet* buf[4];
  dev.rx_burst(0, buf);  // any later call moves due tx frames on
  EXPECT_EQ(inner.take_sent(), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(dev.next_rx_time(0), std::nullopt);
}

TEST(ImpairedDevice, FlushTxSendsDueFramesOfEveryQueue) {
  FakeDevice inner(2);
  coro::VirtualClock clock;
  ImpairedDevice dev(inner, clock, {.delay = 1ms}, {});
  Packet* a[] = {inner.frame(10)};
  Packet* b[] = {inner.frame(20)};
  dev.tx_burst(0, a);
  dev.tx_burst(1, b);
  EXPECT_EQ(dev.flush_tx(), 0u);
  clock.advance(1ms);
  EXPECT_EQ(dev.flush_tx(), 2u);
  EXPECT_EQ(inner.take_sent(0), (std::vector<std::uint32_t>{10}));
  EXPECT_EQ(inner.take_sent(1), (std::vector<std::uint32_t>{20}));
}

TEST(ImpairedDevice, RefusedTxFramesAreRetriedFirstAndInOrder) {
  FakeDevice inner;
  inner.tx_room = 2;
  coro::VirtualClock clock;
  ImpairedDevice dev(inner, clock, {.delay = 1ms}, {});
  std::vector<Packet*> pkts;
  for (std::uint32_t i = 0; i < 5; ++i) pkts.push_back(inner.frame(i));
  dev.tx_burst(0, pkts);
  clock.advance(1ms);
  dev.flush_tx();
  EXPECT_EQ(inner.take_sent(), (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(dev.next_rx_time(0), clock.now());  // a backlog is waiting
  Packet* more[] = {inner.frame(5)};
  dev.tx_burst(0, more);  // new frame is due in 1 ms; the backlog goes first
  EXPECT_EQ(inner.take_sent(), (std::vector<std::uint32_t>{2, 3}));
  inner.tx_room = SIZE_MAX;
  clock.advance(1ms);
  dev.flush_tx();
  EXPECT_EQ(inner.take_sent(), (std::vector<std::uint32_t>{4, 5}));
}

TEST(ImpairedDevice, RxDelayHoldsFramesAndStampsTheirArrivalTime) {
  FakeDevice inner;
  coro::VirtualClock clock(coro::TimePoint{} + 1s);
  ImpairedDevice dev(inner, clock, {}, {.delay = 3ms});
  inner.inject(0, inner.frame(7));
  EXPECT_TRUE(rx_seqs(dev).empty());  // pulled into the impairment queue, not yet due
  EXPECT_EQ(dev.next_rx_time(0), clock.now() + 3ms);
  clock.advance(10ms);  // polled late
  Packet* buf[4];
  ASSERT_EQ(dev.rx_burst(0, buf), 1u);
  EXPECT_EQ(seq_of(buf[0]), 7u);
  EXPECT_EQ(buf[0]->meta.timestamp_ns, 1'003'000'000u);  // arrived at 1 s + 3 ms
  PacketPool::free(buf[0]);
}

TEST(ImpairedDevice, RxDuplicatesComeFromTheWrappedDevicesPool) {
  FakeDevice inner;
  coro::VirtualClock clock;
  ImpairedDevice dev(inner, clock, {}, {.duplicate = 1.0});
  inner.inject(0, inner.frame(1));
  Packet* buf[4];
  ASSERT_EQ(dev.rx_burst(0, buf), 2u);
  EXPECT_EQ(buf[0]->pool(), &inner.pool(0));
  EXPECT_EQ(buf[1]->pool(), &inner.pool(0));
  EXPECT_EQ(seq_of(buf[1]), 1u);
  EXPECT_EQ(dev.rx_impairment(0).duplicated, 1u);
  PacketPool::free(buf[0]);
  PacketPool::free(buf[1]);
}

TEST(ImpairedDevice, RxBurstNeverReturnsMoreThanAsked) {
  FakeDevice inner;
  coro::VirtualClock clock;
  ImpairedDevice dev(inner, clock, {}, {.duplicate = 1.0});
  for (std::uint32_t i = 0; i < 4; ++i) inner.inject(0, inner.frame(i));
  Packet* buf[3];
  EXPECT_EQ(dev.rx_burst(0, buf), 3u);  // 3 frames pulled, 6 due, 3 handed out
  for (Packet* p : buf) PacketPool::free(p);
  EXPECT_EQ(rx_seqs(dev), (std::vector<std::uint32_t>{1, 2, 2, 3, 3}));
}

TEST(ImpairedDevice, QueuesDecideIndependentlyFromDerivedSeeds) {
  FakeDevice inner(2);
  coro::VirtualClock clock;
  ImpairedDevice dev(inner, clock, {.loss = 0.5, .seed = 99}, {});
  for (std::uint32_t i = 0; i < 64; ++i) {
    Packet* a[] = {inner.frame(i)};
    Packet* b[] = {inner.frame(i)};
    dev.tx_burst(0, a);
    dev.tx_burst(1, b);
  }
  EXPECT_NE(inner.take_sent(0), inner.take_sent(1));
  EXPECT_NE(derive_seed(99, 1), 99u);
  EXPECT_EQ(derive_seed(99, 0), 99u);
}

TEST(ImpairedDevice, QueueOutOfRangeTakesNothing) {
  FakeDevice inner;
  coro::VirtualClock clock;
  ImpairedDevice dev(inner, clock, {.delay = 1ms}, {.delay = 1ms});
  Packet* pkts[] = {inner.frame(1)};
  EXPECT_EQ(dev.tx_burst(3, pkts), 0u);
  Packet* buf[1];
  EXPECT_EQ(dev.rx_burst(3, buf), 0u);
  EXPECT_EQ(dev.tx_impairment(3).submitted, 0u);
  PacketPool::free(pkts[0]);
}

TEST(ImpairedDevice, DestructionFreesDelayedAndBackloggedFrames) {
  FakeDevice inner;
  {
    coro::VirtualClock clock;
    inner.tx_room = 1;
    ImpairedDevice dev(inner, clock, {.delay = 1ms}, {.delay = 1ms});
    for (std::uint32_t i = 0; i < 4; ++i) {
      Packet* p[] = {inner.frame(i)};
      dev.tx_burst(0, p);
      inner.inject(0, inner.frame(100 + i));
    }
    rx_seqs(dev);  // rx frames now wait in the rx impairer
    clock.advance(1ms);
    dev.flush_tx();  // one sent, three in the backlog
    for (std::uint32_t i = 0; i < 2; ++i) {
      Packet* p[] = {inner.frame(i)};
      dev.tx_burst(0, p);  // and more in the tx impairer
    }
  }
  inner.take_sent();
  EXPECT_EQ(inner.pool(0).stats().in_use, 0u);
}

}  // namespace
}  // namespace coronet::nic
