// Reactor: the per-core, single-threaded event loop. One loop iteration is
//   poll sources (NIC, cross-core rings, ...)  ->  resume every coroutine that became ready, once,
//   in one batch  ->  advance the timer wheel (fired timers make coroutines ready for the next batch)
// When nothing is runnable the reactor sleeps until its next timer or a remote wake() (IdleMode
// kSleep), spins (kBusyPoll), or, on a virtual clock, jumps time straight to the next deadline.
//
// Nothing here allocates per operation: suspended coroutines are intrusive nodes inside their own
// frames, timers are intrusive wheel nodes, frames come from the frame pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "coro/clock.h"
#include "coro/task.h"
#include "coro/timer_wheel.h"
#include "coro/waiter.h"

namespace coronet::coro {

// Something the reactor polls once per loop iteration: a NIC queue, an inbound ring, ...
// One virtual call per source per iteration (never per packet).
class PollSource {
 public:
  virtual ~PollSource() = default;
  // Does a batch of work; returns true when it made progress.
  virtual bool poll() = 0;
  // Earliest time this source will have work without outside help (virtual-time devices); nullopt
  // when unknown or "only when woken".
  virtual std::optional<TimePoint> next_event() const { return std::nullopt; }
  // A file descriptor that becomes readable when this source has work (a TAP device), or -1.
  // An idle reactor sleeps in ppoll() on these instead of a futex, so packets wake it.
  virtual int wait_fd() const { return -1; }
};

enum class IdleMode : std::uint8_t {
  kSleep,     // block in the kernel until the next timer or a remote wake()
  kBusyPoll,  // never sleep (dedicated cores polling a NIC)
};

struct ReactorOptions {
  unsigned core = 0;          // id shown in logs and used by the runtime
  Clock* clock = nullptr;     // null: the real monotonic clock
  Duration timer_tick = std::chrono::microseconds(1);  // timer resolution (timers never fire early)
  IdleMode idle = IdleMode::kSleep;
  // kSleep only: keep polling this long before sleeping in the kernel. A futex wake-up costs tens
  // of microseconds on a VM; work that arrives within the spin window is picked up without one.
  Duration spin_before_sleep = std::chrono::microseconds(50);
};

struct ReactorStats {
  std::uint64_t iterations = 0;
  std::uint64_t resumed = 0;              // coroutine resumptions from the run queue
  std::uint64_t timers_fired = 0;
  std::uint64_t spawned = 0;
  std::uint64_t finished = 0;             // spawned tasks that ran to completion
  std::uint64_t unhandled_exceptions = 0;  // spawned tasks that ended with an exception (logged)
  std::uint64_t destroyed_at_shutdown = 0;
  std::uint64_t sleeps = 0;
};

namespace detail {
class DetachedPromise;
// Return object of the coroutine that runs a spawned task.
struct DetachedTask {
  using promise_type = DetachedPromise;
  std::coroutine_handle<DetachedPromise> handle;
};
}  // namespace detail

class Reactor {
 public:
  explicit Reactor(ReactorOptions options = {});
  // Destroys every spawned task that has not finished (see shutdown()).
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // The reactor that owns the calling thread, or null. A thread has at most one at a time.
  static Reactor* current();

  unsigned core() const { return options_.core; }
  // Time at the start of the current iteration (cheap; what timers and sleeps are measured from).
  TimePoint now() const { return now_; }
  Clock& clock() { return *clock_; }

  // Starts `task` detached: it runs from the next batch on; its exception, if any, is logged and
  // counted (stats().unhandled_exceptions), never lost. Throws TaskError for an empty task.
  void spawn(Task<void> task);

  // Run-queue entry point for completions (Suspension::complete()).
  void schedule(Suspension& s);

  void add_poll_source(PollSource* source);
  void remove_poll_source(PollSource* source);

  // Timers on this reactor's wheel; `deadline` is rounded up to the tick.
  void arm_timer(TimerNode& node, TimePoint deadline);
  bool cancel_timer(TimerNode& node) { return wheel_.cancel(node); }
  std::size_t armed_timers() const { return wheel_.size(); }

  // One loop iteration; returns true when anything happened.
  bool run_once();
  // Loops until stop() (or until nothing can ever happen again: no work, timers or sources).
  void run();
  // Thread-safe: makes run() return after the current iteration.
  void stop();
  bool stop_requested() const { return stop_.load(std::memory_order_acquire); }
  // Thread-safe: interrupts an idle sleep (used after publishing cross-core work).
  void wake();
  // Thread-safe: call after publishing work this reactor will poll. A read-modify-write of
  // `sleeping_` (not a plain load, not a fence: TSan models neither Dekker-style pattern) pairs with
  // the exchange in idle_wait(): if it reads "awake", the reactor's exchange comes later in the
  // flag's modification order and synchronises with it, so the reactor's last poll before
  // sleeping sees the published work; otherwise the reactor is woken.
  void wake_if_sleeping() {
    if (sleeping_.fetch_add(0, std::memory_order_acq_rel) != 0) wake();
  }

  // Runs the loop until `task` completes and returns its value (or rethrows its exception).
  // Throws TaskError if the task can never complete: nothing runnable, no timers, no sources.
  template <typename T>
  T block_on(Task<T> task);

  // Destroys every unfinished spawned task (frames, awaiters and timers unlink themselves).
  // Idempotent; the destructor calls it.
  void shutdown();

  const ReactorStats& stats() const { return stats_; }
  std::size_t live_tasks() const { return live_tasks_; }

 private:
  friend class detail::DetachedPromise;

