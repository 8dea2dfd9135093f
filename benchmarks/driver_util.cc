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

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace coronet::bench {

bool flag(std::string_view arg, std::string_view name, std::string& value) {
  if (arg.substr(0, name.size()) != name) return false;
  value = std::string(arg.substr(name.size()));
  return true;
}

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

bool invalid_value(std::string_view arg) {
  std::fprintf(stderr, "invalid value in '%.*s'\n", static_cast<int>(arg.size()), arg.data());
  return false;
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

}  // namespace coronet::bench
