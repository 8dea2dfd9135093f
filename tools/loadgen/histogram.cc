#include "tools/loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace coronet::loadgen {

// Linear below kLinearLimit; above, octave (shift) and the top kSubBucketBits+1 bits of the value.
std::size_t LatencyHistogram::bucket_of(std::uint64_t ns) {
  ns = std::min(ns, kMaxTrackable);
  if (ns < kLinearLimit) return static_cast<std::size_t>(ns);
  const unsigned msb = 63 - static_cast<unsigned>(std::countl_zero(ns));  // >= 8
  const unsigned shift = msb - kSubBucketBits;                            // >= 1
  const std::uint64_t sub = ns >> shift;                                  // [128, 256)
  return static_cast<std::size_t>(kLinearLimit + (shift - 1) * kSubBuckets + (sub - kSubBuckets));
}

// Inverse of bucket_of: the smallest value of bucket `index`.
std::uint64_t LatencyHistogram::bucket_low(std::size_t index) {
  if (index < kLinearLimit) return index;
  const std::size_t rel = index - kLinearLimit;
  const unsigned shift = static_cast<unsigned>(rel / kSubBuckets) + 1;
  const std::uint64_t sub = kSubBuckets + rel % kSubBuckets;
  return sub << shift;
}

// The largest value of bucket `index`: one below the next bucket's smallest.
std::uint64_t LatencyHistogram::bucket_high(std::size_t index) {
  if (index + 1 >= kBuckets) return kMaxTrackable;
  return bucket_low(index + 1) - 1;
}

// One increment in the sample's bucket plus the exact min/max/sum.
void LatencyHistogram::record(std::uint64_t ns) {
  ++buckets_[bucket_of(ns)];
  ++count_;
  min_ = std::min(min_, ns);
  max_ = std::max(max_, ns);
  sum_ += ns;
}

// Adds buckets and counters; the result is what recording both sample sets into one would give.
void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

// Back to the empty state.
void LatencyHistogram::clear() { *this = LatencyHistogram(); }

// Sum over count, exact but for the final division.
double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
}

// Walks the buckets until the cumulative count reaches ceil(p% of count).
std::uint64_t LatencyHistogram::percentile(double p) const {
  if (count_ == 0) return 0;
  if (p >= 100.0) return max_;
  if (p <= 0.0) return min_;
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const std::uint64_t mid = bucket_low(i) + (bucket_high(i) - bucket_low(i)) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace coronet::loadgen
