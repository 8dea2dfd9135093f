// Runtime: cross-core submit_to through SPSC rings, ring overflow, errors, Sharded<T>, shutdown
// with work still in flight. Tagged "tsan": tools/test runs it under ThreadSanitizer too.
#include "coro/runtime.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <thread>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "coro/sharded.h"
#include "coro/when_all.h"

namespace coronet::coro {
namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_THREAD__) || defined(CORONET_TSAN)
constexpr int kMany = 20'000;
#else
constexpr int kMany = 200'000;
#endif

TEST(Runtime, SubmitToRunsOnTheTargetCoreAndReturnsTheValue) {
  Runtime rt(RuntimeOptions{.cores = 2});
  std::vector<int> seen;
  rt.run([&]() -> Task<void> {
    for (unsigned c = 0; c < 2; ++c) {
      Result<int> r = co_await submit_to(c, [] { return Runtime::current_core() * 10 + 7; });
      EXPECT_TRUE(r.has_value());
      seen.push_back(*r);
    }
  });
  EXPECT_EQ(seen, (std::vector<int>{7, 17}));
}

TEST(Runtime, MainReturnsItsExitCode) {
  Runtime rt(RuntimeOptions{.cores = 2});
  EXPECT_EQ(rt.run([]() -> Task<int> { co_return 3; }), 3);
}

TEST(Runtime, SubmitToAwaitsATaskOnTheOtherCore) {
  Runtime rt(RuntimeOptions{.cores = 2});
  std::string out;
  rt.run([&]() -> Task<void> {
    Result<std::string> r = co_await submit_to(1, []() -> Task<std::string> {
      (void)co_await sleep_for(2ms);
      co_return "slept on core " + std::to_string(Runtime::current_core());
    });
    out = r ? *r : r.error().message();
  });
  EXPECT_EQ(out, "slept on core 1");
}

TEST(Runtime, ExceptionsThrownRemotelyAreRethrownInTheCaller) {
  Runtime rt(RuntimeOptions{.cores = 2});
  std::string what;
  rt.run([&]() -> Task<void> {
    try {
      (void)co_await submit_to(1, []() -> int { throw std::runtime_error("remote failure"); });
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
  });
  EXPECT_EQ(what, "remote failure");
}

TEST(Runtime, SubmitToACoreThatDoesNotExistIsAnError) {
  Runtime rt(RuntimeOptions{.cores = 2});
  std::string msg;
  rt.run([&]() -> Task<void> {
    Result<int> r = co_await submit_to(5, [] { return 1; });
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().code(), Errc::kNoSuchCore);
      msg = r.error().message();
    }
  });
  EXPECT_EQ(msg, "no such core: submit_to core 5, runtime has 2 cores");
}

TEST(Runtime, SubmitToOutsideARuntimeIsAnError) {
  Reactor r;
  Result<int> res = r.block_on(submit_to(0, [] { return 1; }));
  ASSERT_FALSE(res.has_value());
  EXPECT_EQ(res.error().code(), Errc::kNotOnReactor);
}

TEST(Runtime, ManyConcurrentSubmitsOverflowTheRingsAndAllComplete) {
  // Far more requests in flight than a ring holds (1024): the overflow lists keep order and
  // nothing is lost.
  Runtime rt(RuntimeOptions{.cores = 2});
  long total = 0;
  rt.run([&]() -> Task<void> {
    std::vector<Task<Result<long>>> tasks;
    tasks.reserve(kMany);
    for (int i = 0; i < kMany; ++i) {
      tasks.push_back(submit_to(1, [i] { return static_cast<long>(i); }));
    }
    for (auto& r : co_await when_all(std::move(tasks))) total += r.value();
  });
  EXPECT_EQ(total, static_cast<long>(kMany) * (kMany - 1) / 2);
}

TEST(Runtime, PingPongBetweenFourCores) {
  Runtime rt(RuntimeOptions{.cores = 4});
  std::atomic<int> hops{0};
  rt.run([&]() -> Task<void> {
    // Each core forwards to the next until 4,000 hops are done: requests issued from every core.
    struct Hop {
      static Task<int> go(int left, std::atomic<int>& n) {
        if (left == 0) co_return 0;
        n.fetch_add(1, std::memory_order_relaxed);
        unsigned next = (static_cast<unsigned>(Runtime::current_core()) + 1) % 4;
        Result<int> r = co_await submit_to(next, [left, &n] { return go(left - 1, n); });
        co_return r.value() + 1;
      }
    };
    int depth = co_await Hop::go(4000, hops);
    EXPECT_EQ(depth, 4000);
  });
  EXPECT_EQ(hops.load(), 4000);
}

struct Counter {
  explicit Counter(int start) : value(start) {}
  long value;
  int core = Runtime::current_core();
};

