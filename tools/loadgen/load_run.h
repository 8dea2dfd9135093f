// LoadRun: one load-generation run spread over the cores of coronet::run(). serve() runs once per
// core with that core's Stack: it opens the core's share of --connections, drives them in the
// chosen mode until the measured window ends, and the last core to finish stops the runtime.
//
// Timeline (one clock for all cores, fixed by core 0 before anyone starts):
//   [--wait: core 0 probes the target]  t0 | warm-up | measured window | grace (in-flight requests
//   finish, bounded by --timeout) ; a hard deadline after all that stops the runtime regardless.
//
// Shared-nothing: each core writes only its own slot (results, plus two relaxed counters that the
// progress line reads from another thread); slots are merged after run() returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "coro/clock.h"
#include "coro/event.h"
#include "coro/task.h"
#include "coronet/socket.h"
#include "tools/loadgen/config.h"
#include "tools/loadgen/results.h"

namespace coronet::loadgen {

class LoadRun {
 public:
  LoadRun(const Config& config, unsigned cores);

  // coronet::run's serve: this core's share of the load.
  coro::Task<void> serve(Stack& stack);

  // Successful requests and errors so far over all cores, warm-up included (any thread).
  std::pair<std::uint64_t, std::uint64_t> progress() const;
  // After run(): every core's results merged.
  Report report(StackKind stack) const;
  // After run(): --wait expired without the target accepting a connection (why: wait_error()).
  bool target_unreachable() const { return unreachable_.load(); }
  const std::string& wait_error() const { return wait_error_; }

  // One core's slot: written only by that core while the runtime runs.
  struct alignas(64) CoreSlot {
    CoreResult result;
    coro::Event start;     // set (on this core) once t0 is known
    coro::TimePoint t0{};  // common start, written by the message that sets `start`
    alignas(64) std::atomic<std::uint64_t> progress_requests{0};  // relaxed, single writer
    std::atomic<std::uint64_t> progress_errors{0};
  };

  // The parsed flags, shared read-only by every core.
  const Config& config() const { return config_; }
  // The HTTP request every --mode=http connection sends (built once).
  const std::string& http_request() const { return http_request_; }

 private:
  // Core 0: tries to connect until the target accepts or --wait runs out.
  coro::Task<bool> wait_for_target(Stack& stack);
  // Core 0: stops the runtime if the run is still going at the hard deadline.
  coro::Task<void> watchdog(coro::Duration limit);

  const Config config_;
  const unsigned cores_;
  std::string http_request_;
  std::vector<std::unique_ptr<CoreSlot>> slots_;
  std::atomic<unsigned> running_;
  std::atomic<bool> unreachable_{false};
  std::atomic<bool> overran_{false};
  std::string wait_error_;  // written on core 0 before the runtime stops
};

}  // namespace coronet::loadgen
