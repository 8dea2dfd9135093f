// The load generator's own command-line flags (after coronet's, which coronet::parse_options
// takes; the rest arrive here):
//   --target=A.B.C.D:PORT  --mode=short|keepalive|http  [--connections=N] [--duration=S]
//   [--warmup=S] [--rate=N] [--size=BYTES] [--path=/P] [--pipeline=N] [--timeout=S] [--wait=S]
//   [--json]
// Bad values are errors naming the flag and the expected form; nothing is silently defaulted.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "coro/clock.h"
#include "coro/result.h"
#include "stack/net/ipv4_addr.h"

namespace coronet::loadgen {

enum class Mode : unsigned char {
  kShort,      // connect, write N bytes, read N back, close: one connection per request
  kKeepalive,  // one connection per slot: write N, read N, repeat
  kHttp,       // keep-alive HTTP/1.1 GETs, optionally pipelined
};
const char* mode_name(Mode m);  // "short" / "keepalive" / "http"

struct Config {
  stack::Endpoint target;
  Mode mode = Mode::kKeepalive;
  unsigned connections = 16;                          // concurrency over all cores
  coro::Duration duration = std::chrono::seconds(5);  // measured window
  coro::Duration warmup = std::chrono::seconds(1);    // before it, not counted
  double rate = 0;                                    // requests/s over all cores; 0 = closed loop
  std::size_t size = 64;                              // short/keepalive payload bytes
  std::string path = "/";                             // http
  unsigned pipeline = 1;                              // http: requests in flight per connection
  coro::Duration timeout = std::chrono::seconds(5);   // per request (and per connect)
  coro::Duration wait = coro::Duration::zero();       // wait this long for the target to answer
  bool json = false;
  bool help = false;  // --help: print usage, run nothing
};

// Parses the arguments coronet::parse_options left over (Options::rest).
Result<Config> parse_config(const std::vector<std::string>& args);

// The flags above, one per line, for the usage text.
std::string config_usage();

}  // namespace coronet::loadgen
