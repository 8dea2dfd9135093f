// Packet I/O throughput over the in-process links, in 64-byte frames and bursts of 32, to be read
// against 10 GbE line rate for 64-byte frames (14.88 Mpps: 64 B + 20 B preamble/IFG per frame)
// and against BM_IndirectCall measured in the same run (these VMs are noisy; compare ratios).
//   bazel run --config=opt //benchmarks:wire_bench
//
// Each throughput benchmark reports items_per_second (frames/s) and x_10GbE (fraction of the
// 64-byte line rate). BM_ShmWire{Rx,Tx}TwoThreads run the producer and the consumer on two
// threads pinned to two different CPUs and time one side while the other runs flat out.
#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "coro/clock.h"
#include "nic/wire/shm_wire.h"
#include "nic/wire/wire.h"

namespace coronet::nic {
namespace {

constexpr std::size_t kBurst = 32;
constexpr std::uint32_t kFrameSize = 64;
constexpr double kLineRate64 = 14.88e6;  // 10 GbE, 64-byte frames

void report(benchmark::State& state, std::uint64_t frames) {
  state.SetItemsProcessed(static_cast<std::int64_t>(frames));
  state.SetBytesProcessed(static_cast<std::int64_t>(frames * kFrameSize));
  state.counters["x_10GbE"] =
      benchmark::Counter(static_cast<double>(frames) / kLineRate64, benchmark::Counter::kIsRate);
}

// Fills up to `want` packets of `pool` as 64-byte frames carrying a sequence number. The payload
// beyond it is written once per buffer (buffers recycle), as a stack would build headers only.
std::size_t make_frames(PacketPool& pool, std::span<Packet*> out, std::uint64_t& seq) {
  const std::size_t n = pool.alloc_bulk(out);
  for (std::size_t i = 0; i < n; ++i) {
    std::byte* d = out[i]->append(kFrameSize);
    std::memcpy(d, &seq, sizeof(seq));
    ++seq;
  }
  return n;
}

// A spinning side that found nothing to do backs off briefly, as a DPDK poll loop does
// (rte_pause): hammering the other side's index line would slow the side that has work.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Pins the calling thread to `cpu` (when the machine has it) and restores the old mask on exit.
class PinnedTo {
 public:
  explicit PinnedTo(unsigned cpu) {
    pthread_getaffinity_np(pthread_self(), sizeof(old_), &old_);
    if (cpu >= std::thread::hardware_concurrency()) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pinned_ = pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
  }
  ~PinnedTo() {
    if (pinned_) pthread_setaffinity_np(pthread_self(), sizeof(old_), &old_);
  }