  // Called when run_once() found nothing to do: waits (sleep/spin/virtual jump) for the next
  // event. Returns false when nothing can ever happen again.
  bool idle_wait();
  std::optional<TimePoint> next_deadline() const;
  std::uint64_t to_tick(TimePoint t) const;
  std::coroutine_handle<> start_detached(Task<void> task);
  static detail::DetachedTask run_detached(Reactor* self, Task<void> task);
  void report_exception(std::exception_ptr e);

  ReactorOptions options_;
  Clock* clock_;
  TimePoint epoch_;
  TimePoint now_;
  std::int64_t tick_ns_;
  TimerWheel wheel_;
  WaitQueue ready_;
  std::vector<PollSource*> sources_;
  detail::DetachedPromise* tasks_ = nullptr;  // intrusive list of live detached tasks
  std::size_t live_tasks_ = 0;
  ReactorStats stats_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint32_t> sleeping_{0};
  std::atomic<std::uint32_t> wake_seq_{0};
  std::atomic<int> wake_fd_{-1};  // eventfd, created when the first fd-based source appears
  std::vector<int> fds_scratch_;
};

// spawn() on the calling thread's reactor. Throws TaskError when there is none.
void spawn(Task<void> task);

// co_await yield(): lets every other ready coroutine run, resumes in the next batch.
class YieldAwaiter {
 public:
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h);
  void await_resume() const noexcept {}

 private:
  Suspension s_;
};
inline YieldAwaiter yield() { return {}; }

// co_await sleep_until(t) / sleep_for(d): Result ok after the deadline, Errc::kCancelled if the
// coroutine's token is cancelled first, Errc::kNotOnReactor off a reactor thread.
class SleepAwaiter {
 public:
  explicit SleepAwaiter(TimePoint deadline) : deadline_(deadline) {}
  explicit SleepAwaiter(Duration d) : relative_(d) {}
  // Armed, the timer node points back at this object: it must stay where it is.
  SleepAwaiter(const SleepAwaiter&) = delete;
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;
  bool await_ready();
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) {
    if (!s_.prepare(h, *reactor_)) return false;
    timer_.self = this;
    reactor_->arm_timer(timer_, deadline_);
    return true;
  }
  Result<void> await_resume() const {
    if (reactor_ == nullptr) return Error(Errc::kNotOnReactor, "sleep outside a reactor thread");
    return s_.result();
  }

 private:
  struct Node : TimerNode {
    Node() : TimerNode(&SleepAwaiter::fired) {}
    SleepAwaiter* self = nullptr;
  };
  static void fired(TimerNode* n) { static_cast<Node*>(n)->self->s_.complete(); }

  TimePoint deadline_{};
  std::optional<Duration> relative_;
  Reactor* reactor_ = nullptr;
  Suspension s_;
  Node timer_;
};
inline SleepAwaiter sleep_until(TimePoint t) { return SleepAwaiter(t); }
inline SleepAwaiter sleep_for(Duration d) { return SleepAwaiter(d); }

class WaitQueue::WaitAwaiter {
 public:
  explicit WaitAwaiter(WaitQueue& q) : q_(q) {}
  bool await_ready() const noexcept { return false; }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) {
    reactor_ = Reactor::current();
    if (reactor_ == nullptr || !s_.prepare(h, *reactor_)) return false;
    q_.push_back(s_);
    return true;
  }
  Result<void> await_resume() const {
    if (reactor_ == nullptr) return Error(Errc::kNotOnReactor, "wait outside a reactor thread");
    return s_.result();
  }

 private:
  WaitQueue& q_;
  Reactor* reactor_ = nullptr;
  Suspension s_;
};
inline WaitQueue::WaitAwaiter WaitQueue::wait() { return WaitAwaiter(*this); }

namespace detail {

// The frame of a spawned task: self-destroying at the end, linked in its reactor's task list so
// shutdown can destroy what never finished.
class DetachedPromise {
 public:
  static void* operator new(std::size_t n) { return frame_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }
  explicit DetachedPromise(Reactor* r, Task<void>&) : reactor_(r) {}
  ~DetachedPromise();
  DetachedTask get_return_object() noexcept {
    return {std::coroutine_handle<DetachedPromise>::from_promise(*this)};
  }
  std::suspend_always initial_suspend() noexcept { return {}; }
  std::suspend_never final_suspend() noexcept { return {}; }
  void return_void() noexcept { finished_ = true; }  // not reached when destroyed at shutdown
  void unhandled_exception() noexcept { std::terminate(); }  // the body catches everything

 private:
  friend class coronet::coro::Reactor;
  Reactor* reactor_;
  DetachedPromise* prev_ = nullptr;
  DetachedPromise* next_ = nullptr;
  Suspension start_;
  bool finished_ = false;
};

}  // namespace detail

template <typename T>
T Reactor::block_on(Task<T> task) {
  if (!task.valid()) throw TaskError("block_on: empty Task (default-constructed or moved-from)");
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
  std::optional<Stored> value;
  std::exception_ptr error;
  bool done = false;
  auto root = [](Task<T> t, std::optional<Stored>& v, std::exception_ptr& e,
                 bool& d) -> Task<void> {
    try {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(t);
        v.emplace();
      } else {
        v.emplace(co_await std::move(t));
      }
    } catch (...) {
      e = std::current_exception();
    }
    d = true;
  };
  std::coroutine_handle<> h = start_detached(root(std::move(task), value, error, done));
  while (!done) {
    if (!run_once() && !done && !idle_wait()) {
      h.destroy();  // it refers to this stack frame: it must never run again
      throw TaskError(
          "block_on: the task can never complete (nothing runnable, no timers, no poll sources)");
    }
  }
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) return std::move(*value);
}

}  // namespace coronet::coro
