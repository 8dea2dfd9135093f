// Shared pieces of the benchmark drivers (kernel_short_conn, kernel_bulk, coronet_bulk,
// uring_short_conn, idle_conns, httpd_wire_bench, shm_scale_bench): table-driven flag parsing
// with one usage/exit path, CPU pinning, a private network namespace with
// loopback up, a fixed-bucket latency histogram, and the one-line JSON records that
// benchmarks/run collects (one object per measured point on stdout; human text goes to stderr).
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coronet::bench {

// ---- Flags ----
//
// Each driver states its flags as a table; parse_flags() does the rest (unknown arguments,
// invalid values, the usage line and exit code 2), the same way in every driver:
//
//   Params p;  // derives from RunParams: --seconds, --warmup, --cpus, --json
//   parse_flags(argc, argv, run_flags(p, {{"--chunk=", positive(p.chunk, 16 << 20)}}),
//               "coronet_bulk [--seconds=S] [--warmup=S] [--chunk=BYTES] ...");

// Applies a flag's value (the text after "--name="; "" for a switch); false when it is invalid.
using FlagSetter = std::function<bool(const std::string& value)>;

// One entry of a driver's flag table: a name ending in '=' takes a value ("--chunk=BYTES"); any
// other name is a switch and must match the argument exactly ("--json").
struct Flag {
  std::string_view name;
  FlagSetter set;
};

// Parses a positive decimal integer / number; false on anything else.
bool parse_positive(const std::string& s, long& out);
bool parse_positive(const std::string& s, double& out);
// Parses "A,B,..." (CPU numbers) into `out`; false on anything else or an empty list.
bool parse_cpus(const std::string& s, std::vector<int>& out);
// "0,1" for {0, 1}; "" for none.
std::string cpus_string(const std::vector<int>& cpus);

// Setter: a positive integer, at most `max` (and at most what Int holds).
template <std::integral Int>
FlagSetter positive(Int& out, long max = std::numeric_limits<long>::max()) {
  return [&out, max](const std::string& v) {
    long n = 0;
    if (!parse_positive(v, n) || n > max || std::cmp_greater(n, std::numeric_limits<Int>::max())) {
      return false;
    }
    out = static_cast<Int>(n);
    return true;
  };
}
// Setter: "0", or a positive integer as positive() takes it.
template <std::integral Int>
FlagSetter zero_or_positive(Int& out, long max = std::numeric_limits<long>::max()) {
  FlagSetter pos = positive(out, max);
  return [&out, pos](const std::string& v) {
    if (v != "0") return pos(v);
    out = 0;
    return true;
  };
}
// Setter: a positive finite number.
FlagSetter positive(double& out);
// Setter: a list of CPU numbers "A,B,..." (see parse_cpus).
FlagSetter cpu_list(std::vector<int>& out);
// Setter for a switch: sets `out` to true.
FlagSetter set_true(bool& out);
// Setter for a switch that is accepted and changes nothing (--json where JSON is always printed).
FlagSetter accepted();

// What every timed driver takes, with the same defaults everywhere: --seconds=S (the measured
// window) and --warmup=S before it (positive numbers), --cpus=A,B,... (threads pinned to them in
// the driver's order), --json (accepted for symmetry: the record is always printed on stdout).
// A driver's Params derive from it.
struct RunParams {
  double seconds = 3;
  double warmup = 1;
  std::vector<int> cpus;
};
// The flag table of those four, writing into `p`, followed by the driver's own `more`.
std::vector<Flag> run_flags(RunParams& p, std::initializer_list<Flag> more = {});

// Parses argv[1..] against `flags`. An argument that no entry names ("unknown argument '...'")
// or a value its setter refuses ("invalid value in '...'") ends the program via usage_exit(usage).
void parse_flags(int argc, char** argv, const std::vector<Flag>& flags, std::string_view usage);
// Prints "usage: <usage>" on stderr and exits with 2, the drivers' code for a bad command line.
[[noreturn]] void usage_exit(std::string_view usage);
// Prints the printf-style message and a newline on stderr and exits with `code` (std::exit: call
// it only while no other thread runs).
[[noreturn]] void fail(int code, const char* format, ...) __attribute__((format(printf, 2, 3)));

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

// ---- Run schedule ----

// When the measured window of a timed run opens and closes, in ns on now_ns()'s clock.
struct Schedule {
  std::uint64_t warm_end = 0;
  std::uint64_t end = 0;

  // From now: p.warmup seconds of warm-up, then the p.seconds window.
  static Schedule starting_now(const RunParams& p);
  // Whether `t` lies inside the window [warm_end, end).
  bool in_window(std::uint64_t t) const { return t >= warm_end && t < end; }
};

// Waits (5 ms naps) until `done()` holds. When the clock passes `deadline_ns` first, prints
// "FAILED: " and the printf-style message on stderr and leaves at once with exit code 1
// (std::_Exit: a thread that never finishes cannot be joined).
void watchdog(const std::function<bool()>& done, std::uint64_t deadline_ns, const char* format, ...)
    __attribute__((format(printf, 3, 4)));

// ---- Bulk transfers (kernel_bulk, coronet_bulk) ----

// One flow: the sender writes --chunk bytes at a time, the receiver reads as much at a time.
struct BulkParams : RunParams {
  long chunk = 64 * 1024;
};
// run_flags() and --chunk=BYTES (at most 16 MiB).
std::vector<Flag> bulk_flags(BulkParams& p);

// The receiving end of a bulk transfer of make_pattern() bytes. Checks every byte read against
// the pattern and measures a window (bytes, wall time, the receiving thread's CPU time) from the
// first read at or after the schedule's warm_end to the first read at or after its end, or to the
// last read when the stream ends first (the sender's last write straddled the end). `pattern` and
// `at` must outlive it; `at` may be filled in after construction, before the first read.
class BulkReceiver {
 public:
  BulkReceiver(const std::vector<std::byte>& pattern, const Schedule& at)
      : pattern_(pattern), at_(at) {}
  // Checks and counts `data`, just read, on the receiving thread; false (error() says where) when
  // it differs from the pattern at this offset of the stream.
  bool add(std::span<const std::byte> data);
  // At EOF: closes the window if it is still open; an error when it never opened.
  void finish();
  // Notes a connection or socket error (the first one is kept).
  void set_error(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }

  std::uint64_t received() const { return received_; }
  double window_s() const { return window_s_; }
  const std::string& error() const { return error_; }
  // 10^6 bytes per second over the window (0 without a window).
  double mb_per_s() const;
  // The receiving thread's CPU microseconds per MB over the window (0 without a window).
  double cpu_us_per_mb() const;
  // "" when the transfer is whole (no error on either side, all `sent` bytes received), else
  // why not: the text of the driver's FAILED line.
  std::string failure(std::uint64_t sent, const std::string& sender_error) const;
  // Adds "mb_per_s", "gbit_per_s", "receiver_us_per_mb" and "bytes" (= `sent`) to a record.
  void add_figures(Json& record, std::uint64_t sent) const;
  // "N MB/s (G Gbit/s) over S s, receiver C us CPU per MB; B bytes sent, R received and checked"
  // for stderr.
  std::string summary(std::uint64_t sent) const;

 private:
  // Closes the window at time `t`.
  void close_window(std::uint64_t t);

  const std::vector<std::byte>& pattern_;
  const Schedule& at_;
  std::uint64_t received_ = 0;
  std::string error_;
  bool open_ = false, closed_ = false;
  std::uint64_t t_open_ = 0, bytes_open_ = 0, t_last_ = 0;
  double cpu_open_ = 0;
  std::uint64_t window_bytes_ = 0;
  double window_s_ = 0;
  double cpu_window_s_ = 0;
};

// The head of a bulk run's record: bench, stack, link, seconds, warmup_s, chunk, cpus.
Json bulk_record(std::string_view bench, std::string_view stack, std::string_view link,
                 const BulkParams& p);

// ---- Short connections (kernel_short_conn, uring_short_conn) ----

// Connect, write --bytes, read them echoed, close; --concurrency connections in flight.
struct ShortConnParams : RunParams {
  long concurrency = 64;
  long bytes = 64;
};
// run_flags() and --concurrency=N (at most 60000), --bytes=N (at most 4096), then `more`.
std::vector<Flag> short_conn_flags(ShortConnParams& p, std::initializer_list<Flag> more = {});

// Byte k of the request of connection `seq`: differs per connection, so a reply from another
// connection is caught.
inline unsigned char request_byte(std::uint64_t seq, std::size_t k) {
  return static_cast<unsigned char>((seq * 131 + k * 7 + (seq >> 8)) & 0xff);
}

// What a short-connection run measured over its window.
struct ShortConnFigures {
  std::uint64_t conns = 0;  // completed inside the window
  double conns_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  double server_us_per_conn = 0;  // CPU of the server thread
  double client_us_per_conn = 0;  // CPU of the client thread

  // From the connections completed in the window, their latency, and each thread's CPU seconds
  // over the window.
  ShortConnFigures(const RunParams& p, std::uint64_t in_window, const LatencyHistogram& latency,
                   double server_cpu_s, double client_cpu_s);
  // "N conns/s, p50 .. us, p99 .. us, server .. us/conn, client .. us/conn CPU" for stderr.
  std::string summary() const;
};

// The record of a short-connection run up to "client_us_per_conn"; the driver adds its own
// counters and "failed", then prints it.
Json short_conn_record(std::string_view bench, std::string_view api, const ShortConnParams& p,
                       const NetnsInfo& ns, std::string_view client_close,
                       const ShortConnFigures& f);

}  // namespace coronet::bench
