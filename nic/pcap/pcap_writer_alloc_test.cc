// The capture hot path allocates nothing: PcapWriter::write (with its automatic flushes) and
// CaptureDevice bursts are counted against a replaced global operator new. A separate binary
// so the replacement touches no other test.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "nic/packet_pool.h"
#include "nic/pcap/capture_device.h"
#include "nic/pcap/pcap_testing.h"
#include "nic/pcap/pcap_writer.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// Every non-aligned form funnels through these two; the aligned forms keep their default
// (matched) implementations. malloc/free underneath keep ASan's pairing checks happy.
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace coronet::nic {
namespace {

using namespace std::chrono_literals;

// Takes every packet and frees it: a device with no memory of its own.
class SinkDevice final : public Device {
 public:
  explicit SinkDevice(PacketPool& pool) : pool_(pool) { info_.name = "sink"; }
  const DeviceInfo& info() const override { return info_; }
  LinkState link() const override { return LinkState::kUp; }
  std::size_t rx_burst(std::uint16_t, std::span<Packet*> out) override {
    return pool_.alloc_bulk(out.first(std::min<std::size_t>(out.size(), 4)));
  }
  std::size_t tx_burst(std::uint16_t, std::span<Packet* const> pkts) override {
    PacketPool::free_bulk(pkts);
    return pkts.size();
  }
  QueueStats rx_stats(std::uint16_t) const override { return {}; }
  QueueStats tx_stats(std::uint16_t) const override { return {}; }
  PacketPool& pool(std::uint16_t) override { return pool_; }

 private:
  PacketPool& pool_;
  DeviceInfo info_;
};

TEST(PcapAllocation, WritesAndFlushesAllocateNothing) {
  PacketPool pool({.name = "t", .count = 64, .buffer_size = 512, .headroom = 64});
  auto frame = testing::pattern_frame(1514, 1);
  Packet* chain = testing::make_chain(pool, frame, 300);
  auto w = PcapWriter::open(testing::temp_path("alloc.pcapng"),
                            {.snaplen = 2000, .buffer_size = 16 * 1024});
  ASSERT_TRUE(w);
  const long before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    if (!w->write(*chain, coro::TimePoint(i * 1ms), PacketDirection::kOutbound)) break;
  }
  const long after = g_allocations.load();
  EXPECT_EQ(after - before, 0);
  EXPECT_EQ(w->stats().frames, 1000u);
  EXPECT_GT(w->stats().flushes, 50u);
  PacketPool::free(chain);
}

TEST(PcapAllocation, CaptureDeviceBurstsAllocateNothing) {
  PacketPool pool({.name = "t", .count = 256, .buffer_size = 2048, .headroom = 128});
  SinkDevice sink(pool);
  coro::VirtualClock clock;
  auto w = PcapWriter::open(testing::temp_path("alloc-dev.pcapng"), {.buffer_size = 32 * 1024});
  ASSERT_TRUE(w);
  CaptureDevice cap(sink, *w, clock);
  std::vector<Packet*> burst(32);
  int refused = 0;  // counted, not asserted inside the measured loop
  const long before = g_allocations.load();
  for (int round = 0; round < 100; ++round) {
    std::size_t n = pool.alloc_bulk(burst);
    for (std::size_t i = 0; i < n; ++i) burst[i]->append(1000);
    if (cap.tx_burst(0, std::span<Packet* const>(burst.data(), n)) != n) ++refused;
    std::size_t m = cap.rx_burst(0, burst);
    PacketPool::free_bulk(std::span<Packet* const>(burst.data(), m));
    clock.advance(1ms);
  }
  const long after = g_allocations.load();
  EXPECT_EQ(after - before, 0);
  EXPECT_EQ(refused, 0);
  EXPECT_EQ(cap.capture_stats().tx_captured, 3200u);
  EXPECT_EQ(cap.capture_stats().rx_captured, 400u);
}

}  // namespace
}  // namespace coronet::nic
