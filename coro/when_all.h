// when_all(tasks...): runs the tasks concurrently on this reactor and completes when all have.
// Yields a tuple of their values (void -> std::monostate). If any threw, the first exception (in
// argument order) is rethrown after all have finished. Children observe the caller's token.
#pragma once

#include <tuple>
#include <utility>
#include <vector>

#include "coro/when.h"

namespace coronet::coro {

template <typename... Ts>
Task<std::tuple<detail::value_or_monostate_t<Ts>...>> when_all(Task<Ts>... tasks) {
  constexpr std::size_t N = sizeof...(Ts);
  std::tuple<detail::Slot<Ts>...> slots;
  detail::Latch latch;
  auto children = detail::make_children(slots, std::move(tasks)...);
  co_await detail::StartAll<N>{children, latch};
  std::apply([](auto&... s) { ((s.error ? std::rethrow_exception(s.error) : void()), ...); },
             slots);
  co_return std::apply([](auto&... s) { return std::make_tuple(std::move(*s.value)...); }, slots);
}

namespace detail {
// Starts a runtime-sized set of children (the vector form of when_all).
struct StartVector {
  std::vector<Child>& children;
  Latch& latch;
  bool await_ready() const noexcept { return children.empty(); }
  template <typename P>
  bool await_suspend(std::coroutine_handle<P> parent) {
    latch.remaining = children.size() + 1;
    latch.waiter = parent;
    for (std::size_t i = 0; i < children.size(); ++i) {
      children[i].handle().promise().start(&latch, i, cancel_state_of(parent));
      resume(children[i].handle());
    }
    return --latch.remaining > 0;
  }
  void await_resume() const noexcept {}
};
}  // namespace detail

// Homogeneous form: one result per task, in order.
template <typename T>
Task<std::vector<detail::value_or_monostate_t<T>>> when_all(std::vector<Task<T>> tasks) {
  std::vector<detail::Slot<T>> slots(tasks.size());
  std::vector<detail::Child> children;
  children.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    children.push_back(detail::run_child(std::move(tasks[i]), slots[i]));
  }
  detail::Latch latch;
  co_await detail::StartVector{children, latch};
  std::vector<detail::value_or_monostate_t<T>> out;
  out.reserve(slots.size());
  for (auto& s : slots) {
    if (s.error) std::rethrow_exception(s.error);
  }
  for (auto& s : slots) out.push_back(std::move(*s.value));
  co_return out;
}

}  // namespace coronet::coro
