#include "coro/reactor.h"

#include <linux/futex.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>

#include "coro/log.h"

namespace coronet::coro {
namespace {

thread_local Reactor* tls_reactor = nullptr;

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                const timespec* timeout) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected,
          timeout, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

}  // namespace

namespace detail {

void schedule_on(Reactor& r, Suspension& s) { r.schedule(s); }

DetachedPromise::~DetachedPromise() {
  // Unlink from the reactor's list of live tasks (finished or destroyed at shutdown).
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else {
    reactor_->tasks_ = next_;
  }
  if (next_ != nullptr) next_->prev_ = prev_;
  --reactor_->live_tasks_;
  if (finished_) {
    ++reactor_->stats_.finished;
  } else {
    ++reactor_->stats_.destroyed_at_shutdown;
  }
}

}  // namespace detail

MonotonicClock& MonotonicClock::instance() {
  static MonotonicClock clock;
  return clock;
}

Reactor::Reactor(ReactorOptions options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : &MonotonicClock::instance()),
      epoch_(clock_->now()),
      now_(epoch_),
      tick_ns_(std::max<std::int64_t>(1, options.timer_tick.count())) {
  if (tls_reactor != nullptr) {
    throw TaskError("Reactor: this thread already has a reactor (one per thread)");
  }
  tls_reactor = this;
  log::set_thread_core(static_cast<int>(options_.core));
}

Reactor::~Reactor() {
  shutdown();
  if (int fd = wake_fd_.load(); fd >= 0) close(fd);
  if (tls_reactor == this) {
    tls_reactor = nullptr;
    log::set_thread_core(-1);
  }
}

Reactor* Reactor::current() { return tls_reactor; }

void spawn(Task<void> task) {
  Reactor* r = Reactor::current();
  if (r == nullptr) throw TaskError("spawn: no reactor on this thread");
  r->spawn(std::move(task));
}

detail::DetachedTask Reactor::run_detached(Reactor* self, Task<void> task) {
  try {
    co_await std::move(task);
  } catch (...) {
    self->report_exception(std::current_exception());
  }
}

void Reactor::report_exception(std::exception_ptr e) {
  ++stats_.unhandled_exceptions;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error("spawned task ended with an exception: {}", ex.what());
  } catch (...) {
    log::error("spawned task ended with a non-standard exception");
  }
}

std::coroutine_handle<> Reactor::start_detached(Task<void> task) {
  if (!task.valid()) throw TaskError("spawn: empty Task (default-constructed or moved-from)");
  auto h = run_detached(this, std::move(task)).handle;
  auto& p = h.promise();
  p.next_ = tasks_;
  if (tasks_ != nullptr) tasks_->prev_ = &p;
  tasks_ = &p;
  ++live_tasks_;
  ++stats_.spawned;
  p.start_.bind(h, *this);
  p.start_.complete();  // first resumption in the next batch
  return h;
}

void Reactor::spawn(Task<void> task) { start_detached(std::move(task)); }

void Reactor::schedule(Suspension& s) { ready_.push_back(s); }

void Reactor::add_poll_source(PollSource* source) {
  if (std::find(sources_.begin(), sources_.end(), source) == sources_.end()) {
    sources_.push_back(source);
  }
  if (source->wait_fd() >= 0 && wake_fd_.load() < 0) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) throw std::runtime_error("reactor: eventfd failed");
    wake_fd_.store(fd);
  }
}

void Reactor::remove_poll_source(PollSource* source) {
  sources_.erase(std::remove(sources_.begin(), sources_.end(), source), sources_.end());
}

std::uint64_t Reactor::to_tick(TimePoint t) const {
  if (t <= epoch_) return 0;
  auto ns = std::chrono::duration_cast<Duration>(t - epoch_).count();
  return static_cast<std::uint64_t>((ns + tick_ns_ - 1) / tick_ns_);  // round up: never early
}

void Reactor::arm_timer(TimerNode& node, TimePoint deadline) {
  wheel_.schedule(node, to_tick(deadline));
}

bool Reactor::run_once() {
  ++stats_.iterations;
  now_ = clock_->now();
  bool progress = false;
  // 1. Poll sources: they complete suspensions (flow events) into the run queue. By index: a
  //    source may add or remove sources from its poll() (e.g. a driver created by submit_to).
  for (std::size_t i = 0; i < sources_.size(); ++i) progress |= sources_[i]->poll();
  // 2. Resume one batch: everything ready now. What becomes ready meanwhile waits for the next
  //    iteration, so a ping-pong of coroutines cannot starve the sources.
  std::size_t batch = ready_.size();
  while (batch-- > 0) {
    Suspension* s = ready_.pop_front();
    if (s == nullptr) break;  // a resumed coroutine destroyed queued frames
    ++stats_.resumed;
    progress = true;
    detail::resume(s->handle());  // `s` may be gone after this
  }
  // 3. Timers due by this iteration's time. now() moves to it first: a callback must see a time
  //    at or past its deadline, or one that re-arms "the rest of the wait" would land on the
  //    tick being fired and spin inside advance().
  now_ = clock_->now();
  auto tick = static_cast<std::uint64_t>(
      std::chrono::duration_cast<Duration>(now_ - epoch_).count() / tick_ns_);
  std::size_t fired = wheel_.advance(tick);
  stats_.timers_fired += fired;
  return progress || fired > 0 || !ready_.empty();
}

