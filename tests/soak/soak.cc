// Soak test (issue 10): a wall-clock stretch (10 minutes by default) of mixed short and long
// connections between two coronet hosts over a lossy in-memory wire on virtual time (see
// workload.h for the connection kinds), then checks that nothing is left behind.
//
//   bazel run -c opt //tests/soak:soak -- --seconds=600 [--seed=N] [--loss=0.02] ...
//   bazel test //tests/soak:soak_test        (the same program, 60 s; 40 s under ASan)
//
// The run has two phases of the same workload: a warm-up (10% of the time), after which every
// connection has ended and TIME-WAIT has run out, and the heap in use is taken as the baseline;
// then the main phase. Each phase ends by stopping new work, letting every connection finish,
// and advancing virtual time past TIME-WAIT (2 * MSL) and the ARP entries' lifetime. Asserted:
//  - every side of every connection ended with an outcome its plan allows (workload.h), with
//    byte-exact data; none made no progress for kStuckLimit of virtual time (stuck);
//  - after each phase: no TCB (connection table, live TCBs, TIME-WAIT), every packet pool and
//    the send-chunk pool full, no receive memory charged, no frame in flight, no timer armed,
//    no task alive;
//  - the heap in use at the end is within kHeapSlack of the baseline;
//  - during the main phase, connection counts and heap in use show no growth trend: the maximum
//    over the last quarter is not much above the maximum over the second quarter.
// Exit status 0 when all hold; the summary is printed either way.
//
// Flags (also CORONET_SOAK_SECONDS / CORONET_SOAK_SEED in the environment, flags win):
//   --seconds=S --seed=N (0: random) --loss=P --dup=P --reorder=P --corrupt=P --delay_ms=D
//   --jitter_ms=D --lanes=N --long=N --long_rate_mb=R --msl_s=S --warmup=F --verbose
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "coro/frame_pool.h"
#include "coro/when_all.h"
#include "coro/when_any.h"
#include "tests/soak/workload.h"

#if defined(__SANITIZE_ADDRESS__)
// From libasan (sanitizer/allocator_interface.h, whose header Debian's GCC does not ship): the
// bytes the application holds in ASan's allocator, which replaces glibc's malloc.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace coronet::soak {
namespace {

using namespace std::chrono_literals;
using coro::Duration;
using WallClock = std::chrono::steady_clock;

#if !defined(CORONET_SOAK_TEST)
constexpr double kDefaultSeconds = 600;
#elif defined(CORONET_ASAN)
constexpr double kDefaultSeconds = 40;  // ASan is ~3x slower to drain: stays within ~90 s
#else
constexpr double kDefaultSeconds = 60;
#endif

// After a phase stops, every side must end within this much virtual time.
constexpr Duration kDrainLimit = std::chrono::minutes(60);
// Heap in use after the run may exceed the baseline by this much. Between the two quiet points
// the only allocations allowed to survive are containers that keep their capacity: the hash
// buckets of the TCP connection tables (8 bytes per bucket, sized for the peak connection count:
// a few thousand TIME-WAIT entries, tens of KiB) and similar high-water marks, plus allocator
// bookkeeping. 1 MiB covers that with room; a leak of 10 bytes per connection over the >100,000
// connections of a 10-minute run exceeds it.
constexpr std::size_t kHeapSlack = std::size_t{1} << 20;

std::size_t heap_in_use() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }
double mib(std::size_t b) { return static_cast<double>(b) / (1 << 20); }

struct Sample {
  double wall = 0;  // seconds since the phase started
  double virt = 0;
  std::size_t heap = 0;       // max over the interval
  std::size_t conns = 0;      // TCBs in both tables, max over the interval
  std::size_t sides = 0;      // application sides running
  std::uint32_t packets = 0;  // packet buffers in use, both pools
  std::uint32_t chunks = 0;   // send chunks in use, both hosts
  std::size_t recv_mem = 0;   // receive ring bytes, both hosts
};

struct Phase {
  const char* name = "";
  WallClock::time_point wall_start;
  WallClock::time_point wall_deadline;
  double wall_stop = 0;  // seconds after wall_start when new work stopped
  coro::TimePoint virt_start{};
  coro::TimePoint virt_stop{};
  coro::TimePoint virt_end{};
  bool ticker_stop = false;
  coro::Event give_up;  // set by the ticker when sides outlive kDrainLimit
  bool stuck = false;
  std::vector<Sample> samples;
  std::size_t peak_conns = 0;
  std::size_t peak_heap = 0;
};

