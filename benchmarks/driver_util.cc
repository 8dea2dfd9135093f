#include "benchmarks/driver_util.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace coronet::bench {

namespace {

// If `arg` is "<name><value>" (name includes the '='), stores the value and returns true.
bool flag(std::string_view arg, std::string_view name, std::string& value) {
  if (arg.substr(0, name.size()) != name) return false;
  value = std::string(arg.substr(name.size()));
  return true;
}

// Prints "invalid value in '<arg>'" on stderr.
void invalid_value(std::string_view arg) {
  std::fprintf(stderr, "invalid value in '%.*s'\n", static_cast<int>(arg.size()), arg.data());
}

}  // namespace

bool parse_positive(const std::string& s, long& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v <= 0) return false;
  out = v;
  return true;
}

bool parse_positive(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (*end != '\0' || !(v > 0) || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool parse_cpus(const std::string& s, std::vector<int>& out) {
  out.clear();
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    const std::string item = s.substr(pos, end - pos);
    char* stop = nullptr;
    const long v = std::strtol(item.c_str(), &stop, 10);
    if (item.empty() || *stop != '\0' || v < 0 || v >= CPU_SETSIZE) return false;
    out.push_back(static_cast<int>(v));
    pos = end + 1;
  }
  return !out.empty();
}

FlagSetter positive(double& out) {
  return [&out](const std::string& v) { return parse_positive(v, out); };
}

FlagSetter cpu_list(std::vector<int>& out) {
  return [&out](const std::string& v) { return parse_cpus(v, out); };
}

FlagSetter set_true(bool& out) {
  return [&out](const std::string&) {
    out = true;
    return true;
  };
}

FlagSetter accepted() {
  return [](const std::string&) { return true; };
}

std::vector<Flag> run_flags(RunParams& p, std::initializer_list<Flag> more) {
  std::vector<Flag> flags = {
      {"--seconds=", positive(p.seconds)},
      {"--warmup=", positive(p.warmup)},
      {"--cpus=", cpu_list(p.cpus)},
      {"--json", accepted()},
  };
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

void parse_flags(int argc, char** argv, const std::vector<Flag>& flags, std::string_view usage) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const Flag* match = nullptr;
    std::string value;
    for (const Flag& f : flags) {
      const bool takes_value = !f.name.empty() && f.name.back() == '=';
      if (takes_value ? flag(a, f.name, value) : a == f.name) {
        match = &f;
        break;
      }
    }
    if (match == nullptr) {
      std::fprintf(stderr, "unknown argument '%s'\n", argv[i]);
      usage_exit(usage);
    }
    if (!match->set(value)) {
      invalid_value(a);
      usage_exit(usage);
    }
  }
}

void usage_exit(std::string_view usage) {
  std::fprintf(stderr, "usage: %.*s\n", static_cast<int>(usage.size()), usage.data());
  std::exit(2);
}

void fail(int code, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::exit(code);
}

std::string cpus_string(const std::vector<int>& cpus) {
  std::string s;
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    if (i != 0) s += ',';
    s += std::to_string(cpus[i]);
  }
  return s;
}

bool pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  if (err != 0) {
    std::fprintf(stderr, "cannot pin to CPU %d: %s\n", cpu, std::strerror(err));
    return false;
  }
  return true;
}

bool pin_slot(const std::vector<int>& cpus, std::size_t index) {
  if (cpus.empty()) return true;
  return pin_to_cpu(cpus[index % cpus.size()]);
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

namespace {

// Sets IFF_UP on `lo` in the current namespace; an error text or "".
std::string loopback_up() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  std::string error;
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    error = std::string("SIOCGIFFLAGS lo: ") + std::strerror(errno);
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) {
      error = std::string("SIOCSIFFLAGS lo: ") + std::strerror(errno);
    }
  }
  ::close(fd);
  return error;
}

// Writes `value` to /proc/sys/net/ipv4/<name> (the current namespace's copy); error text or "".
std::string write_sysctl(const std::string& name, const std::string& value) {
  const std::string path = "/proc/sys/net/ipv4/" + name;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return path + ": " + std::strerror(errno);
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) return path + ": " + std::strerror(err);
  return "";
}

}  // namespace

