// coronet <-> coronet bulk throughput, one flow: a sender engine and a receiver engine, each on
// its own thread with its own reactor, joined by the shared-memory wire (nic/wire/shm_wire.h:
// lock-free rings, 1500-byte frames, no system calls; each reactor sleeps when idle and the wire
// wakes it). The sender writes --chunk bytes at a time (default 64 KiB) from a pattern buffer for
// the warm-up plus --seconds, then closes; the receiver reads --chunk at a time and checks every
// byte against the pattern (memcmp against a prime-period pattern: misplaced, repeated or missing
// data cannot match), reads to EOF, and the totals must agree.
//
// Reported: MB/s (10^6 bytes) received during the window after a 1 s warm-up, CPU time per MB of
// each engine thread, and the TCP counters that say whether anything was resent. Compare with
// kernel_bulk (Linux over loopback, the same pattern check; loopback has a 64 KiB MTU and no
// checksums, the wire 1500-byte frames with checksums computed in software).
//
// Output: one JSON object on stdout; human text on stderr. Exits 1 on a mismatch, a short stream,
// a connection error, or when the run does not finish 10 s after its end.
//
//   bazel run --config=opt //benchmarks:coronet_bulk -- --seconds=3 --cpus=0,1
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/driver_util.h"
#include "nic/wire/shm_wire.h"
#include "tests/stack/sim_hosts.h"

