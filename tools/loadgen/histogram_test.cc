#include "tools/loadgen/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace coronet::loadgen {
namespace {

// Reported values are bucket midpoints: within half a bucket (<= 1/256) of the true value.
constexpr double kPrecision = 1.0 / 256;

// The exact percentile of `sorted` by the same rule as the histogram (ceil of the rank).
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// Checks p50/p90/p99/p99.9 of `samples` against their exact values.
void expect_percentiles_close(std::vector<std::uint64_t> samples) {
  LatencyHistogram h;
  for (std::uint64_t v : samples) h.record(v);
  std::sort(samples.begin(), samples.end());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9}) {
    const auto want = static_cast<double>(exact_percentile(samples, p));
    const auto got = static_cast<double>(h.percentile(p));
    EXPECT_NEAR(got, want, want * kPrecision + 0.5) << "p" << p;
  }
  EXPECT_EQ(h.percentile(100), samples.back());
  EXPECT_EQ(h.max(), samples.back());
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.count(), samples.size());
}

TEST(LatencyHistogram, EmptyReportsZeroEverywhere) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.percentile(100), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(LatencyHistogram, BucketsTileTheRangeWithoutGapsAndWithinPrecision) {
  EXPECT_EQ(LatencyHistogram::bucket_low(0), 0u);
  for (std::size_t i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
    ASSERT_EQ(LatencyHistogram::bucket_high(i) + 1, LatencyHistogram::bucket_low(i + 1)) << i;
    const std::uint64_t lo = LatencyHistogram::bucket_low(i);
    const std::uint64_t width = LatencyHistogram::bucket_high(i) - lo + 1;
    if (lo >= LatencyHistogram::kLinearLimit) {
      ASSERT_LE(width * LatencyHistogram::kSubBuckets, lo) << i;  // width <= 1/128 of the value
    } else {
      ASSERT_EQ(width, 1u) << i;
    }
    ASSERT_EQ(LatencyHistogram::bucket_of(lo), i);
    ASSERT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_high(i)), i);
  }
  EXPECT_EQ(LatencyHistogram::bucket_high(LatencyHistogram::kBuckets - 1),
            LatencyHistogram::kMaxTrackable);
  // The range covers 1 µs .. 100 s and more.
  EXPECT_GT(LatencyHistogram::kMaxTrackable, 100'000'000'000ull);
}

TEST(LatencyHistogram, ASingleValueIsReportedExactly) {
  LatencyHistogram h;
  h.record(123'456'789);
  for (double p : {0.0, 50.0, 99.9, 100.0}) EXPECT_EQ(h.percentile(p), 123'456'789u) << p;
  EXPECT_EQ(h.mean(), 123'456'789.0);
}

TEST(LatencyHistogram, UniformMicrosecondsToMilliseconds) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> d(1'000, 10'000'000);
  std::vector<std::uint64_t> v(200'000);
  for (auto& x : v) x = d(rng);
  expect_percentiles_close(v);
}

TEST(LatencyHistogram, LogNormalLatenciesWithALongTail) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> d(std::log(50'000.0), 1.5);  // median 50 µs
  std::vector<std::uint64_t> v(200'000);
  for (auto& x : v) x = static_cast<std::uint64_t>(d(rng)) + 1;
  expect_percentiles_close(v);
}

TEST(LatencyHistogram, KnownStepDistribution) {
  // 90% at 100 µs, 9% at 1 ms, 1% at 1 s: p50 = 100 µs, p90 = 100 µs, p99 = 1 ms, p99.9 = 1 s.
  LatencyHistogram h;
  for (int i = 0; i < 9000; ++i) h.record(100'000);
  for (int i = 0; i < 900; ++i) h.record(1'000'000);
  for (int i = 0; i < 100; ++i) h.record(1'000'000'000);
  auto near = [](std::uint64_t got, double want) {
    return std::abs(static_cast<double>(got) - want) <= want * kPrecision;
  };
  EXPECT_TRUE(near(h.percentile(50), 100'000)) << h.percentile(50);
  EXPECT_TRUE(near(h.percentile(90), 100'000)) << h.percentile(90);
  EXPECT_TRUE(near(h.percentile(99), 1'000'000)) << h.percentile(99);
  EXPECT_TRUE(near(h.percentile(99.9), 1'000'000'000)) << h.percentile(99.9);
  EXPECT_EQ(h.max(), 1'000'000'000u);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 0; v < 200; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 99u);  // rank 100 of 200
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 199u);
}

TEST(LatencyHistogram, ExtremesClampToTheTopBucketButKeepTheExactMax) {
  LatencyHistogram h;
  h.record(1);
  h.record(~std::uint64_t{0});  // far beyond 137 s
  EXPECT_EQ(h.max(), ~std::uint64_t{0});
  EXPECT_EQ(h.percentile(100), ~std::uint64_t{0});
  EXPECT_EQ(h.percentile(1), 1u);
  // The top bucket's midpoint, within [min, max].
  EXPECT_GE(h.percentile(99), LatencyHistogram::bucket_low(LatencyHistogram::kBuckets - 1));
  EXPECT_EQ(LatencyHistogram::bucket_of(~std::uint64_t{0}), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  std::exponential_distribution<double> d(1.0 / 200'000);
  LatencyHistogram a, b, all;
  for (int i = 0; i < 50'000; ++i) {
    const auto v = static_cast<std::uint64_t>(d(rng));
    (i % 3 == 0 ? a : b).record(v);
    all.record(v);
  }
  LatencyHistogram merged;
  merged.merge(a);
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(merged.percentile(p), all.percentile(p));
}

TEST(LatencyHistogram, MergingAnEmptyHistogramChangesNothing) {
  LatencyHistogram a, empty;
  a.record(5'000);
  a.record(7'000);
  a.merge(empty);
  EXPECT_EQ(a.count(), 2u);
  EXPECT_EQ(a.min(), 5'000u);
  EXPECT_EQ(a.max(), 7'000u);
  empty.merge(a);
  EXPECT_EQ(empty.percentile(50), a.percentile(50));
  a.clear();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.percentile(50), 0u);
}

}  // namespace
}  // namespace coronet::loadgen
