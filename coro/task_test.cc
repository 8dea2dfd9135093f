// Task<T>: laziness, results, exceptions, symmetric transfer on deep chains, misuse errors, and
// frame allocation from the per-thread pool.
#include "coro/task.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "coro/frame_pool.h"
#include "coro/reactor.h"

// Counts every call to the global allocator in this test binary.
static std::atomic<long> g_global_news{0};
void* operator new(std::size_t n) {
  g_global_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace coronet::coro {
namespace {

Task<int> answer() { co_return 42; }

Task<int> add_one(Task<int> t) { co_return co_await std::move(t) + 1; }

Task<void> set_flag(bool& flag) {
  flag = true;
  co_return;
}

Task<int> thrower() {
  throw std::runtime_error("boom");
  co_return 0;
}

Task<long> chain(long n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await chain(n - 1);
}

TEST(Task, IsLazyUntilAwaited) {
  Reactor r;
  bool flag = false;
  Task<void> t = set_flag(flag);
  EXPECT_FALSE(flag);
  r.block_on(std::move(t));
  EXPECT_TRUE(flag);
}

TEST(Task, ReturnsValueThroughAwaitChain) {
  Reactor r;
  EXPECT_EQ(r.block_on(add_one(add_one(answer()))), 44);
}

TEST(Task, MoveOnlyResultType) {
  Reactor r;
  auto make = []() -> Task<std::unique_ptr<std::string>> {
    co_return std::make_unique<std::string>("moved");
  };
  auto p = r.block_on(make());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, "moved");
}

TEST(Task, ExceptionPropagatesToAwaiter) {
  Reactor r;
  auto outer = []() -> Task<std::string> {
    try {
      co_await thrower();
    } catch (const std::runtime_error& e) {
      co_return std::string("caught ") + e.what();
    }
    co_return "not caught";
  };
  EXPECT_EQ(r.block_on(outer()), "caught boom");
  EXPECT_THROW(r.block_on(thrower()), std::runtime_error);
}

TEST(Task, MillionDeepChainRunsInConstantStack) {
  Reactor r;
  // Each level would take a few hundred bytes of stack without symmetric transfer: a million
  // levels would overflow the default 8 MiB stack many times over.
  EXPECT_EQ(r.block_on(chain(1'000'000)), 1'000'000);
}

TEST(Task, AwaitingEmptyTaskIsAClearError) {
  Reactor r;
  auto outer = []() -> Task<std::string> {
    Task<int> a = answer();
    Task<int> b = std::move(a);
    try {
      co_await std::move(a);  // NOLINT(bugprone-use-after-move): the point of the test
    } catch (const TaskError& e) {
      co_return e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(r.block_on(outer()),
            "co_await on an empty Task (default-constructed or moved-from)");
}

TEST(Task, AwaitingTwiceIsAClearError) {
  Reactor r;
  auto outer = []() -> Task<std::string> {
    Task<int> a = answer();
    int first = co_await a;
    try {
      co_await a;
    } catch (const TaskError& e) {
      co_return std::to_string(first) + ": " + e.what();
    }
    co_return "no error";
  };
  EXPECT_EQ(r.block_on(outer()), "42: co_await on a Task whose result was already taken");
}

TEST(Task, BlockOnEmptyTaskThrows) {
  Reactor r;
  EXPECT_THROW(r.block_on(Task<int>()), TaskError);
}

TEST(Task, DestroyingUnstartedTaskRunsNothing) {
  bool flag = false;
  { Task<void> t = set_flag(flag); }
  EXPECT_FALSE(flag);
}

TEST(Task, SteadyStateCreateAwaitDestroyDoesNotCallGlobalAllocator) {
  Reactor r;
  auto loop = [](int n) -> Task<long> {
    long sum = 0;
    for (int i = 0; i < n; ++i) sum += co_await add_one(answer());
    co_return sum;
  };
  EXPECT_EQ(r.block_on(loop(10)), 430);  // warm the pool's size classes
  FramePoolStats before = frame_pool_stats();
  long news_before = g_global_news.load();
  long sum = 0;
  for (int round = 0; round < 100; ++round) {
    // Inner loop in one coroutine: 2,000 tasks created, awaited and destroyed per round.
    auto inner = [](int n) -> Task<long> {
      long s = 0;
      for (int i = 0; i < n; ++i) s += co_await add_one(answer());
      co_return s;
    };
    Task<long> t = inner(1000);
    sum += r.block_on(std::move(t));
  }
  EXPECT_EQ(sum, 100L * 1000 * 43);
  FramePoolStats after = frame_pool_stats();
  // block_on itself keeps a couple of frames per round; all come from the pool.
  EXPECT_EQ(after.global_allocs, before.global_allocs);
  EXPECT_GE(after.pool_hits - before.pool_hits, 200'000u);
  EXPECT_EQ(g_global_news.load() - news_before, 0);
}

TEST(FramePool, LargeFramesBypassThePool) {
  auto big = []() -> Task<int> {
    char buf[8192];
    buf[0] = 1;
    co_await yield();
    co_return buf[0];
  };
  Reactor r;
  FramePoolStats before = frame_pool_stats();
  EXPECT_EQ(r.block_on(big()), 1);
  FramePoolStats after = frame_pool_stats();
  EXPECT_GE(after.global_allocs - before.global_allocs, 1u);
}

}  // namespace
}  // namespace coronet::coro
