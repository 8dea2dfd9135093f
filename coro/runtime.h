// Runtime: N reactors, one thread each, pinned one per CPU, shared-nothing. Cores talk only
// through lock-free SPSC rings (one per ordered pair of cores) that each reactor flushes and drains
// once per loop iteration, in batches:
//
//   co_await submit_to(core, fn)   runs fn on `core` and brings its result back (Result<R>).
//
// A message lives in the awaiting coroutine's frame (no allocation); its pointer crosses the ring
// to the target, which runs it and sends the same pointer back. submit_to is not cancellable once
// sent (the remote side owns the message until it replies); give `fn` its own timeout instead.
#pragma once

#include <barrier>
#include <exception>
#include <functional>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "coro/reactor.h"
#include "coro/spsc_ring.h"

namespace coronet::coro {

struct RuntimeOptions {
  unsigned cores = 1;
  // CPU for each core; empty: core i runs on CPU i modulo the machine's CPU count.
  std::vector<int> cpus = {};
  bool pin = true;
  IdleMode idle = IdleMode::kSleep;
  Duration timer_tick = std::chrono::microseconds(1);
  Duration spin_before_sleep = std::chrono::microseconds(50);  // see ReactorOptions
  // Per-core set-up and tear-down, each run on that core's own thread. on_core_start runs once
  // the core's reactor exists and before any core runs a task: every core's start hook has
  // returned before the first task runs anywhere (so a core may message any other from its
  // first task). It may spawn tasks on the reactor, and call stop() to abandon the run.
  // on_core_stop runs after the core's unfinished tasks were destroyed, while its reactor still
  // exists: the place to destroy what on_core_start built (poll sources, drivers). Exceptions
  // from either are logged and stop the runtime.
  std::function<void(unsigned core, Reactor& reactor)> on_core_start = {};
  std::function<void(unsigned core)> on_core_stop = {};
};

namespace detail {

// One cross-core request; travels target-ward, then back origin-ward as its own reply.
struct CrossCoreMessage {
  void (*run_on_target)(CrossCoreMessage*) = nullptr;
  Suspension* waiter = nullptr;  // origin side
  unsigned origin = 0;
  unsigned target = 0;
  bool is_reply = false;
  CrossCoreMessage* next_overflow = nullptr;  // when a ring is full: kept in order, retried
};

class CoreContext;
struct Phases;

}  // namespace detail

class Runtime {
 public:
  explicit Runtime(RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  unsigned cores() const { return static_cast<unsigned>(options_.cores); }

  // Starts every core, runs `main()` (a callable returning Task<void> or Task<int>) on core 0, and
  // returns once it has finished and every core has shut down (unfinished tasks destroyed on their
  // own core). Returns main's int (0 for Task<void>); rethrows main's exception.
  template <typename F>
  int run(F main);

  // Thread-safe: ends run() (main's task is destroyed if still running).
  void stop();

  // The runtime/core of the calling thread (null / -1 outside a runtime core).
  static Runtime* current();
  static int current_core();

  // Sends `msg` from the calling core; used by submit_to.
  void send(detail::CrossCoreMessage* msg);
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

 private:
  friend class detail::CoreContext;
  void run_cores(std::function<Task<void>()> main_body);
  void core_thread(unsigned core, std::function<Task<void>()>& main_body, detail::Phases& phases);

  RuntimeOptions options_;
  std::vector<std::unique_ptr<detail::CoreContext>> contexts_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
  std::mutex reactors_mu_;  // start-up/shutdown only: guards CoreContext::reactor_ against stop()
};

namespace detail {

template <typename F>
struct submit_traits {
  using raw = std::invoke_result_t<F&>;
  static constexpr bool is_task = false;
  using value = raw;
};
template <typename F>
  requires requires { typename std::invoke_result_t<F&>::promise_type; }
struct submit_traits<F> {
  using raw = std::invoke_result_t<F&>;
  static constexpr bool is_task = true;
  using value = typename raw::value_type;
};

template <typename V>
using submit_result_t = std::conditional_t<is_result_v<V>, V, Result<V>>;

template <typename F>
struct SubmitMessage : CrossCoreMessage {
  using V = typename submit_traits<F>::value;
  explicit SubmitMessage(F&& f) : fn(std::move(f)) {}
  F fn;
  std::optional<value_or_monostate_t<V>> result;
  std::exception_ptr error;
};

// Replies from the target core: the message goes back to its origin.
void reply(CrossCoreMessage* msg);

template <typename F>
Task<void> run_submitted_task(SubmitMessage<F>* m) {
  try {
    if constexpr (std::is_void_v<typename SubmitMessage<F>::V>) {
      co_await m->fn();
      m->result.emplace();
    } else {
      m->result.emplace(co_await m->fn());
    }
  } catch (...) {
    m->error = std::current_exception();
  }
  reply(m);
}

template <typename F>
void run_on_target(CrossCoreMessage* base) {
  auto* m = static_cast<SubmitMessage<F>*>(base);
  if constexpr (submit_traits<F>::is_task) {
    spawn(run_submitted_task(m));  // replies when the task finishes
  } else {
    try {
      if constexpr (std::is_void_v<typename SubmitMessage<F>::V>) {
        m->fn();
        m->result.emplace();
      } else {
        m->result.emplace(m->fn());
      }
    } catch (...) {
      m->error = std::current_exception();
    }
    reply(m);
  }
}

// Suspends the origin coroutine until the message comes back.
struct SendAndWait {
  Runtime& rt;
  CrossCoreMessage& msg;
  Suspension s;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    s.bind(h, *Reactor::current());
    msg.waiter = &s;
    rt.send(&msg);
  }
  void await_resume() const noexcept {}
};

}  // namespace detail

// Runs `fn` on core `core` and returns its result as Result<R> (R = fn's return type, or T when fn
// returns Task<T>; a Result is not wrapped twice). Errors: Errc::kNoSuchCore for a core index the
// runtime does not have, kNotOnReactor off a runtime core, kShuttingDown while stopping.
// Exceptions thrown by fn are rethrown in the caller. On the caller's own core fn runs inline.
template <typename F>
Task<detail::submit_result_t<typename detail::submit_traits<F>::value>> submit_to(unsigned core,
                                                                                F fn) {
  using V = typename detail::submit_traits<F>::value;
  Runtime* rt = Runtime::current();
  if (rt == nullptr) co_return Error(Errc::kNotOnReactor, "submit_to called outside a runtime core");
  if (core >= rt->cores()) {
    co_return Error(Errc::kNoSuchCore, "submit_to core " + std::to_string(core) + ", runtime has " +
                                           std::to_string(rt->cores()) + " cores");
  }
  if (rt->stopping()) co_return Error(Errc::kShuttingDown, "submit_to while the runtime stops");
  if (static_cast<int>(core) == Runtime::current_core()) {
    if constexpr (detail::submit_traits<F>::is_task) {
      if constexpr (std::is_void_v<V>) {
        co_await fn();
        co_return Result<void>{};
      } else {
        co_return co_await fn();
      }
    } else {
      if constexpr (std::is_void_v<V>) {
        fn();
        co_return Result<void>{};
      } else {
        co_return fn();
      }
    }
  }
  detail::SubmitMessage<F> msg(std::move(fn));
  msg.run_on_target = &detail::run_on_target<F>;
  msg.origin = static_cast<unsigned>(Runtime::current_core());
  msg.target = core;
  co_await detail::SendAndWait{*rt, msg, {}};
  if (msg.error) std::rethrow_exception(msg.error);
  if constexpr (std::is_void_v<V>) {
    co_return Result<void>{};
  } else {
    co_return std::move(*msg.result);
  }
}

template <typename F>
int Runtime::run(F main) {
  int exit_code = 0;
  std::exception_ptr error;
  std::function<Task<void>()> body = [&]() -> Task<void> {
    try {
      if constexpr (std::is_void_v<typename std::invoke_result_t<F&>::value_type>) {
        co_await main();
      } else {
        exit_code = co_await main();
      }
    } catch (...) {
      error = std::current_exception();
    }
    stop();
  };
  run_cores(std::move(body));
  if (error) std::rethrow_exception(error);
  return exit_code;
}

}  // namespace coronet::coro
