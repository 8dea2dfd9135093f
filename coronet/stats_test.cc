// StatsBoard: per-core snapshots published by their core and read from any thread.
#include "coronet/stats.h"

#include <gtest/gtest.h>

#include <atomic>
#include <array>
#include <bit>
#include <thread>

namespace coronet {
namespace {

// A snapshot whose every field is `v` (so a torn read shows as unequal fields).
CoreStats uniform(std::uint64_t v) {
  std::array<std::uint64_t, CoreStats::kFields> raw;
  raw.fill(v);
  return std::bit_cast<CoreStats>(raw);
}

TEST(StatsBoard, ReadsWhatEachCorePublishedAndSumsThem) {
  StatsBoard b(3);
  EXPECT_EQ(b.read(0), CoreStats{});
  CoreStats a;
  a.connections_opened = 5;
  a.tx_retransmits = 2;
  CoreStats c;
  c.connections_opened = 7;
  c.pool_in_use = 40;
  b.publish(0, a);
  b.publish(2, c);
  EXPECT_EQ(b.read(0), a);
  EXPECT_EQ(b.read(1), CoreStats{});
  EXPECT_EQ(b.read(2), c);
  const CoreStats t = b.total();
  EXPECT_EQ(t.connections_opened, 12u);
  EXPECT_EQ(t.tx_retransmits, 2u);
  EXPECT_EQ(t.pool_in_use, 40u);
  b.publish(0, c);  // a newer snapshot replaces the old one
  EXPECT_EQ(b.total().connections_opened, 14u);
  EXPECT_EQ(b.read(7), CoreStats{});  // no such core
}

TEST(StatsBoard, PrometheusTextHasOneSamplePerCoreAndAType) {
  StatsBoard b(2);
  CoreStats s;
  s.connections_opened = 3;
  b.publish(1, s);
  const std::string text = b.prometheus("cn");
  EXPECT_NE(text.find("# TYPE cn_tcp_connections_opened_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("cn_tcp_connections_opened_total{core=\"0\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("cn_tcp_connections_opened_total{core=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE cn_pool_in_use gauge\n"), std::string::npos);
}

// A core publishing as fast as it can while another thread reads: every snapshot read is one
// that was published whole (all fields equal), and values never go backwards.
TEST(StatsBoard, ConcurrentReadersNeverSeeATornSnapshot) {
  StatsBoard b(2);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> published{0};
  std::thread writer([&] {
    std::uint64_t v = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      b.publish(1, uniform(++v));
      published.store(v, std::memory_order_relaxed);
    }
  });
  std::uint64_t last = 0;
  std::uint64_t changes = 0;
  // Reads while the writer publishes, until 100,000 reads saw at least 1,000 distinct snapshots.
  for (int i = 0; i < 100000 || changes < 1000; ++i) {
    const CoreStats s = b.read(1);
    const auto raw = std::bit_cast<std::array<std::uint64_t, CoreStats::kFields>>(s);
    for (std::size_t f = 1; f < CoreStats::kFields; ++f) {
      ASSERT_EQ(raw[f], raw[0]) << "field " << f << " of a snapshot read at step " << i;
    }
    ASSERT_GE(raw[0], last);
    if (raw[0] != last) ++changes;
    last = raw[0];
  }
  stop.store(true);
  writer.join();
  EXPECT_EQ(b.read(1), uniform(published.load()));
}

}  // namespace
}  // namespace coronet