std::size_t tcbs(Soak& s) {
  return s.pair.a->tcp.connection_count() + s.pair.b->tcp.connection_count();
}

// Watches the wall clock (stop), samples once per wall second, scans for stuck sides.
coro::Task<void> ticker(Soak& s, Phase& ph) {
  auto next_sample = ph.wall_start + 1s;
  Sample acc;
  while (!ph.ticker_stop) {
    (void)co_await coro::sleep_for(20ms);
    const auto wall = WallClock::now();
    const std::size_t conns = tcbs(s);
    const std::size_t heap = heap_in_use();
    acc.conns = std::max(acc.conns, conns);
    acc.heap = std::max(acc.heap, heap);
    ph.peak_conns = std::max(ph.peak_conns, conns);
    ph.peak_heap = std::max(ph.peak_heap, heap);
    if (!s.stopping && wall >= ph.wall_deadline) {
      s.stopping = true;
      ph.virt_stop = s.reactor.now();
      ph.wall_stop = seconds(wall - ph.wall_start);
    }
    if (wall >= next_sample) {
      next_sample = wall + 1s;
      acc.wall = seconds(wall - ph.wall_start);
      acc.virt = seconds(s.reactor.now() - ph.virt_start);
      acc.sides = s.live_sides;
      acc.packets =
          s.pair.wire->a().pool(0).stats().in_use + s.pair.wire->b().pool(0).stats().in_use;
      acc.chunks =
          s.pair.a->tcp.send_chunks().stats().in_use + s.pair.b->tcp.send_chunks().stats().in_use;
      acc.recv_mem = s.pair.a->tcp.recv_memory().used + s.pair.b->tcp.recv_memory().used;
      if (ph.samples.size() < ph.samples.capacity()) ph.samples.push_back(acc);
      acc = Sample{};
      (void)s.scan_stuck();
      if (s.opt.verbose) {
        const Sample& x = ph.samples.back();
        std::printf("  [%s] wall %.0fs virtual %.1fs: %zu TCBs, %zu sides, heap %.1f MiB\n",
                    ph.name, x.wall, x.virt, x.conns, x.sides, mib(x.heap));
        std::fflush(stdout);
      }
    }
    if (s.stopping && s.reactor.now() - ph.virt_stop > kDrainLimit && !ph.give_up.is_set()) {
      ph.give_up.set();
    }
  }
}

coro::Task<Result<void>> wait_event(coro::Event& e) { co_return co_await e.wait(); }

// The workload for one phase, then everything is let to finish.
coro::Task<void> run_phase(Soak& s, Phase& ph, std::uint64_t phase_seed) {
  s.stopping = false;
  s.stop_accepting.reset();
  ph.virt_start = s.reactor.now();
  s.reactor.spawn(ticker(s, ph));
  s.reactor.spawn(acceptor(s, *s.pair.a));
  s.reactor.spawn(acceptor(s, *s.pair.b));
  (void)co_await coro::sleep_for(1ms);  // the listeners are up

  std::mt19937_64 gen(phase_seed);
  s.longs.assign(s.opt.long_conns, LongRecord{});
  std::vector<coro::Task<void>> clients;
  for (std::size_t i = 0; i < s.longs.size(); ++i) {
    s.longs[i].seed_up = gen();
    s.longs[i].seed_down = gen();
    const bool from_a = i % 2 == 0;
    clients.push_back(long_client(s, from_a ? *s.pair.a : *s.pair.b,
                                  from_a ? testing::SimPair::kAddrB : testing::SimPair::kAddrA, i));
  }
  for (unsigned i = 0; i < s.opt.lanes; ++i) {
    const bool from_a = i % 2 == 0;
    clients.push_back(lane(s, from_a ? *s.pair.a : *s.pair.b,
                           from_a ? testing::SimPair::kAddrB : testing::SimPair::kAddrA,
                           static_cast<unsigned>(phase_seed) + i));
  }
  auto done = co_await coro::when_any(coro::when_all(std::move(clients)), wait_event(ph.give_up));
  if (done.index() == 1) {
    ph.stuck = true;
    co_return;
  }
  // Every client side ended; servers of late connections may still run.
  while (s.live_sides > 0) {
    if (ph.give_up.is_set()) {
      ph.stuck = true;
      co_return;
    }
    (void)co_await coro::sleep_for(100ms);
  }
  s.stop_accepting.set();
  while (s.acceptors > 0) (void)co_await coro::sleep_for(1ms);
  // TIME-WAIT (2 * MSL), retransmitted FINs, then the ARP entries: the last timers a quiet host
  // arms.
  (void)co_await coro::sleep_for(2 * s.opt.msl + 1s);
  while (tcbs(s) > 0 && s.reactor.now() - ph.virt_stop < kDrainLimit) {
    (void)co_await coro::sleep_for(5s);
  }
  (void)co_await coro::sleep_for(s.pair.a->engine.config().arp.entry_ttl + 1s);
  ph.virt_end = s.reactor.now();
  ph.ticker_stop = true;
  (void)co_await coro::sleep_for(100ms);  // the ticker sees the flag and ends
}