TEST(Sharded, OneInstancePerCoreBuiltOnItsOwnCore) {
  Runtime rt(RuntimeOptions{.cores = 3});
  long sum = 0;
  std::vector<int> cores;
  rt.run([&]() -> Task<void> {
    Sharded<Counter> counters;
    EXPECT_TRUE((co_await counters.start(100)).has_value());
    for (unsigned c = 0; c < 3; ++c) {
      (void)co_await submit_to(c, [&counters, c] {
        counters.local().value += c;
      });
    }
    EXPECT_TRUE((co_await counters.invoke_on_all([](Counter& k) { k.value *= 2; })).has_value());
    for (unsigned c = 0; c < 3; ++c) {
      auto v = co_await counters.invoke_on(c, [](Counter& k) { return k.value; });
      sum += v.value();
      auto where = co_await counters.invoke_on(c, [](Counter& k) { return k.core; });
      cores.push_back(where.value());
    }
    auto bad = co_await counters.invoke_on(9, [](Counter& k) { return k.value; });
    EXPECT_EQ(bad.error().code(), Errc::kNoSuchCore);
    EXPECT_TRUE((co_await counters.stop()).has_value());
  });
  EXPECT_EQ(sum, 2 * (100 + 101 + 102));
  EXPECT_EQ(cores, (std::vector<int>{0, 1, 2}));
}

TEST(Sharded, LocalBeforeStartIsAClearError) {
  Sharded<Counter> s;
  EXPECT_THROW(s.local(), TaskError);
}

TEST(Runtime, StopWithWorkInFlightOnOtherCoresDestroysEveryUnfinishedTask) {
  // Core 0 spawns tasks that wait on core 1, where the remote work sleeps for an hour; main
  // returns after 5 ms. Every unfinished frame (10 waiting on core 0, 10 sleeping on core 1) must
  // be destroyed on its own core: counted here, and ASan/TSan runs check memory and races.
  std::atomic<int> destroyed{0};
  struct Guard {
    std::atomic<int>* n;
    ~Guard() { n->fetch_add(1); }
  };
  Runtime rt(RuntimeOptions{.cores = 2});
  rt.run([&]() -> Task<void> {
    for (int i = 0; i < 10; ++i) {
      spawn([](std::atomic<int>& n) -> Task<void> {
        Guard g{&n};
        (void)co_await submit_to(1, [&n]() -> Task<void> {
          Guard remote{&n};
          (void)co_await sleep_for(1h);
        });
      }(destroyed));
    }
    (void)co_await sleep_for(5ms);
  });
  EXPECT_EQ(destroyed.load(), 20);
}

// Per-core hooks: start runs on each core's thread before any task anywhere (so main can reach
// what every core built), stop runs on the same thread after that core's tasks are gone.
TEST(Runtime, CoreHooksBuildAndTearDownPerCoreStateOnItsOwnThread) {
  constexpr unsigned kCores = 3;
  struct PerCore {
    std::thread::id built_on;
    int served = 0;
    bool task_destroyed_first = false;
  };
  std::array<std::unique_ptr<PerCore>, kCores> state;
  std::array<std::thread::id, kCores> torn_down_on;
  std::atomic<int> live_tasks{0};
  struct Count {
    std::atomic<int>* n;
    ~Count() { n->fetch_sub(1); }
  };
  RuntimeOptions o{.cores = kCores};
  o.on_core_start = [&](unsigned c, Reactor& r) {
    state[c] = std::make_unique<PerCore>();
    state[c]->built_on = std::this_thread::get_id();
    live_tasks.fetch_add(1);
    // A task that outlives main: destroyed at shutdown, before on_core_stop.
    r.spawn([](std::atomic<int>& n) -> Task<void> {
      Count guard{&n};
      (void)co_await sleep_for(1h);
    }(live_tasks));
  };
  o.on_core_stop = [&](unsigned c) {
    torn_down_on[c] = std::this_thread::get_id();
    state[c]->task_destroyed_first = live_tasks.load() < static_cast<int>(kCores);
  };
  Runtime rt(o);
  rt.run([&]() -> Task<void> {
    for (unsigned c = 0; c < kCores; ++c) {
      auto r = co_await submit_to(c, [&state, c] {
        ++state[c]->served;
        return state[c]->built_on == std::this_thread::get_id();
      });
      EXPECT_TRUE(r.has_value() && *r) << "core " << c;
    }
  });
  EXPECT_EQ(live_tasks.load(), 0);
  for (unsigned c = 0; c < kCores; ++c) {
    EXPECT_EQ(state[c]->served, 1);
    EXPECT_EQ(torn_down_on[c], state[c]->built_on) << "core " << c;
    EXPECT_TRUE(state[c]->task_destroyed_first) << "core " << c;
  }
}

TEST(Runtime, BadOptionsAreRejected) {
  EXPECT_THROW(Runtime(RuntimeOptions{.cores = 0}), std::invalid_argument);
  EXPECT_THROW(Runtime(RuntimeOptions{.cores = 2, .cpus = {0}}), std::invalid_argument);
}

}  // namespace
}  // namespace coronet::coro
