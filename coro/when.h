// Shared machinery of when_all/when_any: a child coroutine per task that stores its outcome in a
// slot and, when done, counts down a latch; the last one transfers control back to the parent.
#pragma once

#include <array>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "coro/task.h"

namespace coronet::coro::detail {

struct Latch {
  std::size_t remaining = 0;
  std::coroutine_handle<> waiter;
  // Optional hook run when a child finishes (when_any uses it to pick a winner).
  void (*on_child_done)(Latch*, std::size_t index) = nullptr;
};

template <typename T>
struct Slot {
  std::optional<value_or_monostate_t<T>> value;
  std::exception_ptr error;
};

class ChildPromise;

class [[nodiscard]] Child {
 public:
  using promise_type = ChildPromise;
  explicit Child(std::coroutine_handle<ChildPromise> h) : h_(h) {}
  Child(Child&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Child& operator=(Child&&) = delete;
  ~Child();
  std::coroutine_handle<ChildPromise> handle() const { return h_; }

 private:
  std::coroutine_handle<ChildPromise> h_;
};

class ChildPromise : public PromiseBase {
 public:
  Child get_return_object() noexcept {
    return Child(std::coroutine_handle<ChildPromise>::from_promise(*this));
  }
  void return_void() noexcept {}
  struct Final {
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<ChildPromise> h) noexcept {
      ChildPromise& p = h.promise();
      Latch* l = p.latch_;
      if (l->on_child_done != nullptr) l->on_child_done(l, p.index_);
      if (--l->remaining == 0) return transfer(l->waiter);
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  Final final_suspend() noexcept { return {}; }
  void start(Latch* latch, std::size_t index, CancellationState* cancel) {
    latch_ = latch;
    index_ = index;
    set_cancel_state(cancel);
  }

 private:
  Latch* latch_ = nullptr;
  std::size_t index_ = 0;
};

inline Child::~Child() {
  if (h_) h_.destroy();
}

template <typename T>
Child run_child(Task<T> task, Slot<T>& slot) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      slot.value.emplace();
    } else {
      slot.value.emplace(co_await std::move(task));
    }
  } catch (...) {
    slot.error = std::current_exception();
  }
}

// co_await StartAll{...}: starts every child under `cancel` (null: the awaiting coroutine's
// token) and suspends until the latch reaches zero.
// One child per task, each writing into the matching slot of `slots`.
template <typename... Ts>
std::array<Child, sizeof...(Ts)> make_children(std::tuple<Slot<Ts>...>& slots, Task<Ts>... tasks) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::array<Child, sizeof...(Ts)>{run_child(std::move(tasks), std::get<I>(slots))...};
  }(std::index_sequence_for<Ts...>{});
}

template <std::size_t N>
struct StartAll {
  std::array<Child, N>& children;
  Latch& latch;
  CancellationState* cancel = nullptr;
  bool use_parent_token = true;
  bool await_ready() const noexcept { return N == 0; }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> parent) {
    latch.remaining = N + 1;  // +1: the parent itself, released below
    latch.waiter = parent;
    CancellationState* state = use_parent_token ? cancel_state_of(parent) : cancel;
    for (std::size_t i = 0; i < N; ++i) {
      auto h = children[i].handle();
      h.promise().start(&latch, i, state);
      resume(h);
    }
    return --latch.remaining > 0;
  }
  void await_resume() const noexcept {}
};

}  // namespace coronet::coro::detail
