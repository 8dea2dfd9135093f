// Reactor: batching, timers and sleeps on virtual and real time, spawn and its exceptions,
// poll sources, shutdown with unfinished tasks, misuse errors.
#include "coro/reactor.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <chrono>
#include <sstream>
#include <string>
#include <memory>
#include <vector>

#include "coro/event.h"
#include "coro/log.h"
#include "coro/testing.h"

namespace coronet::coro {
namespace {

using namespace std::chrono_literals;
using testing::VirtualReactor;

TEST(Reactor, SleepOnVirtualTimeJumpsStraightToTheDeadline) {
  VirtualReactor v;
  TimePoint start = v.clock.now();
  auto t = []() -> Task<Result<void>> { co_return co_await sleep_for(3600s); };
  EXPECT_TRUE(v.reactor.block_on(t()).has_value());
  EXPECT_EQ(v.clock.now() - start, Duration(3600s));
}

TEST(Reactor, SleepersWakeInDeadlineOrder) {
  VirtualReactor v;
  std::vector<int> order;
  auto sleeper = [](std::vector<int>& out, int id, Duration d) -> Task<void> {
    (void)co_await sleep_for(d);
    out.push_back(id);
  };
  v.reactor.spawn(sleeper(order, 3, 30ms));
  v.reactor.spawn(sleeper(order, 1, 10ms));
  v.reactor.spawn(sleeper(order, 2, 20ms));
  v.reactor.spawn(sleeper(order, 4, 5s));
  auto done = []() -> Task<void> { (void)co_await sleep_for(10s); };
  v.reactor.block_on(done());
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(v.reactor.stats().finished, 5u);  // 4 sleepers + block_on's root
}

TEST(Reactor, SleepNeverWakesEarly) {
  VirtualReactor v;
  auto t = [](VirtualClock& c) -> Task<Duration> {
    TimePoint a = c.now();
    (void)co_await sleep_for(1500us);
    co_return c.now() - a;
  };
  EXPECT_GE(v.reactor.block_on(t(v.clock)), Duration(1500us));
}

// Time passes during an iteration (sources polling, coroutines running): a timer that comes due
// meanwhile fires in that iteration, and its callback must see now() at or past its deadline.
// Otherwise a callback re-arming for "the rest of the wait" lands on the tick being fired and
// spins inside the wheel (RACK's reordering timer did, over TAP).
TEST(Reactor, TimerCallbackSeesTimeAtOrPastItsDeadline) {
  VirtualReactor v;
  struct Slow final : PollSource {
    VirtualClock* clock;
    bool poll() override {
      clock->advance(1ms);  // the work of this iteration took a millisecond
      return false;
    }
  } slow;
  slow.clock = &v.clock;
  v.reactor.add_poll_source(&slow);
  struct Node : TimerNode {
    Reactor* r = nullptr;
    TimePoint deadline{};
    TimePoint seen{};
    int fired = 0;
  } node;
  node.set_callback([](TimerNode* n) {
    auto* self = static_cast<Node*>(n);
    self->seen = self->r->now();
    if (++self->fired < 1000 && self->seen < self->deadline) {
      self->r->arm_timer(*self, self->deadline);  // "not yet": wait for the rest
    }
  });
  node.r = &v.reactor;
  node.deadline = v.clock.now() + 500us;
  v.reactor.arm_timer(node, node.deadline);
  v.reactor.run_once();
  EXPECT_EQ(node.fired, 1);
  EXPECT_GE(node.seen, node.deadline);
}

TEST(Reactor, RealClockSleepTakesAtLeastItsDuration) {
  Reactor r;
  auto t = []() -> Task<Duration> {
    auto a = std::chrono::steady_clock::now();
    (void)co_await sleep_for(20ms);
    co_return std::chrono::steady_clock::now() - a;
  };
  EXPECT_GE(r.block_on(t()), Duration(20ms));
  EXPECT_GE(r.stats().sleeps, 1u);  // it slept in the kernel rather than spinning
}

TEST(Reactor, YieldLetsOtherReadyCoroutinesRunInBatches) {
  VirtualReactor v;
  std::string trace;
  auto worker = [](std::string& out, char c) -> Task<void> {
    for (int i = 0; i < 3; ++i) {
      out.push_back(c);
      co_await yield();
    }
  };
  v.reactor.spawn(worker(trace, 'a'));
  v.reactor.spawn(worker(trace, 'b'));
  v.drain();
  EXPECT_EQ(trace, "ababab");
}

TEST(Reactor, EventWakesEveryWaiterOnce) {
  VirtualReactor v;
  Event ev;
  int woken = 0;
  auto waiter = [](Event& e, int& n) -> Task<void> {
    if (co_await e.wait()) ++n;
  };
  for (int i = 0; i < 5; ++i) v.reactor.spawn(waiter(ev, woken));
  v.reactor.run_once();
  EXPECT_EQ(ev.waiters(), 5u);
  ev.set();
  ev.set();  // a second set while they are queued must not resume anyone twice
  v.drain();
  EXPECT_EQ(woken, 5);
  EXPECT_EQ(v.reactor.live_tasks(), 0u);
}

TEST(Reactor, SpawnedTaskExceptionIsLoggedAndCounted) {
  std::ostringstream captured;
  log::set_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  {
    VirtualReactor v;
    auto bad = []() -> Task<void> {
      co_await yield();
      throw std::runtime_error("disk on fire");
    };
    v.reactor.spawn(bad());
    v.drain();
    EXPECT_EQ(v.reactor.stats().unhandled_exceptions, 1u);
    EXPECT_EQ(v.reactor.live_tasks(), 0u);
  }
  log::logger().flush();
  log::reset_sink();
  EXPECT_NE(captured.str().find("spawned task ended with an exception: disk on fire"),
            std::string::npos);
  EXPECT_NE(captured.str().find("[core 0]"), std::string::npos) << captured.str();
}

TEST(Reactor, ShutdownDestroysUnfinishedTasksAndTheirTimers) {
  VirtualClock clock;
  int destroyed = 0;
  struct Guard {
    int* n;
    ~Guard() { ++*n; }
  };
  {
    Reactor r(ReactorOptions{.clock = &clock});
    auto forever = [](int& n) -> Task<void> {
      Guard g{&n};
      (void)co_await sleep_for(24h);
    };
    auto nested = [](int& n, Task<void> inner) -> Task<void> {
      Guard g{&n};
      co_await std::move(inner);
    };
    Event never;
    auto waits = [](Event& e, int& n) -> Task<void> {
      Guard g{&n};
      (void)co_await e.wait();
    };
    r.spawn(forever(destroyed));
    r.spawn(nested(destroyed, forever(destroyed)));
    r.spawn(waits(never, destroyed));
    r.run_once();
    r.run_once();
    EXPECT_EQ(r.live_tasks(), 3u);
    EXPECT_EQ(r.armed_timers(), 2u);
    r.shutdown();
    EXPECT_EQ(r.live_tasks(), 0u);
    EXPECT_EQ(r.armed_timers(), 0u);
    EXPECT_EQ(r.stats().destroyed_at_shutdown, 3u);
    EXPECT_EQ(never.waiters(), 0u);
  }
  EXPECT_EQ(destroyed, 4);  // every frame's locals were destroyed (ASan checks the memory)
}

TEST(Reactor, BlockOnATaskThatCanNeverFinishThrows) {
  VirtualReactor v;
  Event never;
  auto t = [](Event& e) -> Task<void> { (void)co_await e.wait(); };
  EXPECT_THROW(v.reactor.block_on(t(never)), TaskError);
  EXPECT_EQ(never.waiters(), 0u);
  EXPECT_EQ(v.reactor.live_tasks(), 0u);
}

TEST(Reactor, OnlyOneReactorPerThread) {
  Reactor r;
  EXPECT_THROW(Reactor second, TaskError);
  EXPECT_EQ(Reactor::current(), &r);
}

TEST(Reactor, SpawnWithoutReactorOrWithEmptyTaskIsAnError) {
  auto y = []() -> Task<void> { co_await yield(); };
  EXPECT_THROW(spawn(y()), TaskError);
  Reactor r;
  EXPECT_THROW(r.spawn(Task<void>()), TaskError);
}

TEST(Reactor, SleepOffReactorReportsAnError) {
  // Driven by hand, without a reactor on this thread.
  auto t = []() -> Task<Result<void>> { co_return co_await sleep_for(1ms); };
  Task<Result<void>> task = t();
  auto h = task.handle();
  detail::resume(h);
  ASSERT_TRUE(h.done());
  Result<void> r = h.promise().take_result();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kNotOnReactor);
}

// A poll source that completes a waiter every poll until a budget runs out.
class CountingSource : public PollSource {
 public:
  explicit CountingSource(int budget) : budget_(budget) {}
  bool poll() override {
    ++polls;
    if (budget_ == 0 || ready.empty()) return false;
    --budget_;
    ready.wake_all();
    return true;
  }
  WaitQueue ready;
  int polls = 0;