std::optional<TimePoint> Reactor::next_deadline() const {
  std::optional<TimePoint> next;
  if (auto t = wheel_.next_deadline()) next = epoch_ + Duration(static_cast<std::int64_t>(*t) * tick_ns_);
  for (PollSource* s : sources_) {
    if (auto t = s->next_event(); t && (!next || *t < *next)) next = t;
  }
  return next;
}

bool Reactor::idle_wait() {
  if (!ready_.empty()) return true;
  std::optional<TimePoint> next = next_deadline();
  if (clock_->is_virtual()) {
    // Virtual time: nothing else can happen before the next deadline, so jump to it.
    if (next) {
      clock_->advance_to(*next);
      return true;
    }
    return false;  // no deadline anywhere: nothing can ever happen
  }
  if (!next && sources_.empty()) return false;  // nothing can ever wake us
  if (options_.idle == IdleMode::kBusyPoll) return true;
  // Spin a little first: cheap when work is about to arrive, bounded when it is not.
  if (options_.spin_before_sleep.count() > 0) {
    TimePoint spin_end = clock_->now() + options_.spin_before_sleep;
    if (next && *next < spin_end) spin_end = *next;
    do {
      for (PollSource* s : sources_) {
        if (s->poll()) return true;
      }
      if (!ready_.empty() || stop_requested()) return true;
    } while (clock_->now() < spin_end);
    if (next && clock_->now() >= *next) return true;
  }
  // Sleep until the next deadline or a remote wake(). The sequence number is read after
  // `sleeping_` is set and the sources are polled once more, so a producer that publishes work and
  // then calls wake() either is seen by that poll or changes the futex word (see wake()).
  sleeping_.exchange(1, std::memory_order_acq_rel);  // pairs with wake_if_sleeping()
  std::uint32_t seq = wake_seq_.load();
  bool work = false;
  for (std::size_t i = 0; i < sources_.size(); ++i) work |= sources_[i]->poll();
  if (!work && ready_.empty() && !stop_requested()) {
    ++stats_.sleeps;
    timespec ts{};
    const timespec* timeout = nullptr;
    bool expired = false;
    if (next) {
      auto left = std::chrono::duration_cast<Duration>(*next - clock_->now()).count();
      expired = left <= 0;
      ts = {static_cast<time_t>(left / 1'000'000'000), static_cast<long>(left % 1'000'000'000)};
      timeout = &ts;
    }
    fds_scratch_.clear();
    for (PollSource* s : sources_) {
      if (int fd = s->wait_fd(); fd >= 0) fds_scratch_.push_back(fd);
    }
    if (expired) {
      // the next deadline has passed: no sleep
    } else if (fds_scratch_.empty()) {
      futex_wait(&wake_seq_, seq, timeout);
    } else {
      // Packets or a remote wake() (the eventfd) end the sleep.
      pollfd pfds[16];
      std::size_t n = 0;
      for (int fd : fds_scratch_) {
        if (n < 15) pfds[n++] = pollfd{fd, POLLIN, 0};
      }
      int wfd = wake_fd_.load();
      pfds[n++] = pollfd{wfd, POLLIN, 0};
      if (wake_seq_.load() == seq) ppoll(pfds, n, timeout, nullptr);
      std::uint64_t drained;
      while (read(wfd, &drained, sizeof(drained)) > 0) {
      }
    }
  }
  sleeping_.store(0);
  return true;
}

void Reactor::run() {
  while (!stop_requested()) {
    if (!run_once() && !stop_requested() && !idle_wait()) {
      log::debug("reactor: nothing left to run, no timers, no sources; run() returns");
      return;
    }
  }
}

void Reactor::stop() {
  stop_.store(true, std::memory_order_release);
  wake();
}

void Reactor::wake() {
  wake_seq_.fetch_add(1);
  if (sleeping_.load() != 0) {
    futex_wake(&wake_seq_);
    if (int fd = wake_fd_.load(); fd >= 0) {
      std::uint64_t one = 1;
      (void)!write(fd, &one, sizeof(one));
    }
  }
}

void Reactor::shutdown() {
  // Destroying a frame destroys the tasks it awaits and unlinks their awaiters and timers.
  while (tasks_ != nullptr) {
    auto h = std::coroutine_handle<detail::DetachedPromise>::from_promise(*tasks_);
    h.destroy();
  }
}

bool YieldAwaiter::await_suspend(std::coroutine_handle<> h) {
  Reactor* r = Reactor::current();
  if (r == nullptr) return false;
  s_.bind(h, *r);
  s_.complete();
  return true;
}

bool SleepAwaiter::await_ready() {
  reactor_ = Reactor::current();
  if (reactor_ == nullptr) return true;
  if (relative_) deadline_ = reactor_->clock().now() + *relative_;
  return false;
}

}  // namespace coronet::coro
