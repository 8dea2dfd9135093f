// Micro-benchmarks for coro::TimerWheel. Run: bazel run --config=opt //benchmarks:timer_wheel_bench
//
// The interesting numbers are per-operation costs with a realistically full wheel (1M armed TCP
// timers), compared against BM_IndirectCall: the floor every fired timer pays anyway for its
// callback.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "coro/timer_wheel.h"

namespace coronet::coro {
namespace {

constexpr int kBackgroundTimers = 1 << 20;
constexpr uint64_t kSpread = 1'000'000;

// Bumped by every fired timer so firing cannot be optimised away.
uint64_t g_fired = 0;
void CountFire(TimerNode*) { ++g_fired; }

// A pool of `n` nodes, all armed at random ticks in [now + 1, now + spread].
struct ArmedPool {
  ArmedPool(TimerWheel& wheel, int n, uint64_t spread, uint64_t seed)
      : nodes(std::make_unique<TimerNode[]>(n)) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < n; ++i) {
      nodes[i].set_callback(&CountFire);
      wheel.schedule(nodes[i], wheel.now() + 1 + rng() % spread);
    }
  }
  std::unique_ptr<TimerNode[]> nodes;
};

// Precomputed random values so the timed loops measure the wheel, not the RNG.
std::vector<uint64_t> RandomTable(size_t n, uint64_t bound, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> table(n);
  for (uint64_t& v : table) v = rng() % bound;
  return table;
}

// Arm then cancel one timer in a wheel holding 1M others (a short-lived delayed-ACK timer).
void BM_ScheduleCancel(benchmark::State& state) {
  TimerWheel wheel;
  ArmedPool pool(wheel, kBackgroundTimers, kSpread, 1);
  const std::vector<uint64_t> expiries = RandomTable(4096, kSpread, 2);
  TimerNode node(&CountFire);
  size_t i = 0;
  for (auto _ : state) {
    wheel.schedule(node, 1 + expiries[i++ & 4095]);
    benchmark::DoNotOptimize(wheel.cancel(node));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ScheduleCancel);

// The TCP RTO pattern: every ACK pushes an armed timer further out. Arg = number of distinct
// connections touched in random order: 1 keeps everything in L1, 1M pays the cache misses a busy
// engine core would (the wheel itself is only ~8 KiB of list heads).
void BM_Reschedule(benchmark::State& state) {
  const int connections = static_cast<int>(state.range(0));
  TimerWheel wheel;
  ArmedPool background(wheel, kBackgroundTimers - connections, kSpread, 3);
  ArmedPool conns(wheel, connections, kSpread, 4);
  const std::vector<uint64_t> picks = RandomTable(1 << 16, static_cast<uint64_t>(connections), 5);
  const std::vector<uint64_t> pushes = RandomTable(4096, 200, 6);
  size_t i = 0;
  for (auto _ : state) {
    TimerNode& node = conns.nodes[picks[i & 0xffff]];
    wheel.schedule(node, node.expiry() + 1 + pushes[i & 4095]);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Reschedule)->Arg(1)->Arg(1 << 20);

// Amortised cost per fired timer, including the cascades that bring it down to level 0 and the
// callback. Args: {timers per batch, spread in ticks, ticks per advance() call}. Arming the batch
// is excluded from the timing.
void BM_AdvanceFire(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const uint64_t spread = static_cast<uint64_t>(state.range(1));
  const uint64_t step = static_cast<uint64_t>(state.range(2));
  TimerWheel wheel;
  auto nodes = std::make_unique<TimerNode[]>(batch);
  for (int i = 0; i < batch; ++i) nodes[i].set_callback(&CountFire);
  const std::vector<uint64_t> offsets = RandomTable(batch, spread, 7);
  uint64_t fired = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const uint64_t base = wheel.now();
    for (int i = 0; i < batch; ++i) wheel.schedule(nodes[i], base + 1 + offsets[i]);
    state.ResumeTiming();
    for (uint64_t t = base + step; t < base + spread + step; t += step) fired += wheel.advance(t);
  }
  if (fired != static_cast<uint64_t>(batch) * state.iterations())
    state.SkipWithError("lost timers");
  state.SetItemsProcessed(static_cast<int64_t>(fired));
}
BENCHMARK(BM_AdvanceFire)
    ->Args({1 << 14, 1'000'000, 1000})   // 16K timers: node working set stays in cache.
    ->Args({1 << 16, 4096, 1})           // ~16 fires per tick, advanced every tick.
    ->Args({1 << 20, 1'000'000, 1})      // 1M timers over 1M ticks, advanced every tick.
    ->Args({1 << 20, 1'000'000, 1000});  // Same, advanced in 1000-tick jumps (e.g. idle core).

// advance() by one tick when nothing is due, with 1M timers armed further out: the price of
// calling advance() on every poll-loop iteration.
void BM_AdvanceIdle(benchmark::State& state) {
  TimerWheel wheel;
  ArmedPool pool(wheel, kBackgroundTimers, kSpread, 8);
  // Start past the timers' range so the loop never fires; re-arm them all beyond the horizon.
  wheel.advance(kSpread + 1);
  for (int i = 0; i < kBackgroundTimers; ++i) {
    wheel.schedule(pool.nodes[i], uint64_t{1} << 40 | static_cast<uint64_t>(i));
  }
  uint64_t t = wheel.now();
  for (auto _ : state) benchmark::DoNotOptimize(wheel.advance(++t));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdvanceIdle);

// Baseline: one call through a function pointer the compiler cannot see through, i.e. the
// callback dispatch every fired timer pays.
void BM_IndirectCall(benchmark::State& state) {
  TimerNode node;
  TimerNode::Callback cb = &CountFire;
  for (auto _ : state) {
    benchmark::DoNotOptimize(cb);  // Launders the pointer: no devirtualisation or inlining.
    cb(&node);
  }
  benchmark::DoNotOptimize(g_fired);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IndirectCall);

}  // namespace
}  // namespace coronet::coro
