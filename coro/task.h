// Task<T>: a lazy, move-only coroutine result. Nothing runs until the Task is co_awaited (or handed
// to spawn()/Reactor::block_on()). Completion transfers control straight back to the awaiting
// coroutine (symmetric transfer), so arbitrarily deep await chains run in constant stack. Frames
// come from the per-thread frame pool (frame_pool.h). Exceptions propagate to the awaiter.
//
// Misuse is reported, never undefined: awaiting an empty (moved-from/default) Task or awaiting the
// same Task twice throws TaskError inside the awaiting coroutine.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "coro/cancellation.h"
#include "coro/frame_pool.h"

namespace coronet::coro {

class TaskError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

template <typename T = void>
class Task;

namespace detail {

// Control transfer between coroutines without growing the stack, at any optimisation level.
// Compilers implement symmetric transfer (await_suspend returning a handle) as a tail call only
// when they can: GCC does at -O2, but not at -O1/-O0 nor under ASan/TSan, where a million-deep
// await chain then overflows the stack. So every resumption the runtime performs goes through
// resume(), a trampoline loop: transfer() inside it parks the next handle and returns the no-op
// coroutine (whose resumption returns at once), and the loop resumes the parked handle. Outside a
// trampoline, transfer() falls back to plain symmetric transfer.
struct Trampoline {
  std::coroutine_handle<> next;
  bool active = false;
};
inline thread_local Trampoline tls_trampoline;

inline std::coroutine_handle<> transfer(std::coroutine_handle<> h) noexcept {
  Trampoline& t = tls_trampoline;
  if (!t.active) return h;
  t.next = h;
  return std::noop_coroutine();
}

// Resumes `h` and every coroutine it transfers to, iteratively. Re-entrant: a nested call runs its
// own loop and restores the outer one's state.
inline void resume(std::coroutine_handle<> h) {
  Trampoline& t = tls_trampoline;
  const Trampoline outer = t;
  t.active = true;
  while (h) {
    t.next = nullptr;
    h.resume();
    h = t.next;
  }
  t = outer;
}

class PromiseBase {
 public:
  static void* operator new(std::size_t n) { return frame_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      return transfer(h.promise().continuation_);
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  // The cancellation state this coroutine observes (null: not cancellable).
  CancellationState* cancel_state() const { return cancel_; }
  void set_cancel_state(CancellationState* s) { cancel_ = s; }
  // An explicit token (with_token) wins over the one inherited from the awaiter.
  void set_explicit_token(CancellationState* s) {
    cancel_ = s;
    explicit_token_ = true;
  }
  void inherit_cancel_state(CancellationState* s) {
    if (!explicit_token_) cancel_ = s;
  }
  void set_continuation(std::coroutine_handle<> c) { continuation_ = c; }
  bool started() const { return started_; }
  void mark_started() { started_ = true; }
  bool consumed() const { return consumed_; }
  void mark_consumed() { consumed_ = true; }

 protected:
  void rethrow_if_failed() {
    if (exception_) std::rethrow_exception(exception_);
  }

  std::coroutine_handle<> continuation_ = std::noop_coroutine();
  CancellationState* cancel_ = nullptr;
  std::exception_ptr exception_;
  bool explicit_token_ = false;
  bool started_ = false;
  bool consumed_ = false;
};

// Cancellation state of an arbitrary awaiting coroutine: coronet promises expose one, foreign
// promise types observe no cancellation.
template <typename P>
CancellationState* cancel_state_of(std::coroutine_handle<P> h) {
  if constexpr (std::is_base_of_v<PromiseBase, P>) {
    return h.promise().cancel_state();
  } else {
    (void)h;
    return nullptr;
  }
}

template <typename T>
class TaskPromise : public PromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  template <typename U>
  void return_value(U&& v) {
    value_.template emplace<1>(std::forward<U>(v));
  }
  T take_result() {
    rethrow_if_failed();
    return std::move(std::get<1>(value_));
  }

 private:
  std::variant<std::monostate, T> value_;
};

template <>
class TaskPromise<void> : public PromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take_result() { rethrow_if_failed(); }
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
  static_assert(!std::is_reference_v<T>, "Task<T&> is not supported; return a pointer");

 public:
  using promise_type = detail::TaskPromise<T>;
  using value_type = T;
  using Handle = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(Handle h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool valid() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return h_ && h_.done(); }

  // Makes this task (and everything it awaits) observe `token` instead of inheriting the token of
  // whoever awaits it.
  Task&& with_token(CancellationToken token) && {
    if (h_) h_.promise().set_explicit_token(token.state());
    return std::move(*this);
  }

  class Awaiter {
   public:
    explicit Awaiter(Handle h) noexcept : h_(h) {}
    bool await_ready() const noexcept { return !h_ || h_.promise().started(); }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      auto& p = h_.promise();
      p.mark_started();
      p.set_continuation(awaiting);
      p.inherit_cancel_state(detail::cancel_state_of(awaiting));
      return detail::transfer(h_);  // start the child without growing the stack
    }
    T await_resume() {
      if (!h_) {
        throw TaskError("co_await on an empty Task (default-constructed or moved-from)");
      }
      if (!h_.done()) throw TaskError("co_await on a Task that is already being awaited");
      auto& p = h_.promise();
      if (p.consumed()) throw TaskError("co_await on a Task whose result was already taken");
      p.mark_consumed();
      return p.take_result();
    }

   private:
    Handle h_;
  };

  Awaiter operator co_await() && noexcept { return Awaiter(h_); }
  Awaiter operator co_await() & noexcept { return Awaiter(h_); }

  // For the runtime's own machinery (spawn, block_on): the raw handle, ownership kept.
  Handle handle() const noexcept { return h_; }

 private:
  void reset() noexcept {
    if (h_) {
      h_.destroy();
      h_ = {};
    }
  }
  Handle h_;
};

namespace detail {
template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

namespace detail {
// void results become std::monostate so they fit in optionals, tuples and variants.
template <typename T>
using value_or_monostate_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// co_await CurrentCancelState{}: the cancellation state of the awaiting coroutine, without
// suspending.
struct CurrentCancelState {
  CancellationState* state = nullptr;
  bool await_ready() const noexcept { return false; }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    state = cancel_state_of(h);
    return false;
  }
  CancellationState* await_resume() const noexcept { return state; }
};
}  // namespace detail

// co_await current_token(): the token the calling coroutine observes (for polling
// cancellation_requested() in long computations).
struct CurrentTokenAwaiter : detail::CurrentCancelState {
  CancellationToken await_resume() const noexcept { return CancellationToken(state); }
};
inline CurrentTokenAwaiter current_token() { return {}; }

// The value a co_await on Task<T> produces, for generic code.
template <typename A>
using await_result_t = decltype(std::declval<A>().operator co_await().await_resume());

}  // namespace coronet::coro
