// Micro-benchmarks of the coroutine runtime, each to be read as a ratio against BM_IndirectCall
// (a call through a function pointer the compiler cannot see through) measured in the same run.
//   bazel run --config=opt //benchmarks:coro_bench
#include <benchmark/benchmark.h>

#include <coroutine>
#include <vector>

#include "coro/reactor.h"
#include "coro/runtime.h"
#include "coro/when_all.h"

namespace coronet::coro {
namespace {

Task<int> trivial(int x) { co_return x + 1; }

// Create a Task, await it to completion (two control transfers), destroy it: frame from the pool.
void BM_TaskCreateAwaitDestroy(benchmark::State& state) {
  Reactor r;
  r.block_on([](benchmark::State& s) -> Task<void> {
    int x = 0;
    for (auto _ : s) {
      x = co_await trivial(x);
      benchmark::DoNotOptimize(x);
    }
  }(state));
}
BENCHMARK(BM_TaskCreateAwaitDestroy);

// A bare resume/suspend pair: the caller resumes a coroutine that immediately suspends again.
struct Looper {
  struct promise_type {
    Looper get_return_object() {
      return Looper{std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() {}
    void unhandled_exception() {}
  };
  std::coroutine_handle<promise_type> h;
};

Looper loop_forever(long& counter) {
  for (;;) {
    ++counter;
    co_await std::suspend_always{};
  }
}

void BM_ResumeSuspendPair(benchmark::State& state) {
  long counter = 0;
  Looper l = loop_forever(counter);
  std::coroutine_handle<> h = l.h;
  for (auto _ : state) {
    benchmark::DoNotOptimize(h);
    h.resume();
  }
  benchmark::DoNotOptimize(counter);
  l.h.destroy();
}
BENCHMARK(BM_ResumeSuspendPair);

// The same pair through the reactor: yield() queues the coroutine, the next batch resumes it.
void BM_ReactorYieldRoundTrip(benchmark::State& state) {
  VirtualClock clock;
  Reactor r(ReactorOptions{.core = 0, .clock = &clock});
  r.block_on([](benchmark::State& s) -> Task<void> {
    for (auto _ : s) co_await yield();
  }(state));
}
BENCHMARK(BM_ReactorYieldRoundTrip);

// Timer insert + cancel through the reactor (wheel holding 100k other timers).
void BM_TimerArmCancel(benchmark::State& state) {
  VirtualClock clock;
  Reactor r(ReactorOptions{.core = 0, .clock = &clock});
  std::vector<TimerNode> background(100'000);
  for (std::size_t i = 0; i < background.size(); ++i) {
    r.arm_timer(background[i], clock.now() + std::chrono::milliseconds(1 + i % 5000));
  }
  TimerNode node;
  auto deadline = clock.now() + std::chrono::milliseconds(200);
  for (auto _ : state) {
    r.arm_timer(node, deadline);
    r.cancel_timer(node);
  }
}
BENCHMARK(BM_TimerArmCancel);

// Cross-core submit_to round trip, one request at a time (latency), between two pinned cores.
// Arg 0: reactors sleep when idle (futex wake per hop); 1: busy-poll (dedicated cores).
void BM_SubmitToRoundTrip(benchmark::State& state) {
  IdleMode idle = state.range(0) == 1 ? IdleMode::kBusyPoll : IdleMode::kSleep;
  Runtime rt(RuntimeOptions{.cores = 2, .idle = idle});
  rt.run([&state]() -> Task<void> {
    for (auto _ : state) {
      Result<int> r = co_await submit_to(1, [] { return 1; });
      benchmark::DoNotOptimize(r);
    }
  });
}
BENCHMARK(BM_SubmitToRoundTrip)->Arg(0)->Arg(1)->UseRealTime();

// Throughput: 64 submits in flight per batch; rings are flushed once per loop iteration.
void BM_SubmitToBatched64(benchmark::State& state) {
  IdleMode idle = state.range(0) == 1 ? IdleMode::kBusyPoll : IdleMode::kSleep;
  Runtime rt(RuntimeOptions{.cores = 2, .idle = idle});
  rt.run([&state]() -> Task<void> {
    for (auto _ : state) {
      std::vector<Task<Result<int>>> batch;
      batch.reserve(64);
      for (int i = 0; i < 64; ++i) batch.push_back(submit_to(1, [i] { return i; }));
      auto out = co_await when_all(std::move(batch));
      benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(state.iterations() * 64);
  });
}
BENCHMARK(BM_SubmitToBatched64)->Arg(0)->Arg(1)->UseRealTime();

}  // namespace
}  // namespace coronet::coro