NetnsInfo private_netns(const std::vector<std::pair<std::string, std::string>>& sysctls) {
  NetnsInfo info;
  if (::unshare(CLONE_NEWNET) != 0) {
    info.note = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) +
                "; using the host's loopback, no sysctl changed";
    std::fprintf(stderr, "warning: %s\n", info.note.c_str());
    return info;
  }
  if (std::string e = loopback_up(); !e.empty()) {
    // A namespace without loopback is useless: say so and fail loudly.
    std::fprintf(stderr, "private netns: %s\n", e.c_str());
    std::exit(1);
  }
  info.isolated = true;
  for (const auto& [name, value] : sysctls) {
    if (std::string e = write_sysctl(name, value); !e.empty()) {
      std::fprintf(stderr, "warning: %s\n", e.c_str());
      info.note += (info.note.empty() ? "" : "; ") + e;
    } else {
      info.note += (info.note.empty() ? "" : " ") + name + "=" + value;
    }
  }
  return info;
}

void LatencyHistogram::merge(const LatencyHistogram& o) {
  for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
  total_ += o.total_;
}

double LatencyHistogram::quantile_ns(double q) const {
  if (total_ == 0) return 0;
  // The rank of the sample at quantile q (1-based, nearest rank).
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen < rank) continue;
    if (i < kSub) return i;
    const int octave = i / kSub - 1 + kSubBits;  // position of the leading one
    const int sub = i % kSub;
    const double lo = std::ldexp(1.0, octave) + sub * std::ldexp(1.0, octave - kSubBits);
    return lo + std::ldexp(1.0, octave - kSubBits) / 2;
  }
  return 0;
}

void Json::key(std::string_view k) {
  body_ += body_.empty() ? "\"" : ", \"";
  body_ += k;
  body_ += "\": ";
}

Json& Json::add(std::string_view k, std::string_view value) {
  key(k);
  body_ += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') {
      body_ += '\\';
      body_ += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\u%04x", static_cast<unsigned>(c));
      body_ += esc;
    } else {
      body_ += c;
    }
  }
  body_ += '"';
  return *this;
}

