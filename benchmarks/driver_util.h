// Shared pieces of the benchmark drivers (kernel_short_conn, kernel_bulk, coronet_bulk,
// uring_short_conn, shm_scale_bench): flag parsing, CPU pinning, a private network namespace with
// loopback up, a fixed-bucket latency histogram, and the one-line JSON records that
// benchmarks/run collects (one object per measured point on stdout; human text goes to stderr).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace coronet::bench {

// ---- Flags ----

// If `arg` is "<name><value>" (name includes the '='), stores the value and returns true.
bool flag(std::string_view arg, std::string_view name, std::string& value);
// Parses a positive decimal integer / number; false on anything else.
bool parse_positive(const std::string& s, long& out);
bool parse_positive(const std::string& s, double& out);
// Parses "A,B,..." (CPU numbers) into `out`; false on anything else or an empty list.
bool parse_cpus(const std::string& s, std::vector<int>& out);
// Prints "invalid value in '<arg>'" on stderr; returns false (for parsers to return).
bool invalid_value(std::string_view arg);
// "0,1" for {0, 1}; "" for none.
std::string cpus_string(const std::vector<int>& cpus);

// ---- Threads ----

// Pins the calling thread to `cpu`; false (with errno text on stderr) when the kernel refuses.
bool pin_to_cpu(int cpu);
// Pins to cpus[index % size] when `cpus` is not empty; true when nothing was asked.
bool pin_slot(const std::vector<int>& cpus, std::size_t index);
// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), seconds.
double thread_cpu_seconds();

// ---- Network namespace ----

// What private_netns() did, for the JSON record.
struct NetnsInfo {
  bool isolated = false;  // in a namespace of our own
  std::string note;       // why not, or which sysctls were set
};
// Moves the calling process (call it before any thread starts: new threads inherit the
// namespace) into a fresh network namespace with `lo` up, so that the benchmark neither sees nor
// disturbs the host's network, then writes each "net/ipv4/NAME=VALUE" of `sysctls` inside it
// (per-namespace sysctls only; the host's are never touched). Without CAP_SYS_ADMIN it stays on
// the host's loopback, sets nothing and says so.
NetnsInfo private_netns(const std::vector<std::pair<std::string, std::string>>& sysctls);

// ---- Latency ----

// A log-linear histogram of nanosecond values: 16 buckets per power of two (each at most 1/16
// wide, so a percentile is within ~3% of the truth), values below 16 ns exact. Fixed size, no
// allocation per sample; histograms of several threads merge by adding counts.
class LatencyHistogram {
 public:
  static constexpr int kSubBits = 4;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  LatencyHistogram() : counts_(kBuckets, 0) {}
  // Records one value.
  void add(std::uint64_t ns) {
    ++counts_[index(ns)];
    ++total_;
  }
  // Adds every count of `o`.
  void merge(const LatencyHistogram& o);
  std::uint64_t count() const { return total_; }
  // The value at quantile q (0..1): the middle of the bucket holding it; 0 when empty.
  double quantile_ns(double q) const;

 private:
  // Bucket of `v`: exact below kSub, else (octave, top kSubBits bits after the leading one).
  static int index(std::uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    const int msb = 63 - __builtin_clzll(v);
    const int sub = static_cast<int>((v >> (msb - kSubBits)) & (kSub - 1));
    return (msb - kSubBits + 1) * kSub + sub;
  }
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
};

// Nanoseconds since an arbitrary epoch on the monotonic clock (vDSO, no system call).
inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// ---- Records ----

// One JSON object on one line, built field by field: Json().add("a", 1).add("b", "x").print().
class Json {
 public:
  Json& add(std::string_view key, std::string_view value);
  Json& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  Json& add(std::string_view key, double value);
  Json& add(std::string_view key, std::uint64_t value);
  Json& add(std::string_view key, std::int64_t value);
  Json& add(std::string_view key, int value) { return add(key, static_cast<std::int64_t>(value)); }
  Json& add(std::string_view key, unsigned value) {
    return add(key, static_cast<std::uint64_t>(value));
  }
  Json& add(std::string_view key, bool value);
  // Writes the object and a newline to `out` (stdout by default) and flushes.
  void print(std::FILE* out = stdout) const;

 private:
  void key(std::string_view k);
  std::string body_;
};

// A uniform pattern for bulk transfers: byte i of the stream is pattern()[i % kPatternPeriod].
// The period is prime, so it lines up with no chunk or segment size: data delivered at the wrong
// offset, twice, or not at all fails a memcmp against it (cheap enough to run on every byte).
constexpr std::size_t kPatternPeriod = 65521;
// kPatternPeriod + `max_chunk` bytes: any offset below the period starts `max_chunk` contiguous
// pattern bytes.
std::vector<std::byte> make_pattern(std::size_t max_chunk);

}  // namespace coronet::bench
