#include "tools/loadgen/results.h"

#include <chrono>
#include <cstdio>

namespace coronet::loadgen {
namespace {

constexpr std::array<const char*, kErrorKinds> kErrorNames = {
    "connect_refused", "connect_timeout", "reset",       "timeout",
    "short_read",      "mismatch",        "http_status", "other"};

// Seconds as a double.
double seconds(coro::Duration d) { return std::chrono::duration<double>(d).count(); }

// printf into a std::string (the report is built once, off the hot path).
template <typename... A>
std::string sprint(const char* f, A... a) {
  const int n = std::snprintf(nullptr, 0, f, a...);
  std::string s(static_cast<std::size_t>(n), '\0');
  std::snprintf(s.data(), s.size() + 1, f, a...);
  return s;
}

// A latency for people: ns below 1 µs, µs below 10 ms, ms below 10 s, else s.
std::string human(std::uint64_t ns) {
  const double v = static_cast<double>(ns);
  if (ns < 1000) return sprint("%.0f ns", v);
  if (ns < 10'000'000) return sprint("%.1f us", v / 1e3);
  if (ns < 10'000'000'000ull) return sprint("%.2f ms", v / 1e6);
  return sprint("%.2f s", v / 1e9);
}

// A JSON string literal (the error text may hold quotes or control characters).
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20 || ch >= 0x7f) {
      out += sprint("\\u%04x", ch);
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

// requests/s or connections/s over the measured window.
double per_second(std::uint64_t n, const Config& c) {
  return static_cast<double>(n) / seconds(c.duration);
}

}  // namespace

const char* error_kind_name(ErrorKind k) { return kErrorNames[static_cast<std::size_t>(k)]; }

ErrorKind classify(const Error& e, bool connecting) {
  switch (e.code()) {
    case Errc::kConnectionRefused:
      return ErrorKind::kConnectRefused;
    case Errc::kTimedOut:
      return connecting ? ErrorKind::kConnectTimeout : ErrorKind::kTimeout;
    case Errc::kConnectionReset:
    case Errc::kBrokenPipe:
      return connecting ? ErrorKind::kOther : ErrorKind::kReset;
    case Errc::kNotConnected:  // read_exactly: the peer closed first
      return connecting ? ErrorKind::kOther : ErrorKind::kShortRead;
    default:
      return ErrorKind::kOther;
  }
}

std::uint64_t CoreResult::error_total() const {
  std::uint64_t n = 0;
  for (std::uint64_t e : errors) n += e;
  return n;
}

void CoreResult::merge(const CoreResult& o) {
  latency.merge(o.latency);
  requests += o.requests;
  connections += o.connections;
  for (std::size_t i = 0; i < kErrorKinds; ++i) errors[i] += o.errors[i];
  warmup_requests += o.warmup_requests;
  warmup_errors += o.warmup_errors;
  if (first_error.empty()) first_error = o.first_error;
}

std::string format_text(const Report& r) {
  const Config& c = *r.config;
  const CoreResult& t = r.total;
  std::string s =
      sprint("loadgen: %s to %s over the %s stack, %u core(s), %u connection(s)", mode_name(c.mode),
             c.target.to_string().c_str(), r.stack.c_str(), r.cores, c.connections);
  if (c.mode == Mode::kHttp) {
    s += sprint(", GET %s, pipeline %u", c.path.c_str(), c.pipeline);
  } else {
    s += sprint(", %zu-byte payload", c.size);
  }
  s += sprint(", %.2f s measured after %.2f s warm-up, rate %s\n", seconds(c.duration),
              seconds(c.warmup), c.rate > 0 ? sprint("%.0f/s", c.rate).c_str() : "unlimited");
  s += sprint("  requests     %llu (%.1f/s)\n", static_cast<unsigned long long>(t.requests),
              per_second(t.requests, c));
  s += sprint("  connections  %llu (%.1f/s)\n", static_cast<unsigned long long>(t.connections),
              per_second(t.connections, c));
  const LatencyHistogram& h = t.latency;
  s += sprint("  latency      p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s)\n",
              human(h.percentile(50)).c_str(), human(h.percentile(90)).c_str(),
              human(h.percentile(99)).c_str(), human(h.percentile(99.9)).c_str(),
              human(h.max()).c_str(), human(static_cast<std::uint64_t>(h.mean())).c_str());
  s += sprint("  errors       %llu", static_cast<unsigned long long>(t.error_total()));
  for (std::size_t i = 0; i < kErrorKinds; ++i) {
    if (t.errors[i] != 0) {
      s += sprint("  %s %llu", kErrorNames[i], static_cast<unsigned long long>(t.errors[i]));
    }
  }
  s += sprint("  (warm-up: %llu requests, %llu errors)\n",
              static_cast<unsigned long long>(t.warmup_requests),
              static_cast<unsigned long long>(t.warmup_errors));
  if (!t.first_error.empty()) s += "  first error  " + t.first_error + "\n";
  if (r.per_core_requests.size() > 1) {
    s += "  per core    ";
    for (std::uint64_t n : r.per_core_requests) {
      s += sprint(" %llu", static_cast<unsigned long long>(n));
    }
    s += "\n";
  }
  if (r.overran) s += "  the run overran its deadline and was stopped\n";
  return s;
}

std::string format_json(const Report& r) {
  const Config& c = *r.config;
  const CoreResult& t = r.total;
  const LatencyHistogram& h = t.latency;
  auto us = [](double ns) { return ns / 1e3; };
  std::string s = "{";
  s += sprint("\"mode\":\"%s\",\"target\":\"%s\",\"stack\":\"%s\",\"cores\":%u,", mode_name(c.mode),
              c.target.to_string().c_str(), r.stack.c_str(), r.cores);
  s += sprint("\"connections\":%u,\"duration_s\":%.6g,\"warmup_s\":%.6g,\"rate\":%.6g,",
              c.connections, seconds(c.duration), seconds(c.warmup), c.rate);
  if (c.mode == Mode::kHttp) {
    s += "\"path\":" + json_string(c.path) + sprint(",\"pipeline\":%u,", c.pipeline);
  } else {
    s += sprint("\"size\":%zu,", c.size);
  }
  s += sprint("\"requests\":%llu,\"requests_per_s\":%.3f,",
              static_cast<unsigned long long>(t.requests), per_second(t.requests, c));
  s += sprint("\"connections_opened\":%llu,\"connections_per_s\":%.3f,",
              static_cast<unsigned long long>(t.connections), per_second(t.connections, c));
  s += sprint(
      "\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p99_9\":%.3f,\"max\":%.3f,"
      "\"min\":%.3f,\"mean\":%.3f},",
      us(static_cast<double>(h.percentile(50))), us(static_cast<double>(h.percentile(90))),
      us(static_cast<double>(h.percentile(99))), us(static_cast<double>(h.percentile(99.9))),
      us(static_cast<double>(h.max())), us(static_cast<double>(h.min())), us(h.mean()));
  s += sprint("\"errors\":{\"total\":%llu", static_cast<unsigned long long>(t.error_total()));
  for (std::size_t i = 0; i < kErrorKinds; ++i) {
    s += sprint(",\"%s\":%llu", kErrorNames[i], static_cast<unsigned long long>(t.errors[i]));
  }
  s += "},";
  s += sprint("\"warmup_requests\":%llu,\"warmup_errors\":%llu,",
              static_cast<unsigned long long>(t.warmup_requests),
              static_cast<unsigned long long>(t.warmup_errors));
  s += "\"first_error\":" +
       (t.first_error.empty() ? std::string("null") : json_string(t.first_error));
  s += ",\"per_core_requests\":[";
  for (std::size_t i = 0; i < r.per_core_requests.size(); ++i) {
    s += sprint("%s%llu", i == 0 ? "" : ",",
                static_cast<unsigned long long>(r.per_core_requests[i]));
  }
  s += sprint("],\"overran\":%s}", r.overran ? "true" : "false");
  return s;
}

}  // namespace coronet::loadgen
