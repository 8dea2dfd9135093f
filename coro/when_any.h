// when_any(tasks...): runs the tasks concurrently; the first to finish wins. The others are then
// cancelled (their awaits resume with Errc::kCancelled) and awaited to completion, so nothing
// outlives the call. Yields std::variant<values...> whose index() names the winner (void ->
// std::monostate). If the winner threw, its exception is rethrown. Losers' results are dropped.
#pragma once

#include <utility>
#include <variant>

#include "coro/when.h"

namespace coronet::coro {

namespace detail {

struct AnyLatch : Latch {
  CancellationSource* losers = nullptr;
  std::size_t winner = static_cast<std::size_t>(-1);
  static void child_done(Latch* l, std::size_t index) {
    auto* a = static_cast<AnyLatch*>(l);
    if (a->winner != static_cast<std::size_t>(-1)) return;
    a->winner = index;
    (void)a->losers->cancel();  // only schedules the other children; none resumes inline
  }
};

}  // namespace detail

template <typename... Ts>
Task<std::variant<detail::value_or_monostate_t<Ts>...>> when_any(Task<Ts>... tasks) {
  static_assert(sizeof...(Ts) > 0, "when_any needs at least one task");
  constexpr std::size_t N = sizeof...(Ts);
  using Out = std::variant<detail::value_or_monostate_t<Ts>...>;
  std::tuple<detail::Slot<Ts>...> slots;
  LinkedSource source(co_await detail::CurrentCancelState{});
  detail::AnyLatch latch;
  latch.losers = &source.source();
  latch.on_child_done = &detail::AnyLatch::child_done;
  auto children = detail::make_children(slots, std::move(tasks)...);
  co_await detail::StartAll<N>{children, latch, source.token().state(), false};
  std::optional<Out> out;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (((I == latch.winner)
          ? (std::get<I>(slots).error ? std::rethrow_exception(std::get<I>(slots).error)
                                      : void(out.emplace(std::in_place_index<I>,
                                                         std::move(*std::get<I>(slots).value))))
          : void()),
     ...);
  }(std::index_sequence_for<Ts...>{});
  co_return std::move(*out);
}

}  // namespace coronet::coro
