// with_timeout(task, d): runs `task` under a fresh cancellation source that is cancelled when `d`
// elapses (or when the caller's own token is cancelled). The task is always awaited to completion
// (structured: nothing keeps running behind the caller's back). The result:
//  - the task's own result when it finished (even if it finished after the deadline by ignoring
//    cancellation: nothing is lost);
//  - Errc::kTimedOut when the deadline fired and the task then reported Errc::kCancelled;
//  - Errc::kCancelled when the caller's token was cancelled.
// Task<T> with T = Result<U> yields Result<U>; any other T yields Result<T>. Never throws for a
// timeout; exceptions thrown by the task propagate unchanged.
#pragma once

#include <type_traits>
#include <utility>

#include "coro/reactor.h"

namespace coronet::coro {

template <typename T>
using timeout_result_t = std::conditional_t<is_result_v<T>, T, Result<T>>;

namespace detail {

struct TimeoutTimer : TimerNode {
  TimeoutTimer() : TimerNode(&TimeoutTimer::expire) {}
  CancellationSource* source = nullptr;
  bool fired = false;
  static void expire(TimerNode* n) {
    auto* t = static_cast<TimeoutTimer*>(n);
    t->fired = true;
    (void)t->source->cancel();
  }
};

template <typename R>
bool is_cancelled(const R& r) {
  if constexpr (is_result_v<R>) {
    return !r.has_value() && r.error().code() == Errc::kCancelled;
  } else {
    return false;
  }
}

}  // namespace detail

template <typename T>
Task<timeout_result_t<T>> with_timeout(Task<T> task, Duration timeout) {
  using R = timeout_result_t<T>;
  Reactor* reactor = Reactor::current();
  if (reactor == nullptr) co_return Error(Errc::kNotOnReactor, "with_timeout off a reactor thread");
  if (!task.valid()) {
    throw TaskError("with_timeout: empty Task (default-constructed or moved-from)");
  }
  LinkedSource source(co_await detail::CurrentCancelState{});
  detail::TimeoutTimer timer;
  timer.source = &source.source();
  reactor->arm_timer(timer, reactor->clock().now() + timeout);

  auto finish = [&](R r) -> R {
    reactor->cancel_timer(timer);
    if (timer.fired && detail::is_cancelled(r)) return Error(Errc::kTimedOut);
    return r;
  };
  if constexpr (std::is_void_v<T>) {
    co_await std::move(task).with_token(source.token());
    co_return finish(R{});
  } else {
    co_return finish(R(co_await std::move(task).with_token(source.token())));
  }
}

// Runs `task` observing `token` instead of the caller's token.
template <typename T>
Task<T> with_cancellation(Task<T> task, CancellationToken token) {
  co_return co_await std::move(task).with_token(token);
}
template <>
inline Task<void> with_cancellation(Task<void> task, CancellationToken token) {
  co_await std::move(task).with_token(token);
}

}  // namespace coronet::coro
