// What a load run measured: per-core results (each core writes only its own), merged after the run,
// and the report built from them (text for people, one JSON object for scripts).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "coro/result.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/histogram.h"

namespace coronet::loadgen {

enum class ErrorKind : unsigned char {
  kConnectRefused,  // the target answered the SYN with a reset
  kConnectTimeout,  // the connect did not complete within --timeout
  kReset,           // the connection was reset (or the pipe broke) mid-request
  kTimeout,         // no complete answer within --timeout
  kShortRead,       // the peer closed before the whole answer arrived
  kMismatch,        // the echoed bytes differ from those sent
  kHttpStatus,      // an HTTP response outside 2xx
  kOther,           // anything else (unreachable host, malformed HTTP, ...)
};
inline constexpr std::size_t kErrorKinds = 8;
const char* error_kind_name(ErrorKind k);  // "connect_refused", ...

// The kind of a failed socket operation; `connecting` while the connect had not completed.
ErrorKind classify(const Error& e, bool connecting);

// One core's counts. A request belongs to the measured window when it started inside it (it may
// finish in the grace period after); earlier ones are warm-up.
struct CoreResult {
  LatencyHistogram latency;                         // ns, successful requests in the window
  std::uint64_t requests = 0;                       // successful, in the window
  std::uint64_t connections = 0;                    // connects completed, started in the window
  std::array<std::uint64_t, kErrorKinds> errors{};  // in the window
  std::uint64_t warmup_requests = 0;
  std::uint64_t warmup_errors = 0;
  std::string first_error;  // the first error's kind and message (set once; empty: none)

  // Errors of every kind in the window.
  std::uint64_t error_total() const;
  // Adds `other`'s counts and histogram; keeps this result's first error when it has one.
  void merge(const CoreResult& other);
};

// The run as reported.
struct Report {
  const Config* config = nullptr;
  std::string stack;  // "user" / "kernel"
  unsigned cores = 0;
  CoreResult total;
  std::vector<std::uint64_t> per_core_requests;
  bool overran = false;  // the run hit its hard deadline and was stopped
};

// Several lines, for a terminal.
std::string format_text(const Report& r);
// One JSON object on one line (numbers in seconds, per-second rates and microseconds).
std::string format_json(const Report& r);

}  // namespace coronet::loadgen
