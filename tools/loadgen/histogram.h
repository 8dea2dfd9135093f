// LatencyHistogram: an HDR-style log-linear histogram of durations in nanoseconds, fixed memory,
// no allocation per sample. Values below 256 ns get a bucket each; above, every power-of-two range
// [2^k, 2^(k+1)) is split into 128 equal buckets, so a bucket is never wider than 1/128 of its
// lower bound and a reported percentile (the bucket's midpoint, kept within [min, max]) is within
// 0.4% of a recorded value. The range ends at kMaxTrackable (2^37 ns, about 137 s); larger values
// land in the top bucket (max() stays exact). Histograms merge by adding buckets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace coronet::loadgen {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBucketBits = 7;                       // 128 buckets per octave
  static constexpr std::uint64_t kSubBuckets = 1u << kSubBucketBits;  // 128
  static constexpr std::uint64_t kLinearLimit = 2 * kSubBuckets;      // exact below 256 ns
  static constexpr unsigned kTopBit = 36;  // highest octave: [2^36, 2^37)
  static constexpr std::uint64_t kMaxTrackable = (std::uint64_t{1} << (kTopBit + 1)) - 1;
  static constexpr std::size_t kBuckets =
      kLinearLimit + (kTopBit - kSubBucketBits) * kSubBuckets;  // 3968

  // Adds one sample (nanoseconds).
  void record(std::uint64_t ns);
  // Adds every sample of `other` (bucket by bucket).
  void merge(const LatencyHistogram& other);
  // Forgets every sample.
  void clear();

  // Samples recorded (and merged in).
  std::uint64_t count() const { return count_; }
  // Exact smallest / largest sample; 0 when empty.
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  // Exact mean of the samples (from their exact sum); 0 when empty.
  double mean() const;
  // The value at percentile `p` (0-100]: the smallest bucket holding at least p% of the samples,
  // reported as its midpoint clamped to [min, max]. p >= 100 gives max(); empty gives 0.
  std::uint64_t percentile(double p) const;

  // Bucket arithmetic, public for tests: the bucket of a value, and the values a bucket holds.
  static std::size_t bucket_of(std::uint64_t ns);
  static std::uint64_t bucket_low(std::size_t index);
  static std::uint64_t bucket_high(std::size_t index);  // inclusive

 private:
  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;  // ns; wraps only after 584 years of summed latency
};

}  // namespace coronet::loadgen