// Everything a quiet pair must be back to.
void check_quiet(Soak& s, const char* when) {
  auto expect_zero = [&](const std::string& what, std::uint64_t v) {
    if (v != 0) s.fail(std::string(when) + ": " + what + " = " + std::to_string(v));
  };
  for (testing::SimHost* h : {s.pair.a.get(), s.pair.b.get()}) {
    const std::string who = h == s.pair.a.get() ? "host a " : "host b ";
    expect_zero(who + "connection_count()", h->tcp.connection_count());
    expect_zero(who + "live_tcbs", h->tcp.stats().live_tcbs);
    expect_zero(who + "time_wait", h->tcp.stats().time_wait);
    expect_zero(who + "send chunks in use", h->tcp.send_chunks().stats().in_use);
    expect_zero(who + "send views in use", h->tcp.send_chunks().stats().views_in_use);
    expect_zero(who + "recv_memory().used", h->tcp.recv_memory().used);
  }
  for (nic::WireDevice* d : {&s.pair.wire->a(), &s.pair.wire->b()}) {
    const std::string who = d == &s.pair.wire->a() ? "device a " : "device b ";
    expect_zero(who + "packets in use", d->pool(0).stats().in_use);
    expect_zero(who + "double frees", d->pool(0).stats().double_frees);
    expect_zero(who + "frames in flight", d->in_flight());
  }
  expect_zero("application sides running", s.live_sides);
  expect_zero("armed timers", s.reactor.armed_timers());
  expect_zero("live tasks", s.reactor.live_tasks());
  expect_zero("unhandled exceptions", s.reactor.stats().unhandled_exceptions);
}

// Max of `field` over the samples whose wall time lies in [lo, hi) of the active part.
template <typename F>
std::size_t quarter_max(const Phase& ph, double lo, double hi, F field) {
  std::size_t m = 0;
  for (const Sample& x : ph.samples) {
    if (x.wall >= lo * ph.wall_stop && x.wall < hi * ph.wall_stop)
      m = std::max<std::size_t>(m, field(x));
  }
  return m;
}

// No growth trend: the last quarter's maximum stays within `factor` x the second quarter's plus
// `slack` (both quarters see the same steady workload; their maxima differ only by chance).
// `base` is subtracted first (the heap's quiet baseline: only what the workload holds scales).
template <typename F>
void check_trend(Soak& s, const Phase& ph, const char* what, F field, double factor,
                 std::size_t slack, std::size_t base = 0) {
  const std::size_t q2 = quarter_max(ph, 0.25, 0.5, field);
  const std::size_t q4 = quarter_max(ph, 0.75, 1.0, field);
  const auto bound =
      base + static_cast<std::size_t>(factor * static_cast<double>(q2 > base ? q2 - base : 0)) +
      slack;
  std::printf("  trend %-22s max 2nd quarter %12zu, max 4th quarter %12zu (bound %zu)\n", what, q2,
              q4, bound);
  if (q4 > bound) {
    s.fail(std::string("growth: ") + what + " peaked at " + std::to_string(q4) +
           " in the last quarter against " + std::to_string(q2) + " in the second");
  }
}