 private:
  cpu_set_t old_{};
  bool pinned_ = false;
};

// Frames from a to b and back to the pool on one thread: the cost of the in-memory Wire itself
// (steering, impairment queue, copy into the receiver's pool).
void BM_WireInMemory(benchmark::State& state) {
  coro::VirtualClock clock;
  WireEndConfig a;
  a.name = "a";
  a.pool = {.count = 4 * kBurst, .buffer_size = 2048, .headroom = 128};
  a.tx_impairment.loss = static_cast<double>(state.range(0)) / 100.0;  // 0 or 1 %
  WireEndConfig b = a;
  b.name = "b";
  Wire wire(clock, a, b);
  std::uint64_t seq = 0;
  std::uint64_t frames = 0;
  Packet* tx[kBurst];
  Packet* rx[kBurst];
  for (auto _ : state) {
    const std::size_t n = make_frames(wire.a().pool(0), tx, seq);
    wire.a().tx_burst(0, std::span(tx, n));
    const std::size_t got = wire.b().rx_burst(0, rx);
    frames += got;
    PacketPool::free_bulk(std::span(rx, got));
  }
  report(state, frames);
}
BENCHMARK(BM_WireInMemory)->Arg(0)->Arg(1)->ArgName("loss_pct");

ShmWireConfig shm_config() {
  ShmWireConfig c;
  c.name = "bench";
  c.slots = 512;
  c.pool = {.count = 8 * kBurst, .buffer_size = 2048, .headroom = 128};
  return c;
}

// ShmWire with both ends on one thread: the copy-in/copy-out cost without cache-line transfers.
void BM_ShmWireOneThread(benchmark::State& state) {
  auto w = ShmWire::create(shm_config());
  if (!w) {
    state.SkipWithError(w.error().message().c_str());
    return;
  }
  ShmWire& wire = **w;
  std::uint64_t seq = 0;
  std::uint64_t frames = 0;
  Packet* tx[kBurst];
  Packet* rx[kBurst];
  for (auto _ : state) {
    const std::size_t n = make_frames(wire.a().pool(0), tx, seq);
    const std::size_t sent = wire.a().tx_burst(0, std::span(tx, n));
    PacketPool::free_bulk(std::span(tx, n).subspan(sent));
    const std::size_t got = wire.b().rx_burst(0, rx);
    frames += got;
    PacketPool::free_bulk(std::span(rx, got));
  }
  report(state, frames);
}
BENCHMARK(BM_ShmWireOneThread);

// Producer loop for the background side: bursts of 32 as fast as the ring takes them.
void produce_until(ShmWireDevice& dev, const std::atomic<bool>& stop, unsigned cpu) {
  PinnedTo pin(cpu);
  std::uint64_t seq = 0;
  Packet* pending[kBurst];
  std::size_t npending = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    npending += make_frames(dev.pool(0), std::span(pending + npending, kBurst - npending), seq);
    const std::size_t n = dev.tx_burst(0, std::span(pending, npending));
    std::memmove(pending, pending + n, (npending - n) * sizeof(Packet*));
    npending -= n;
    if (n == 0) cpu_relax();
  }
  PacketPool::free_bulk(std::span(pending, npending));
}

// Consumer loop for the background side.
void consume_until(ShmWireDevice& dev, const std::atomic<bool>& stop, unsigned cpu) {
  PinnedTo pin(cpu);
  Packet* rx[kBurst];
  while (!stop.load(std::memory_order_relaxed)) {
    const std::size_t got = dev.rx_burst(0, rx);
    PacketPool::free_bulk(std::span(rx, got));
    if (got == 0) cpu_relax();
  }
}

// Timed side: the consumer (rx_burst of 32 + free), while a pinned producer keeps the ring full.
void BM_ShmWireRxTwoThreads(benchmark::State& state) {
  auto w = ShmWire::create(shm_config());
  if (!w) {
    state.SkipWithError(w.error().message().c_str());
    return;
  }
  ShmWire& wire = **w;
  std::atomic<bool> stop{false};
  std::thread producer(produce_until, std::ref(wire.a()), std::cref(stop), 0u);
  std::uint64_t frames = 0;
  {
    PinnedTo pin(1);
    Packet* rx[kBurst];
    for (auto _ : state) {
      const std::size_t got = wire.b().rx_burst(0, rx);
      frames += got;
      PacketPool::free_bulk(std::span(rx, got));
      if (got == 0) cpu_relax();
    }
  }
  stop.store(true, std::memory_order_relaxed);
  producer.join();
  report(state, frames);
  // Below 100 %: the consumer sometimes found fewer than 32 frames, i.e. it outran the producer.
  const double iters = static_cast<double>(state.iterations());
  if (iters > 0)
    state.counters["burst_fill_pct"] = 100.0 * static_cast<double>(frames) / (iters * kBurst);
}
BENCHMARK(BM_ShmWireRxTwoThreads)->UseRealTime();

// Timed side: the producer (alloc 32 + fill + tx_burst), while a pinned consumer drains the ring.
void BM_ShmWireTxTwoThreads(benchmark::State& state) {
  auto w = ShmWire::create(shm_config());
  if (!w) {
    state.SkipWithError(w.error().message().c_str());
    return;
  }
  ShmWire& wire = **w;
  std::atomic<bool> stop{false};
  std::thread consumer(consume_until, std::ref(wire.b()), std::cref(stop), 0u);
  std::uint64_t frames = 0;
  {
    PinnedTo pin(1);
    std::uint64_t seq = 0;
    Packet* pending[kBurst];
    std::size_t npending = 0;
    for (auto _ : state) {
      npending +=
          make_frames(wire.a().pool(0), std::span(pending + npending, kBurst - npending), seq);
      const std::size_t n = wire.a().tx_burst(0, std::span(pending, npending));
      std::memmove(pending, pending + n, (npending - n) * sizeof(Packet*));
      npending -= n;
      frames += n;
      if (n == 0) cpu_relax();
    }
    PacketPool::free_bulk(std::span(pending, npending));
  }
  stop.store(true, std::memory_order_relaxed);
  consumer.join();
  report(state, frames);
}
BENCHMARK(BM_ShmWireTxTwoThreads)->UseRealTime();

}  // namespace
}  // namespace coronet::nic
