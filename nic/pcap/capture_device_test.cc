// CaptureDevice over a loopback fake: rx and tx recorded in call order with directions and
// virtual-clock times; only what the inner device took is recorded; large bursts are sliced
// without losing or duplicating a record; filters; a failed writer never stops traffic.
#include "nic/pcap/capture_device.h"

#include <gtest/gtest.h>

#include <deque>
#include <iterator>
#include <stdexcept>
#include <vector>

#include "nic/packet_pool.h"
#include "nic/pcap/pcap_testing.h"

namespace coronet::nic {
namespace {

using namespace std::chrono_literals;
using testing::CaptureFile;
using testing::make_chain;
using testing::pattern_frame;
using testing::temp_path;

// Receives exactly what it was sent. Holds at most `room` packets: tx_burst takes what fits.
class LoopbackDevice final : public Device {
 public:
  LoopbackDevice(PacketPool& pool, std::size_t room) : pool_(pool), room_(room) {
    info_.name = "loop0";
    info_.mtu = 9000;
  }
  ~LoopbackDevice() override {
    for (Packet* p : queue_) PacketPool::free(p);
  }

  const DeviceInfo& info() const override { return info_; }
  LinkState link() const override { return LinkState::kUp; }
  std::size_t rx_burst(std::uint16_t, std::span<Packet*> out) override {
    std::size_t n = 0;
    while (n < out.size() && !queue_.empty()) {
      out[n++] = queue_.front();
      queue_.pop_front();
    }
    rx_.packets += n;
    return n;
  }
  std::size_t tx_burst(std::uint16_t, std::span<Packet* const> pkts) override {
    tx_calls.push_back(pkts.size());
    std::size_t n = 0;
    while (n < pkts.size() && queue_.size() < room_) queue_.push_back(pkts[n++]);
    tx_.packets += n;
    tx_.drops += pkts.size() - n;
    return n;
  }
  QueueStats rx_stats(std::uint16_t) const override { return rx_; }
  QueueStats tx_stats(std::uint16_t) const override { return tx_; }
  PacketPool& pool(std::uint16_t) override { return pool_; }
  std::optional<coro::TimePoint> next_rx_time(std::uint16_t) const override {
    return coro::TimePoint(42s);
  }
  int rx_fd(std::uint16_t) const override { return 7; }

  std::vector<std::size_t> tx_calls;  // burst sizes the device was offered

 private:
  PacketPool& pool_;
  std::size_t room_;
  DeviceInfo info_;
  std::deque<Packet*> queue_;
  QueueStats rx_;
  QueueStats tx_;
};

class CaptureDeviceTest : public ::testing::Test {
 protected:
  CaptureDeviceTest() : pool_({.name = "t", .count = 4096, .buffer_size = 2048, .headroom = 128}) {}

  // Frame `id`: distinct size and content; chained when `id` is odd.
  std::vector<std::byte> frame(int id) {
    return pattern_frame(60 + static_cast<std::size_t>(id) * 37 % 1455,
                         static_cast<std::uint8_t>(id));
  }
  std::vector<Packet*> packets(int first, int count) {
    std::vector<Packet*> out;
    for (int id = first; id < first + count; ++id) {
      auto f = frame(id);
      out.push_back(make_chain(pool_, f, id % 2 == 1 ? 100 : 2048));
      if (out.back() == nullptr) throw std::runtime_error("test pool too small");
    }
    return out;
  }
  CaptureFile read_back(PcapWriter& w, const std::string& path) {
    EXPECT_TRUE(w.flush());
    auto f = testing::read_capture(path);
    if (!f) ADD_FAILURE() << f.error().message();
    return f ? *f : CaptureFile{};
  }
  static void free_all(std::span<Packet* const> pkts) {
    for (Packet* p : pkts) PacketPool::free(p);
  }