Json& Json::add(std::string_view k, double value) {
  key(k);
  if (!std::isfinite(value)) {
    body_ += "null";
    return *this;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", value);
  body_ += buf;
  return *this;
}

Json& Json::add(std::string_view k, std::uint64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

Json& Json::add(std::string_view k, std::int64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

Json& Json::add(std::string_view k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}

void Json::print(std::FILE* out) const {
  std::fprintf(out, "{%s}\n", body_.c_str());
  std::fflush(out);
}

std::vector<std::byte> make_pattern(std::size_t max_chunk) {
  std::vector<std::byte> p(kPatternPeriod + max_chunk);
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (std::size_t i = 0; i < kPatternPeriod; ++i) {
    // xorshift64: cheap, and no short cycles within the period.
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = static_cast<std::byte>(x >> 56);
  }
  for (std::size_t i = kPatternPeriod; i < p.size(); ++i) p[i] = p[i % kPatternPeriod];
  return p;
}

Schedule Schedule::starting_now(const RunParams& p) {
  Schedule s;
  s.warm_end = now_ns() + static_cast<std::uint64_t>(p.warmup * 1e9);
  s.end = s.warm_end + static_cast<std::uint64_t>(p.seconds * 1e9);
  return s;
}

void watchdog(const std::function<bool()>& done, std::uint64_t deadline_ns, const char* format,
              ...) {
  while (!done()) {
    if (now_ns() > deadline_ns) {
      std::fputs("FAILED: ", stderr);
      va_list args;
      va_start(args, format);
      std::vfprintf(stderr, format, args);
      va_end(args);
      std::fputc('\n', stderr);
      std::_Exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool BulkReceiver::add(std::span<const std::byte> data) {
  const std::size_t off = received_ % kPatternPeriod;
  if (std::memcmp(data.data(), pattern_.data() + off, data.size()) != 0) {
    set_error("data differs from what was sent near byte " + std::to_string(received_));
    return false;
  }
  received_ += data.size();
  const std::uint64_t t = now_ns();
  t_last_ = t;
  if (!open_ && t >= at_.warm_end) {
    open_ = true;
    t_open_ = t;
    bytes_open_ = received_;
    cpu_open_ = thread_cpu_seconds();
  } else if (open_ && !closed_ && t >= at_.end) {
    close_window(t);
  }
  return true;
}

void BulkReceiver::finish() {
  if (!open_) {
    set_error("the stream ended before the measurement window opened");
  } else if (!closed_) {
    close_window(t_last_);
  }
}

void BulkReceiver::close_window(std::uint64_t t) {
  closed_ = true;
  window_bytes_ = received_ - bytes_open_;
  window_s_ = static_cast<double>(t - t_open_) * 1e-9;
  cpu_window_s_ = thread_cpu_seconds() - cpu_open_;
}

double BulkReceiver::mb_per_s() const {
  return window_s_ > 0 ? static_cast<double>(window_bytes_) / window_s_ / 1e6 : 0;
}

double BulkReceiver::cpu_us_per_mb() const {
  const double window_mb = static_cast<double>(window_bytes_) / 1e6;
  return window_mb > 0 ? cpu_window_s_ / window_mb * 1e6 : 0;
}

std::string BulkReceiver::failure(std::uint64_t sent, const std::string& sender_error) const {
  if (sender_error.empty() && error_.empty() && received_ == sent) return "";
  return sender_error + error_ +
         (received_ != sent ? " (received total differs from sent total)" : "");
}

void BulkReceiver::add_figures(Json& record, std::uint64_t sent) const {
  record.add("mb_per_s", mb_per_s())
      .add("gbit_per_s", mb_per_s() * 8 / 1e3)
      .add("receiver_us_per_mb", cpu_us_per_mb())
      .add("bytes", sent);
}

std::string BulkReceiver::summary(std::uint64_t sent) const {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "%.0f MB/s (%.2f Gbit/s) over %.2f s, receiver %.0f us CPU per MB; %llu bytes "
                "sent, %llu received and checked",
                mb_per_s(), mb_per_s() * 8 / 1e3, window_s_, cpu_us_per_mb(),
                static_cast<unsigned long long>(sent), static_cast<unsigned long long>(received_));
  return buf;
}

std::vector<Flag> bulk_flags(BulkParams& p) {
  return run_flags(p, {{"--chunk=", positive(p.chunk, 16 << 20)}});
}

Json bulk_record(std::string_view bench, std::string_view stack, std::string_view link,
                 const BulkParams& p) {
  Json j;
  j.add("bench", bench)
      .add("stack", stack)
      .add("link", link)
      .add("seconds", p.seconds)
      .add("warmup_s", p.warmup)
      .add("chunk", static_cast<std::int64_t>(p.chunk))
      .add("cpus", cpus_string(p.cpus));
  return j;
}

std::vector<Flag> short_conn_flags(ShortConnParams& p, std::initializer_list<Flag> more) {
  std::vector<Flag> flags = run_flags(p, {{"--concurrency=", positive(p.concurrency, 60000)},
                                          {"--bytes=", positive(p.bytes, 4096)}});
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

ShortConnFigures::ShortConnFigures(const RunParams& p, std::uint64_t in_window,
                                   const LatencyHistogram& latency, double server_cpu_s,
                                   double client_cpu_s)
    : conns(in_window),
      conns_per_s(static_cast<double>(in_window) / p.seconds),
      p50_us(latency.quantile_ns(0.5) / 1e3),
      p99_us(latency.quantile_ns(0.99) / 1e3) {
  const double n = static_cast<double>(std::max<std::uint64_t>(in_window, 1));
  server_us_per_conn = server_cpu_s / n * 1e6;
  client_us_per_conn = client_cpu_s / n * 1e6;
}

std::string ShortConnFigures::summary() const {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "%.0f conns/s, p50 %.1f us, p99 %.1f us, server %.2f us/conn, client %.2f us/conn "
                "CPU",
                conns_per_s, p50_us, p99_us, server_us_per_conn, client_us_per_conn);
  return buf;
}

Json short_conn_record(std::string_view bench, std::string_view api, const ShortConnParams& p,
                       const NetnsInfo& ns, std::string_view client_close,
                       const ShortConnFigures& f) {
  Json j;
  j.add("bench", bench)
      .add("stack", "linux")
      .add("api", api)
      .add("seconds", p.seconds)
      .add("warmup_s", p.warmup)
      .add("concurrency", static_cast<std::int64_t>(p.concurrency))
      .add("bytes", static_cast<std::int64_t>(p.bytes))
      .add("cpus", cpus_string(p.cpus))
      .add("netns", ns.isolated)
      .add("sysctls", ns.note)
      .add("client_close", client_close)
      .add("conns", f.conns)
      .add("conns_per_s", f.conns_per_s)
      .add("p50_us", f.p50_us)
      .add("p99_us", f.p99_us)
      .add("server_us_per_conn", f.server_us_per_conn)
      .add("client_us_per_conn", f.client_us_per_conn);
  return j;
}

}  // namespace coronet::bench