struct Args {
  Options opt;
  bool ok = true;
};

bool parse_double(const char* s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s, &end);
  return end != s && *end == '\0';
}

Args parse(int argc, char** argv) {
  Args a;
  Options& o = a.opt;
  o.seconds = kDefaultSeconds;
#if defined(CORONET_SOAK_TEST)
  o.seed = 1;  // CI: one fixed seed (the wall clock still decides how far the run gets)
#endif
  if (const char* e = std::getenv("CORONET_SOAK_SECONDS"); e != nullptr && *e != '\0') {
    a.ok = parse_double(e, &o.seconds) && a.ok;
  }
  if (const char* e = std::getenv("CORONET_SOAK_SEED"); e != nullptr && *e != '\0') {
    o.seed = std::strtoull(e, nullptr, 10);
  }
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    const char* eq = std::strchr(arg, '=');
    const std::string key = eq != nullptr ? std::string(arg, eq) : std::string(arg);
    const char* val = eq != nullptr ? eq + 1 : "";
    double d = 0;
    const bool num = parse_double(val, &d);
    if (key == "--verbose") {
      o.verbose = true;
      continue;
    }
    if (key == "--seed" && num) {
      o.seed = std::strtoull(val, nullptr, 10);
      continue;
    }
    if (!num || d < 0) {
      std::fprintf(stderr, "soak: bad argument '%s'\n", arg);
      a.ok = false;
      continue;
    }
    auto ms = [](double v) { return Duration(static_cast<Duration::rep>(v * 1e6)); };
    if (key == "--seconds") {
      o.seconds = d;
    } else if (key == "--loss") {
      o.loss = d;
    } else if (key == "--dup") {
      o.duplicate = d;
    } else if (key == "--reorder") {
      o.reorder = d;
    } else if (key == "--corrupt") {
      o.corrupt = d;
    } else if (key == "--delay_ms") {
      o.delay = ms(d);
    } else if (key == "--jitter_ms") {
      o.jitter = ms(d);
    } else if (key == "--lanes") {
      o.lanes = static_cast<unsigned>(d);
    } else if (key == "--long") {
      o.long_conns = static_cast<unsigned>(d);
    } else if (key == "--long_rate_mb") {
      o.long_rate = std::max<std::uint64_t>(1024, static_cast<std::uint64_t>(d * (1 << 20)));
    } else if (key == "--msl_s") {
      o.msl = ms(d * 1000);
    } else if (key == "--warmup") {
      o.warmup_fraction = std::clamp(d, 0.01, 0.5);
    } else {
      std::fprintf(stderr, "soak: unknown argument '%s'\n", arg);
      a.ok = false;
    }
  }
  if (o.seed == 0) o.seed = (std::random_device{}() * 0x100000001ULL) ^ std::random_device{}();
  return a;
}

