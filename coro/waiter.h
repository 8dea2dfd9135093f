// The intrusive building blocks of every suspending awaitable:
//  - Suspension: one suspended coroutine. It lives inside the awaiter, i.e. inside the coroutine
//    frame, so waiting never allocates. It completes exactly once: either by its event source
//    (complete()) or by cancellation of the token its coroutine observes, whichever comes first;
//    the loser is a no-op. Completion only schedules the coroutine on its reactor's run queue.
//  - WaitQueue: an intrusive FIFO of suspensions (event waiters, the reactor's run queue).
// Destroying a Suspension (its frame was destroyed) unlinks it from whatever queue holds it.
#pragma once

#include <coroutine>
#include <cstddef>

#include "coro/cancellation.h"
#include "coro/result.h"
#include "coro/task.h"

namespace coronet::coro {

class Reactor;
class Suspension;
class WaitQueue;

namespace detail {
// Appends `s` to `r`'s run queue (reactor.cc).
void schedule_on(Reactor& r, Suspension& s);
}  // namespace detail

class Suspension {
 public:
  Suspension() = default;
  ~Suspension();
  Suspension(const Suspension&) = delete;
  Suspension& operator=(const Suspension&) = delete;

  // Binds the coroutine to resume and the reactor to resume it on; no cancellation.
  void bind(std::coroutine_handle<> h, Reactor& r) {
    handle_ = h;
    reactor_ = &r;
    done_ = false;
    cancelled_ = false;
  }
  // bind() plus cancellation by the token `h` observes. Returns false when cancellation was
  // already requested: the caller must then not suspend (result() reports kCancelled).
  template <typename P>
  bool prepare(std::coroutine_handle<P> h, Reactor& r) {
    bind(h, r);
    return watch(detail::cancel_state_of(h));
  }
  bool watch(CancellationState* state);

  // Schedules the coroutine (once). Returns false if the wait already completed or was cancelled.
  bool complete();
  bool done() const { return done_; }
  bool cancelled() const { return cancelled_; }
  Result<void> result() const {
    if (cancelled_) return Error(Errc::kCancelled);
    return {};
  }
  std::coroutine_handle<> handle() const { return handle_; }
  bool queued() const { return queue_ != nullptr; }

  // Called (before scheduling) when the wait is cancelled, e.g. to disarm a timer or withdraw a
  // request. Set after prepare().
  using CancelHook = void (*)(Suspension*, void* ctx);
  void set_cancel_hook(CancelHook hook, void* ctx) {
    hook_ = hook;
    hook_ctx_ = ctx;
  }

 private:
  friend class WaitQueue;
  struct Reg : CancellationRegistration {
    Suspension* owner = nullptr;
  };
  static void on_cancel(CancellationRegistration* r);
  void unlink();

  std::coroutine_handle<> handle_;
  Reactor* reactor_ = nullptr;
  Suspension* prev_ = nullptr;
  Suspension* next_ = nullptr;
  WaitQueue* queue_ = nullptr;
  Reg reg_;
  CancelHook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
  bool done_ = false;
  bool cancelled_ = false;
};

class WaitQueue {
 public:
  WaitQueue() = default;
  // Detaches every waiter without resuming it (their frames are being torn down too).
  ~WaitQueue();
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  void push_back(Suspension& s);
  Suspension* pop_front();
  void remove(Suspension& s);
  bool empty() const { return head_ == nullptr; }
  std::size_t size() const { return size_; }

  // Completes waiters in FIFO order; each resumes once, on its own reactor, in a later batch.
  std::size_t wake_all();
  bool wake_one();

  // co_await q.wait(): suspends until woken (Result ok) or cancelled (Errc::kCancelled).
  class WaitAwaiter;
  WaitAwaiter wait();

 private:
  Suspension* head_ = nullptr;
  Suspension* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace coronet::coro