 private:
  int budget_;
};

TEST(Reactor, PollSourcesRunEveryIterationAndFeedTheRunQueue) {
  VirtualReactor v;
  CountingSource src(3);
  v.reactor.add_poll_source(&src);
  auto consumer = [](CountingSource& s) -> Task<int> {
    int n = 0;
    while (n < 3) {
      if (co_await s.ready.wait()) ++n;
    }
    co_return n;
  };
  EXPECT_EQ(v.reactor.block_on(consumer(src)), 3);
  EXPECT_GE(src.polls, 3);
  v.reactor.remove_poll_source(&src);
}

// A source may add and remove sources from inside its own poll() (a driver created by a
// function that runs inside the cross-core poll): the iteration survives, and the new source is
// polled from then on.
TEST(Reactor, PollSourcesMayBeAddedAndRemovedFromInsideAPoll) {
  VirtualReactor v;
  CountingSource late(0);
  struct Spawner : PollSource {
    Reactor* r = nullptr;
    PollSource* add = nullptr;
    int polls = 0;
    bool poll() override {
      if (++polls == 1) {
        for (int i = 0; i < 64; ++i) r->add_poll_source(add);  // (added once; may reallocate)
        r->remove_poll_source(this);
      }
      return false;
    }
  } spawner;
  std::vector<std::unique_ptr<CountingSource>> filler;
  for (int i = 0; i < 40; ++i) filler.push_back(std::make_unique<CountingSource>(0));
  for (auto& f : filler) v.reactor.add_poll_source(f.get());
  spawner.r = &v.reactor;
  spawner.add = &late;
  v.reactor.add_poll_source(&spawner);
  for (int i = 0; i < 3; ++i) v.reactor.run_once();
  EXPECT_EQ(spawner.polls, 1);
  EXPECT_GE(late.polls, 2);
  for (auto& f : filler) v.reactor.remove_poll_source(f.get());
  v.reactor.remove_poll_source(&late);
}

}  // namespace
}  // namespace coronet::coro