// Ends the process if the run outlives its wall-clock budget by far: a livelock at one virtual
// instant would otherwise hang it (virtual time, and with it the ticker, would never move).
class Watchdog {
 public:
  explicit Watchdog(double limit_s)
      : thread_([this, limit_s] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, std::chrono::duration<double>(limit_s),
                            [this] { return done_; })) {
            std::fprintf(stderr, "soak: FAILED: still running %.0f s after the start (livelock?)\n",
                         limit_s);
            std::fflush(nullptr);
            std::_Exit(2);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

void print_phase(const Soak& s, const Phase& ph) {
  std::printf(
      "%s: %.1f s wall (stopped at %.1f s), %.1f virtual s simulated (%.1f until stop), "
      "peak %zu TCBs, peak heap %.2f MiB\n",
      ph.name, seconds(WallClock::now() - ph.wall_start), ph.wall_stop,
      seconds(ph.virt_end - ph.virt_start), seconds(ph.virt_stop - ph.virt_start), ph.peak_conns,
      mib(ph.peak_heap));
  (void)s;
}

void print_tally(const Tally& t) {
  std::printf("connections by kind (started; client outcomes | server outcomes):\n");
  for (std::size_t k = 0; k < kKinds; ++k) {
    std::uint64_t any = t.started[k];
    for (const auto& role : t.ended[k]) {
      for (std::uint64_t n : role) any += n;
    }
    if (any == 0) continue;
    std::printf("  %-15s %8llu;", kind_name(static_cast<Kind>(k)),
                static_cast<unsigned long long>(t.started[k]));
    for (int role = 0; role < 2; ++role) {
      if (role == 1) std::printf(" |");
      for (std::size_t o = 0; o < kOutcomes; ++o) {
        if (t.ended[k][role][o] == 0) continue;
        std::printf(" %s %llu", outcome_name(static_cast<Outcome>(o)),
                    static_cast<unsigned long long>(t.ended[k][role][o]));
      }
    }
    std::printf("\n");
  }
}

int run(const Options& o) {
  const auto wall0 = WallClock::now();
  std::printf(
      "soak: seed %llu, %.0f s wall (warm-up %.0f%%), loss %.3f dup %.3f reorder %.3f corrupt "
      "%.4f delay %.2f+-%.2f ms each way, %u lanes, %u long connections at %.1f MiB/s each way, "
      "MSL %.0f s\n",
      static_cast<unsigned long long>(o.seed), o.seconds, 100 * o.warmup_fraction, o.loss,
      o.duplicate, o.reorder, o.corrupt, seconds(o.delay) * 1e3, seconds(o.jitter) * 1e3, o.lanes,
      o.long_conns, mib(o.long_rate), seconds(o.msl));
  std::printf("soak: replay with --seed=%llu\n", static_cast<unsigned long long>(o.seed));
  std::fflush(stdout);
  Watchdog watchdog(o.seconds * 1.5 + 120);

  nic::ImpairmentConfig ab;
  ab.loss = o.loss;
  ab.duplicate = o.duplicate;
  ab.reorder = o.reorder;
  ab.corrupt = o.corrupt;
  ab.delay = o.delay;
  ab.jitter = o.jitter;
  ab.seed = o.seed * 0x9E3779B97F4A7C15ULL + 1;
  nic::ImpairmentConfig ba = ab;
  ba.seed = ab.seed + 1;
  stack::tcp::TcpConfig tcp;
  tcp.msl = o.msl;
  tcp.deterministic_keys = o.seed;
  auto pair = std::make_unique<testing::SimPair>(ab, ba, tcp);
  Soak soak(o, *pair);
  coro::Reactor& reactor = pair->v.reactor;
  const coro::TimePoint virt0 = reactor.now();

  const double warm_s = std::max(1.0, o.seconds * o.warmup_fraction);
  std::size_t baseline = 0;
  {
    Phase warm;
    warm.name = "warm-up";
    warm.wall_start = WallClock::now();
    warm.wall_deadline = warm.wall_start + std::chrono::duration_cast<WallClock::duration>(
                                               std::chrono::duration<double>(warm_s));
    warm.samples.reserve(static_cast<std::size_t>(warm_s) + 16);
    reactor.block_on(run_phase(soak, warm, o.seed ^ 0x1111));
    print_phase(soak, warm);
    if (warm.stuck) {
      std::printf("soak: FAILED in the warm-up: connections stuck\n");
      for (const auto& f : soak.failures) std::printf("  %s\n", f.c_str());
      return 1;
    }
    check_quiet(soak, "after the warm-up");
  }
  Phase body;
  body.name = "main";
  body.samples.reserve(static_cast<std::size_t>(o.seconds) + 64);
  coro::frame_pool_trim();
  baseline = heap_in_use();
  body.wall_start = WallClock::now();
  body.wall_deadline = wall0 + std::chrono::duration_cast<WallClock::duration>(
                                   std::chrono::duration<double>(o.seconds));
  reactor.block_on(run_phase(soak, body, o.seed ^ 0x2222));
  print_phase(soak, body);
  if (!body.stuck) check_quiet(soak, "at the end");
  coro::frame_pool_trim();
  const std::size_t end_heap = heap_in_use();

  if (!body.stuck) {
    check_trend(
        soak, body, "TCBs", [](const Sample& x) { return x.conns; }, 1.25, 64);
    check_trend(
        soak, body, "application sides", [](const Sample& x) { return x.sides; }, 1.25, 32);
    // The heap above the baseline is mostly receive rings (256 KiB each, allocated while a
    // connection has data out of order) and coroutine frames and buffers of the running sides:
    // its maximum varies with how many connections happen to be in recovery at once, by a few
    // MiB between quarters. A leak has to add 4 MiB in half a run to trip this; the sharper
    // check is the end-versus-baseline one below.
    check_trend(
        soak, body, "heap bytes", [](const Sample& x) { return x.heap; }, 1.25, 4u << 20, baseline);
    check_trend(
        soak, body, "packet buffers", [](const Sample& x) { return x.packets; }, 1.25, 1024);
    check_trend(
        soak, body, "send chunks", [](const Sample& x) { return x.chunks; }, 1.25, 256);
    check_trend(
        soak, body, "receive ring bytes", [](const Sample& x) { return x.recv_mem; }, 1.25,
        8u << 20);
    if (end_heap > baseline + kHeapSlack) {
      soak.fail("heap: " + std::to_string(end_heap) + " bytes in use at the end against a " +
                std::to_string(baseline) + "-byte baseline (slack " + std::to_string(kHeapSlack) +
                ")");
    }
  }

  std::uint64_t retransmits = 0;
  std::uint64_t segments = 0;
  std::uint64_t rto = 0;
  std::uint64_t probes = 0;
  std::uint64_t ka_timeouts = 0;
  std::uint64_t tw_reused = 0;
  for (testing::SimHost* h : {pair->a.get(), pair->b.get()}) {
    const auto& st = h->tcp.stats();
    retransmits += st.tx_retransmits;
    segments += st.tx_segments;
    rto += st.rto_expiries;
    probes += st.keepalive_probes;
    ka_timeouts += st.keepalive_timeouts;
    tw_reused += st.time_wait_reused + st.time_wait_reused_active;
  }
  std::uint64_t dropped = 0;
  std::uint64_t corrupted = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
  for (nic::WireDevice* d : {&pair->wire->a(), &pair->wire->b()}) {
    dropped += d->tx_impairment_stats().dropped;
    corrupted += d->tx_impairment_stats().corrupted;
    duplicated += d->tx_impairment_stats().duplicated;
    reordered += d->tx_impairment_stats().reordered;
  }
  std::uint64_t started = 0;
  for (std::uint64_t n : soak.tally.started) started += n;
  print_tally(soak.tally);
  auto ull = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "summary: %.1f s wall, %.1f s virtual in all; %llu connections, %.1f MiB verified; "
      "%llu segments sent, %llu retransmitted, %llu RTO expiries, %llu keepalive probes, "
      "%llu keepalive timeouts, %llu TIME-WAIT reuses; wire: %llu dropped, %llu "
      "corrupted, %llu duplicated, %llu reordered; peak %zu TCBs, peak %zu application "
      "sides\n",
      seconds(WallClock::now() - wall0), seconds(reactor.now() - virt0), ull(started),
      mib(soak.tally.bytes_verified), ull(segments), ull(retransmits), ull(rto), ull(probes),
      ull(ka_timeouts), ull(tw_reused), ull(dropped), ull(corrupted), ull(duplicated),
      ull(reordered), body.peak_conns, soak.peak_sides);
  std::printf("heap in use: baseline %zu B (%.2f MiB), peak %.2f MiB, end %zu B (%+lld B)\n",
              baseline, mib(baseline), mib(body.peak_heap), end_heap,
              static_cast<long long>(end_heap) - static_cast<long long>(baseline));
  if (soak.failure_count != 0) {
    std::printf("soak: FAILED: %llu failures (seed %llu); the first ones:\n",
                static_cast<unsigned long long>(soak.failure_count),
                static_cast<unsigned long long>(o.seed));
    for (const auto& f : soak.failures) std::printf("  %s\n", f.c_str());
    return 1;
  }
  // A run that moved nothing checks nothing.
  if (started < 100 || soak.tally.bytes_verified == 0 || retransmits == 0) {
    std::printf("soak: FAILED: the workload did not run (%llu connections)\n",
                static_cast<unsigned long long>(started));
    return 1;
  }
  std::printf("soak: PASSED\n");
  return 0;
}

}  // namespace
}  // namespace coronet::soak

int main(int argc, char** argv) {
  auto args = coronet::soak::parse(argc, argv);
  if (!args.ok) return 2;
  const int rc = coronet::soak::run(args.opt);
  std::fflush(stdout);
  return rc;
}
