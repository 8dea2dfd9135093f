// when_all / when_any: concurrency, results, exceptions, cancellation of the losers.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "coro/reactor.h"
#include "coro/testing.h"
#include "coro/when_all.h"
#include "coro/when_any.h"

namespace coronet::coro {
namespace {

using namespace std::chrono_literals;
using testing::VirtualReactor;

Task<int> after(Duration d, int v) {
  (void)co_await sleep_for(d);
  co_return v;
}

Task<void> after_void(Duration d, bool& flag) {
  (void)co_await sleep_for(d);
  flag = true;
}

TEST(WhenAll, RunsConcurrentlyAndReturnsEveryValue) {
  VirtualReactor v;
  bool flag = false;
  TimePoint start = v.clock.now();
  auto [a, b, c] =
      v.reactor.block_on(when_all(after(30ms, 1), after(10ms, 2), after_void(20ms, flag)));
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_TRUE(flag);
  (void)c;
  EXPECT_EQ(v.clock.now() - start, Duration(30ms));  // concurrent: the longest, not the sum
}

TEST(WhenAll, VectorFormKeepsOrder) {
  VirtualReactor v;
  std::vector<Task<int>> tasks;
  for (int i = 0; i < 100; ++i) tasks.push_back(after(std::chrono::milliseconds(100 - i), i));
  std::vector<int> out = v.reactor.block_on(when_all(std::move(tasks)));
  ASSERT_EQ(out.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(out[i], i);
}

TEST(WhenAll, EmptyVectorCompletesImmediately) {
  VirtualReactor v;
  EXPECT_TRUE(v.reactor.block_on(when_all(std::vector<Task<int>>{})).empty());
}

TEST(WhenAll, SynchronousChildrenComplete) {
  VirtualReactor v;
  auto now = [](int x) -> Task<int> { co_return x; };
  auto [a, b] = v.reactor.block_on(when_all(now(1), now(2)));
  EXPECT_EQ(a + b, 3);
}

TEST(WhenAll, RethrowsTheFirstExceptionAfterAllFinish) {
  VirtualReactor v;
  bool slow_finished = false;
  auto fail = []() -> Task<int> {
    (void)co_await sleep_for(1ms);
    throw std::runtime_error("first");
  };
  auto run = [&]() -> Task<std::string> {
    try {
      co_await when_all(fail(), after_void(50ms, slow_finished));
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "none";
  };
  EXPECT_EQ(v.reactor.block_on(run()), "first");
  EXPECT_TRUE(slow_finished);
}

TEST(WhenAny, FirstToFinishWinsAndLosersAreCancelled) {
  VirtualReactor v;
  TimePoint start = v.clock.now();
  Result<void> loser_result;
  auto loser = [](Result<void>& out) -> Task<int> {
    out = co_await sleep_for(1h);
    co_return -1;
  };
  auto r = v.reactor.block_on(when_any(loser(loser_result), after(5ms, 42)));
  ASSERT_EQ(r.index(), 1u);
  EXPECT_EQ(std::get<1>(r), 42);
  ASSERT_FALSE(loser_result.has_value());
  EXPECT_EQ(loser_result.error().code(), Errc::kCancelled);
  EXPECT_EQ(v.clock.now() - start, Duration(5ms));  // did not wait for the hour
  EXPECT_EQ(v.reactor.armed_timers(), 0u);
}

TEST(WhenAny, WinnerExceptionIsRethrown) {
  VirtualReactor v;
  auto fail = []() -> Task<int> {
    throw std::logic_error("winner failed");
    co_return 0;
  };
  EXPECT_THROW(v.reactor.block_on(when_any(fail(), after(1s, 1))), std::logic_error);
}

TEST(WhenAny, OuterCancellationReachesAllChildren) {
  VirtualReactor v;
  CancellationSource outer;
  (void)outer.cancel();
  auto r = v.reactor.block_on(
      when_any(after(1h, 1), after(2h, 2)).with_token(outer.token()));
  // Both were cancelled at once; the first to report (child 0) wins with its value.
  EXPECT_EQ(r.index(), 0u);
  EXPECT_EQ(v.clock.now(), TimePoint{});
}

}  // namespace
}  // namespace coronet::coro
