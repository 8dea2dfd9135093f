#include "tools/loadgen/config.h"

#include <charconv>
#include <cmath>
#include <optional>

namespace coronet::loadgen {
namespace {

// The value of `--flag=value`, or nullopt when `arg` is another flag.
std::optional<std::string_view> value_of(std::string_view arg, std::string_view flag) {
  if (arg.size() > flag.size() && arg.starts_with(flag) && arg[flag.size()] == '=') {
    return arg.substr(flag.size() + 1);
  }
  return std::nullopt;
}

// "--flag=value: expected <form>".
Error bad(std::string_view flag, std::string_view value, std::string_view expected) {
  return Error(Errc::kInvalidArgument, std::string(flag) + "=" + std::string(value) +
                                           ": expected " + std::string(expected));
}

// A whole decimal number in [lo, hi], nothing else around it.
std::optional<unsigned long> parse_uint(std::string_view v, unsigned long lo, unsigned long hi) {
  unsigned long n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi) return std::nullopt;
  return n;
}

// A non-negative decimal number (e.g. "2", "0.5"), finite and at most `hi`.
std::optional<double> parse_number(std::string_view v, double hi) {
  double d = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d, std::chars_format::fixed);
  if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(d) || d < 0 || d > hi) {
    return std::nullopt;
  }
  return d;
}

// Seconds (fractions allowed) as a Duration; `allow_zero` for warm-up and wait.
std::optional<coro::Duration> parse_seconds(std::string_view v, bool allow_zero) {
  auto d = parse_number(v, 86400);
  if (!d || (!allow_zero && *d <= 0)) return std::nullopt;
  return std::chrono::duration_cast<coro::Duration>(std::chrono::duration<double>(*d));
}

// "A.B.C.D:PORT" with a port 1-65535.
std::optional<stack::Endpoint> parse_target(std::string_view v) {
  const auto colon = v.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto ip = stack::Ipv4Address::parse(v.substr(0, colon));
  auto port = parse_uint(v.substr(colon + 1), 1, 65535);
  if (!ip || !port) return std::nullopt;
  return stack::Endpoint{*ip, static_cast<std::uint16_t>(*port)};
}

// An origin-form request target: starts with '/', printable ASCII without spaces.
bool valid_path(std::string_view p) {
  if (p.empty() || p.front() != '/' || p.size() > 4096) return false;
  for (char ch : p) {
    if (ch <= ' ' || ch >= 0x7f) return false;
  }
  return true;
}

}  // namespace

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kShort:
      return "short";
    case Mode::kKeepalive:
      return "keepalive";
    case Mode::kHttp:
      return "http";
  }
  return "?";
}

std::string config_usage() {
  return "  --target=A.B.C.D:PORT  the server (required)\n"
         "  --mode=short|keepalive|http  short: connect, write --size bytes, read the echo,\n"
         "                    close: one connection per request, latency from the connect to\n"
         "                    the last byte; keepalive: write/read on long-lived connections;\n"
         "                    http: HTTP/1.1 keep-alive GETs (required). A request counts in\n"
         "                    the window it started in; connects pause 10 ms after a failure\n"
         "  --connections=N   concurrent connections over all cores (default 16)\n"
         "  --duration=S      measured seconds (default 5)\n"
         "  --warmup=S        seconds before measuring, not counted (default 1)\n"
         "  --rate=N          requests/s over all cores; 0 = as fast as answers come (default).\n"
         "                    Set: open loop, each connection on its own fixed schedule, latency\n"
         "                    counted from the scheduled send time (no coordinated omission)\n"
         "  --size=BYTES      short/keepalive payload (default 64)\n"
         "  --path=/P         http: request target (default /)\n"
         "  --pipeline=N      http: requests in flight per connection (default 1)\n"
         "  --timeout=S       per request and per connect (default 5)\n"
         "  --wait=S          first wait up to S seconds for the target to accept a connection\n"
         "                    (e.g. while a TAP peer is configured); default 0: start at once\n"
         "  --json            the results as one JSON object on stdout (text goes to stderr)\n";
}

Result<Config> parse_config(const std::vector<std::string>& args) {
  Config c;
  bool have_target = false;
  bool have_mode = false;
  for (const std::string& s : args) {
    const std::string_view a = s;
    if (auto v = value_of(a, "--target")) {
      auto t = parse_target(*v);
      if (!t) return bad("--target", *v, "A.B.C.D:PORT (port 1-65535)");
      c.target = *t;
      have_target = true;
    } else if (auto v = value_of(a, "--mode")) {
      if (*v == "short") {
        c.mode = Mode::kShort;
      } else if (*v == "keepalive") {
        c.mode = Mode::kKeepalive;
      } else if (*v == "http") {
        c.mode = Mode::kHttp;
      } else {
        return bad("--mode", *v, "short, keepalive or http");
      }
      have_mode = true;
    } else if (auto v = value_of(a, "--connections")) {
      auto n = parse_uint(*v, 1, 1'000'000);
      if (!n) return bad("--connections", *v, "a whole number 1-1000000");
      c.connections = static_cast<unsigned>(*n);
    } else if (auto v = value_of(a, "--duration")) {
      auto d = parse_seconds(*v, false);
      if (!d) return bad("--duration", *v, "seconds > 0 (e.g. 5 or 0.5), at most 86400");
      c.duration = *d;
    } else if (auto v = value_of(a, "--warmup")) {
      auto d = parse_seconds(*v, true);
      if (!d) return bad("--warmup", *v, "seconds >= 0 (e.g. 1 or 0.5), at most 86400");
      c.warmup = *d;
    } else if (auto v = value_of(a, "--rate")) {
      auto r = parse_number(*v, 1e9);
      if (!r) return bad("--rate", *v, "requests per second >= 0 (0 = unlimited)");
      c.rate = *r;
    } else if (auto v = value_of(a, "--size")) {
      auto n = parse_uint(*v, 1, 1u << 24);
      if (!n) return bad("--size", *v, "bytes 1-16777216");
      c.size = *n;
    } else if (auto v = value_of(a, "--path")) {
      if (!valid_path(*v)) return bad("--path", *v, "/... without spaces or control characters");
      c.path = std::string(*v);
    } else if (auto v = value_of(a, "--pipeline")) {
      auto n = parse_uint(*v, 1, 1024);
      if (!n) return bad("--pipeline", *v, "requests in flight per connection, 1-1024");
      c.pipeline = static_cast<unsigned>(*n);
    } else if (auto v = value_of(a, "--timeout")) {
      auto d = parse_seconds(*v, false);
      if (!d) return bad("--timeout", *v, "seconds > 0 (e.g. 5 or 0.5), at most 86400");
      c.timeout = *d;
    } else if (auto v = value_of(a, "--wait")) {
      auto d = parse_seconds(*v, true);
      if (!d) return bad("--wait", *v, "seconds >= 0, at most 86400");
      c.wait = *d;
    } else if (a == "--json") {
      c.json = true;
    } else if (a == "--help" || a == "-h") {
      c.help = true;
    } else {
      return Error(Errc::kInvalidArgument, "unknown argument " + s);
    }
  }
  if (c.help) return c;
  if (!have_target) return Error(Errc::kInvalidArgument, "--target=A.B.C.D:PORT is required");
  if (!have_mode) return Error(Errc::kInvalidArgument, "--mode=short|keepalive|http is required");
  if (c.pipeline > 1 && c.mode != Mode::kHttp) {
    return Error(Errc::kInvalidArgument, "--pipeline is for --mode=http");
  }
  return c;
}

}  // namespace coronet::loadgen