  PacketPool pool_;
  coro::VirtualClock clock_{coro::TimePoint(1000s)};
};

TEST_F(CaptureDeviceTest, RecordsTxThenRxInCallOrderWithDirectionsAndClockTimes) {
  const std::string path = temp_path("order.pcapng");
  auto w = PcapWriter::open(path, {.interface_name = "loop0"});
  ASSERT_TRUE(w);
  LoopbackDevice loop(pool_, 64);
  CaptureDevice cap(loop, *w, clock_);

  auto tx = packets(0, 3);
  ASSERT_EQ(cap.tx_burst(0, tx), 3u);
  clock_.advance(250us);
  std::vector<Packet*> rx(8);
  ASSERT_EQ(cap.rx_burst(0, rx), 3u);
  free_all(std::span(rx).first(3));
  clock_.advance(1s);
  auto tx2 = packets(3, 1);
  ASSERT_EQ(cap.tx_burst(0, tx2), 1u);
  clock_.advance(1ns);
  ASSERT_EQ(cap.rx_burst(0, rx), 1u);
  free_all(std::span(rx).first(1));
  EXPECT_EQ(cap.rx_burst(0, rx), 0u);  // an empty burst records nothing

  CaptureFile f = read_back(*w, path);
  EXPECT_EQ(f.if_name, "loop0");
  struct Want {
    int id;
    PacketDirection dir;
    coro::Duration at;
  };
  const auto out = PacketDirection::kOutbound, in = PacketDirection::kInbound;
  const Want want[] = {{0, out, 1000s},         {1, out, 1000s},
                       {2, out, 1000s},         {0, in, 1000s + 250us},
                       {1, in, 1000s + 250us},  {2, in, 1000s + 250us},
                       {3, out, 1001s + 250us}, {3, in, 1001s + 250us + 1ns}};
  ASSERT_EQ(f.frames.size(), std::size(want));
  for (std::size_t i = 0; i < std::size(want); ++i) {
    SCOPED_TRACE("record " + std::to_string(i));
    EXPECT_EQ(f.frames[i].data, frame(want[i].id));
    EXPECT_EQ(f.frames[i].dir, want[i].dir);
    EXPECT_EQ(f.frames[i].ts_ns, static_cast<std::uint64_t>(want[i].at.count()));
  }
  EXPECT_EQ(cap.capture_stats().tx_captured, 4u);
  EXPECT_EQ(cap.capture_stats().rx_captured, 4u);
  EXPECT_EQ(cap.capture_stats().not_captured, 0u);
}

TEST_F(CaptureDeviceTest, TxRecordsOnlyThePacketsTheInnerDeviceTook) {
  const std::string path = temp_path("partial.pcapng");
  auto w = PcapWriter::open(path);
  ASSERT_TRUE(w);
  LoopbackDevice loop(pool_, 2);
  CaptureDevice cap(loop, *w, clock_);

  auto tx = packets(0, 5);
  ASSERT_EQ(cap.tx_burst(0, tx), 2u);
  free_all(std::span(tx).subspan(2));                     // still ours: refused
  EXPECT_EQ(loop.tx_calls, std::vector<std::size_t>{5});  // one call, as the caller made it

  CaptureFile f = read_back(*w, path);
  ASSERT_EQ(f.frames.size(), 2u);
  EXPECT_EQ(f.frames[0].data, frame(0));
  EXPECT_EQ(f.frames[1].data, frame(1));
  EXPECT_EQ(w->stats().frames, 2u);  // the rolled-back records are not counted either
  EXPECT_EQ(cap.capture_stats().tx_captured, 2u);
}

TEST_F(CaptureDeviceTest, BurstsLongerThanASliceAreRecordedOnceEachInOrder) {
  const std::string path = temp_path("sliced.pcapng");
  auto w = PcapWriter::open(path);
  ASSERT_TRUE(w);
  LoopbackDevice loop(pool_, 100);
  CaptureDevice cap(loop, *w, clock_);

  auto tx = packets(0, 150);
  ASSERT_EQ(cap.tx_burst(0, tx), 100u);
  free_all(std::span(tx).subspan(100));
  // 64 taken, then 36 of the next 64: the device is full, the rest goes back to the caller.
  EXPECT_EQ(loop.tx_calls, (std::vector<std::size_t>{64, 64}));

  CaptureFile f = read_back(*w, path);
  ASSERT_EQ(f.frames.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(f.frames[i].data, frame(i)) << "record " << i;
}

TEST_F(CaptureDeviceTest, SlicesAlsoFitTheWriterBufferSoRollbackIsAlwaysPossible) {
  const std::string path = temp_path("tiny-buffer.pcapng");
  // snaplen 2000, buffer raised to one maximal record: one 1514-byte record per slice.
  auto w = PcapWriter::open(path, {.snaplen = 2000, .buffer_size = 1});
  ASSERT_TRUE(w);
  LoopbackDevice loop(pool_, 3);
  CaptureDevice cap(loop, *w, clock_);

  std::vector<Packet*> tx;
  for (int i = 0; i < 5; ++i) tx.push_back(make_chain(pool_, pattern_frame(1514, i), 2048));
  ASSERT_EQ(cap.tx_burst(0, tx), 3u);
  free_all(std::span(tx).subspan(3));
  EXPECT_EQ(loop.tx_calls, (std::vector<std::size_t>{1, 1, 1, 1}));

  CaptureFile f = read_back(*w, path);
  ASSERT_EQ(f.frames.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.frames[i].data, pattern_frame(1514, i));
}

TEST_F(CaptureDeviceTest, FilterRxOnlyLeavesTxUnrecorded) {
  const std::string path = temp_path("rx-only.pcapng");
  auto w = PcapWriter::open(path);
  ASSERT_TRUE(w);
  LoopbackDevice loop(pool_, 8);
  CaptureDevice cap(loop, *w, clock_, {.filter = CaptureFilter::kRx});
  auto tx = packets(0, 2);
  ASSERT_EQ(cap.tx_burst(0, tx), 2u);
  std::vector<Packet*> rx(4);
  ASSERT_EQ(cap.rx_burst(0, rx), 2u);
  free_all(std::span(rx).first(2));
  CaptureFile f = read_back(*w, path);
  ASSERT_EQ(f.frames.size(), 2u);
  for (const auto& fr : f.frames) EXPECT_EQ(fr.dir, PacketDirection::kInbound);
}

TEST_F(CaptureDeviceTest, FilterTxOnlyLeavesRxUnrecorded) {
  const std::string path = temp_path("tx-only.pcapng");
  auto w = PcapWriter::open(path);
  ASSERT_TRUE(w);
  LoopbackDevice loop(pool_, 8);
  CaptureDevice cap(loop, *w, clock_, {.filter = CaptureFilter::kTx});
  auto tx = packets(0, 2);
  ASSERT_EQ(cap.tx_burst(0, tx), 2u);
  std::vector<Packet*> rx(4);
  ASSERT_EQ(cap.rx_burst(0, rx), 2u);
  free_all(std::span(rx).first(2));
  CaptureFile f = read_back(*w, path);
  ASSERT_EQ(f.frames.size(), 2u);
  for (const auto& fr : f.frames) EXPECT_EQ(fr.dir, PacketDirection::kOutbound);
  EXPECT_EQ(cap.capture_stats().rx_captured, 0u);
}

TEST_F(CaptureDeviceTest, FailedWriterNeverStopsTraffic) {
  auto w = PcapWriter::open("/dev/full", {.snaplen = 2000, .buffer_size = 1});
  ASSERT_TRUE(w);
  LoopbackDevice loop(pool_, 1000);
  CaptureDevice cap(loop, *w, clock_);
  std::size_t sent = 0;
  for (int round = 0; round < 10; ++round) {
    auto tx = packets(round * 8, 8);
    sent += cap.tx_burst(0, tx);
  }
  EXPECT_EQ(sent, 80u);
  EXPECT_FALSE(w->ok());
  std::vector<Packet*> rx(100);
  EXPECT_EQ(cap.rx_burst(0, rx), 80u);
  free_all(std::span(rx).first(80));
  const CaptureStats& s = cap.capture_stats();
  EXPECT_EQ(s.tx_captured + s.rx_captured + s.not_captured, 160u);
  EXPECT_EQ(s.rx_captured, 0u);
  EXPECT_LE(s.tx_captured, 8u);      // at most what fit before the first flush failed
  EXPECT_EQ(w->stats().errors, 1u);  // one failed write(2), then no more attempts
}

TEST_F(CaptureDeviceTest, ForwardsEverythingThatIsNotCapture) {
  auto w = PcapWriter::open(temp_path("fwd.pcapng"));
  ASSERT_TRUE(w);
  LoopbackDevice loop(pool_, 1);
  CaptureDevice cap(loop, *w, clock_);
  EXPECT_EQ(cap.info().name, "loop0");
  EXPECT_EQ(cap.info().mtu, 9000);
  EXPECT_EQ(cap.link(), LinkState::kUp);
  EXPECT_EQ(&cap.pool(0), &pool_);
  EXPECT_EQ(cap.next_rx_time(0), coro::TimePoint(42s));
  EXPECT_EQ(cap.rx_fd(0), 7);
  EXPECT_EQ(&cap.inner(), &loop);
  auto tx = packets(0, 2);
  EXPECT_EQ(cap.tx_burst(0, tx), 1u);
  PacketPool::free(tx[1]);
  EXPECT_EQ(cap.tx_stats(0).packets, 1u);
  EXPECT_EQ(cap.tx_stats(0).drops, 1u);
  std::vector<Packet*> rx(2);
  EXPECT_EQ(cap.rx_burst(0, rx), 1u);
  PacketPool::free(rx[0]);
  EXPECT_EQ(cap.rx_stats(0).packets, 1u);
}

}  // namespace
}  // namespace coronet::nic