namespace {

using namespace coronet;
using namespace coronet::bench;
namespace ct = coronet::testing;

constexpr stack::Ipv4Address kSender{198, 18, 0, 1};
constexpr stack::Ipv4Address kReceiver{198, 18, 0, 2};
constexpr std::uint16_t kPort = 5001;

struct Params {
  double seconds = 3;
  double warmup = 1;
  long chunk = 64 * 1024;
  std::vector<int> cpus;  // [0] receiver, [1] sender
};

// What both threads share: the schedule (ns on the monotonic clock) and the progress flags.
struct Shared {
  std::atomic<int> built{0};
  std::atomic<bool> go{false};
  std::uint64_t warm_end = 0;
  std::uint64_t end = 0;
  std::atomic<bool> sender_done{false};
  std::atomic<bool> receiver_done{false};
};

struct SenderResult {
  std::uint64_t sent = 0;
  std::string error;
  double cpu_s = 0;
  std::uint64_t retransmits = 0;
  std::uint64_t rtos = 0;
};

struct ReceiverResult {
  std::uint64_t received = 0;
  std::uint64_t window_bytes = 0;
  double window_s = 0;
  double cpu_window_s = 0;
  std::string error;
};

// Keeps the reactor (and so its engine, which the peer's close still needs) running until `flag`.
coro::Task<void> wait_for(const std::atomic<bool>& flag) {
  while (!flag.load(std::memory_order_acquire)) {
    (void)co_await coro::sleep_for(std::chrono::milliseconds(1));
  }
}

// Connects, writes pattern chunks until the end of the window, closes.
coro::Task<void> send_stream(stack::tcp::TcpLayer& tcp, const Params& p,
                             const std::vector<std::byte>& pattern, const Shared& sh,
                             SenderResult& r) {
  auto c = co_await stack::tcp::connect(tcp, {kReceiver, kPort});
  if (!c) {
    r.error = "connect: " + c.error().message();
    co_return;
  }
  const auto chunk = static_cast<std::size_t>(p.chunk);
  while (now_ns() < sh.end) {
    const std::size_t off = r.sent % kPatternPeriod;
    auto w = co_await c->write(std::span<const std::byte>(pattern.data() + off, chunk));
    if (!w) {
      r.error = "write: " + w.error().message();
      co_return;
    }
    r.sent += *w;
  }
  auto cl = co_await c->close();  // (no co_await inside a condition: a GCC 12 frame bug)
  if (!cl) r.error = "close: " + cl.error().message();
}

// Accepts, reads to EOF checking every byte, notes bytes and CPU at the window's edges.
coro::Task<void> receive_stream(stack::tcp::Listener& l, const Params& p,
                                const std::vector<std::byte>& pattern, const Shared& sh,
                                ReceiverResult& r) {
  auto c = co_await l.accept();
  if (!c) {
    r.error = "accept: " + c.error().message();
    co_return;
  }
  std::vector<std::byte> buf(static_cast<std::size_t>(p.chunk));
  std::uint64_t t_open = 0, bytes_open = 0, t_last = 0;
  double cpu_open = 0;
  bool open = false, closed = false;
  for (;;) {
    auto n = co_await c->read(buf);
    if (!n) {
      r.error = "read: " + n.error().message();
      c->abort();
      co_return;
    }
    if (*n == 0) break;
    const std::size_t off = r.received % kPatternPeriod;
    if (std::memcmp(buf.data(), pattern.data() + off, *n) != 0) {
      r.error = "data differs from what was sent near byte " + std::to_string(r.received);
      c->abort();
      co_return;
    }
    r.received += *n;
    const std::uint64_t t = now_ns();
    t_last = t;
    if (!open && t >= sh.warm_end) {
      open = true;
      t_open = t;
      bytes_open = r.received;
      cpu_open = thread_cpu_seconds();
    } else if (open && !closed && t >= sh.end) {
      closed = true;
      r.window_bytes = r.received - bytes_open;
      r.window_s = static_cast<double>(t - t_open) * 1e-9;
      r.cpu_window_s = thread_cpu_seconds() - cpu_open;
    }
  }
  if (!open) {
    r.error = "the stream ended before the measurement window opened";
  } else if (!closed) {
    // The sender's last write straddled the end: the window closes at the last read.
    r.window_bytes = r.received - bytes_open;
    r.window_s = static_cast<double>(t_last - t_open) * 1e-9;
    r.cpu_window_s = thread_cpu_seconds() - cpu_open;
  }
  (void)co_await c->close();
}

// Parses the command line into `p`; false on anything unknown or invalid.
bool parse(int argc, char** argv, Params& p) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string v;
    if (flag(a, "--seconds=", v)) {
      if (!parse_positive(v, p.seconds)) return invalid_value(a);
    } else if (flag(a, "--warmup=", v)) {
      if (!parse_positive(v, p.warmup)) return invalid_value(a);
    } else if (flag(a, "--chunk=", v)) {
      if (!parse_positive(v, p.chunk) || p.chunk > (16 << 20)) return invalid_value(a);
    } else if (flag(a, "--cpus=", v)) {
      if (!parse_cpus(v, p.cpus)) return invalid_value(a);
    } else if (a == "--json") {
      // JSON is always printed on stdout.
    } else {
      std::fprintf(stderr, "unknown argument '%s'\n", a.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  if (!parse(argc, argv, p)) {
    std::fprintf(stderr,
                 "usage: coronet_bulk [--seconds=S] [--warmup=S] [--chunk=BYTES] "
                 "[--cpus=RECEIVER,SENDER] [--json]\n");
    return 2;
  }
  const std::vector<std::byte> pattern = make_pattern(static_cast<std::size_t>(p.chunk));
  nic::ShmWireConfig wc;
  wc.name = "bulk";
  wc.slots = 1024;
  wc.mac_a = nic::MacAddress{{0x02, 0, 0, 0, 0, 1}};
  wc.mac_b = nic::MacAddress{{0x02, 0, 0, 0, 0, 2}};
  wc.pool = {.count = 8192, .buffer_size = 2048, .headroom = 128};
  auto wire = nic::ShmWire::create(wc);
  if (!wire) {
    std::fprintf(stderr, "shm wire: %s\n", wire.error().message().c_str());
    return 1;
  }

  Shared sh;
  SenderResult sr;
  ReceiverResult rr;
  // The receiver's engine first, then the sender's: every wake-up hook is in place before
  // anything is sent (see ShmCore).
  std::thread receiver([&] {
    (void)pin_slot(p.cpus, 0);
    ct::ShmCore core(**wire, (*wire)->b(), kReceiver, 0);
    auto l = stack::tcp::listen(core.tcp, kPort);
    if (!l) {
      std::fprintf(stderr, "listen: %s\n", l.error().message().c_str());
      std::exit(1);
    }
    sh.built.fetch_add(1, std::memory_order_acq_rel);
    while (!sh.go.load(std::memory_order_acquire)) std::this_thread::yield();
    core.reactor.block_on(receive_stream(*l, p, pattern, sh, rr));
    sh.receiver_done.store(true, std::memory_order_release);
    core.reactor.block_on(wait_for(sh.sender_done));
    core.reactor.shutdown();
  });
  std::thread sender([&] {
    (void)pin_slot(p.cpus, 1);
    while (sh.built.load(std::memory_order_acquire) != 1) std::this_thread::yield();
    ct::ShmCore core(**wire, (*wire)->a(), kSender, 0);
    sh.built.fetch_add(1, std::memory_order_acq_rel);
    while (!sh.go.load(std::memory_order_acquire)) std::this_thread::yield();
    const double cpu0 = thread_cpu_seconds();
    core.reactor.block_on(send_stream(core.tcp, p, pattern, sh, sr));
    sr.cpu_s = thread_cpu_seconds() - cpu0;
    sr.retransmits = core.tcp.stats().tx_retransmits;
    sr.rtos = core.tcp.stats().rto_expiries;
    sh.sender_done.store(true, std::memory_order_release);
    core.reactor.block_on(wait_for(sh.receiver_done));
    core.reactor.shutdown();
  });
  while (sh.built.load(std::memory_order_acquire) != 2) std::this_thread::yield();
  const std::uint64_t t0 = now_ns();
  sh.warm_end = t0 + static_cast<std::uint64_t>(p.warmup * 1e9);
  sh.end = sh.warm_end + static_cast<std::uint64_t>(p.seconds * 1e9);
  sh.go.store(true, std::memory_order_release);
  // Watchdog: an engine that never finishes cannot be joined; report and leave.
  while (!(sh.sender_done.load() && sh.receiver_done.load())) {
    if (now_ns() > sh.end + 10'000'000'000ULL) {
      std::fprintf(stderr, "FAILED: the transfer did not finish 10 s after the end\n");
      std::_Exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  sender.join();
  receiver.join();
  const std::uint64_t wire_rx_drops =
      (*wire)->a().rx_stats(0).drops + (*wire)->b().rx_stats(0).drops;

  const double mbps =
      rr.window_s > 0 ? static_cast<double>(rr.window_bytes) / rr.window_s / 1e6 : 0;
  const double window_mb = static_cast<double>(rr.window_bytes) / 1e6;
  const double rx_cpu_per_mb = window_mb > 0 ? rr.cpu_window_s / window_mb * 1e6 : 0;
  const bool ok = sr.error.empty() && rr.error.empty() && rr.received == sr.sent;
  Json()
      .add("bench", "coronet_bulk")
      .add("stack", "coronet")
      .add("link", "shm_wire")
      .add("seconds", p.seconds)
      .add("warmup_s", p.warmup)
      .add("chunk", static_cast<std::int64_t>(p.chunk))
      .add("cpus", cpus_string(p.cpus))
      .add("mb_per_s", mbps)
      .add("gbit_per_s", mbps * 8 / 1e3)
      .add("receiver_us_per_mb", rx_cpu_per_mb)
      .add("bytes", sr.sent)
      .add("retransmits", sr.retransmits)
      .add("rtos", sr.rtos)
      .add("wire_rx_drops", wire_rx_drops)
      .add("verified", ok)
      .print();
  std::fprintf(
      stderr,
      "coronet bulk over the shared-memory wire, one flow: %.0f MB/s (%.2f Gbit/s) over "
      "%.2f s, receiver %.0f us CPU per MB; %llu bytes sent, %llu received and checked, "
      "%llu retransmits, %llu RTOs, %llu frames dropped at rx\n",
      mbps, mbps * 8 / 1e3, rr.window_s, rx_cpu_per_mb, static_cast<unsigned long long>(sr.sent),
      static_cast<unsigned long long>(rr.received), static_cast<unsigned long long>(sr.retransmits),
      static_cast<unsigned long long>(sr.rtos), static_cast<unsigned long long>(wire_rx_drops));
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s%s%s\n", sr.error.c_str(), rr.error.c_str(),
                 rr.received != sr.sent ? " (received total differs from sent total)" : "");
    return 1;
  }
  return 0;
}
