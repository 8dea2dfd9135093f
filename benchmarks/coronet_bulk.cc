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

// cpus: [0] receiver, [1] sender.
using Params = BulkParams;

// What both threads share: the schedule (ns on the monotonic clock) and the progress flags.
struct Shared {
  std::atomic<int> built{0};
  std::atomic<bool> go{false};
  Schedule at;
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
  while (now_ns() < sh.at.end) {
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

// Accepts, reads to EOF into `r` (which checks every byte and measures the window), closes.
coro::Task<void> receive_stream(stack::tcp::Listener& l, const Params& p, BulkReceiver& r) {
  auto c = co_await l.accept();
  if (!c) {
    r.set_error("accept: " + c.error().message());
    co_return;
  }
  std::vector<std::byte> buf(static_cast<std::size_t>(p.chunk));
  for (;;) {
    auto n = co_await c->read(buf);
    if (!n) {
      r.set_error("read: " + n.error().message());
      c->abort();
      co_return;
    }
    if (*n == 0) break;
    if (!r.add(std::span(buf).first(*n))) {
      c->abort();
      co_return;
    }
  }
  r.finish();
  (void)co_await c->close();
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  parse_flags(argc, argv, bulk_flags(p),
              "coronet_bulk [--seconds=S] [--warmup=S] [--chunk=BYTES] [--cpus=RECEIVER,SENDER] "
              "[--json]");
  const std::vector<std::byte> pattern = make_pattern(static_cast<std::size_t>(p.chunk));
  auto wire = ct::shm_wire_or_exit("bulk", 1024, 8192);

  Shared sh;
  SenderResult sr;
  BulkReceiver rr(pattern, sh.at);
  // The receiver's engine first, then the sender's: every wake-up hook is in place before
  // anything is sent (see ShmCore).
  std::thread receiver([&] {
    (void)pin_slot(p.cpus, 0);
    ct::ShmCore core(*wire, wire->b(), kReceiver, 0);
    auto l = stack::tcp::listen(core.tcp, kPort);
    if (!l) {
      std::fprintf(stderr, "listen: %s\n", l.error().message().c_str());
      std::exit(1);
    }
    sh.built.fetch_add(1, std::memory_order_acq_rel);
    while (!sh.go.load(std::memory_order_acquire)) std::this_thread::yield();
    core.reactor.block_on(receive_stream(*l, p, rr));
    sh.receiver_done.store(true, std::memory_order_release);
    core.reactor.block_on(wait_for(sh.sender_done));
    core.reactor.shutdown();
  });
  std::thread sender([&] {
    (void)pin_slot(p.cpus, 1);
    while (sh.built.load(std::memory_order_acquire) != 1) std::this_thread::yield();
    ct::ShmCore core(*wire, wire->a(), kSender, 0);
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
  sh.at = Schedule::starting_now(p);
  sh.go.store(true, std::memory_order_release);
  watchdog([&sh] { return sh.sender_done.load() && sh.receiver_done.load(); },
           sh.at.end + 10'000'000'000ULL, "the transfer did not finish 10 s after the end");
  sender.join();
  receiver.join();
  const std::uint64_t wire_rx_drops =
      wire->a().rx_stats(0).drops + wire->b().rx_stats(0).drops;

  const std::string failure = rr.failure(sr.sent, sr.error);
  Json record = bulk_record("coronet_bulk", "coronet", "shm_wire", p);
  rr.add_figures(record, sr.sent);
  record.add("retransmits", sr.retransmits)
      .add("rtos", sr.rtos)
      .add("wire_rx_drops", wire_rx_drops)
      .add("verified", failure.empty())
      .print();
  std::fprintf(stderr,
               "coronet bulk over the shared-memory wire, one flow: %s, %llu retransmits, %llu "
               "RTOs, %llu frames dropped at rx\n",
               rr.summary(sr.sent).c_str(), static_cast<unsigned long long>(sr.retransmits),
               static_cast<unsigned long long>(sr.rtos),
               static_cast<unsigned long long>(wire_rx_drops));
  if (!failure.empty()) {
    std::fprintf(stderr, "FAILED: %s\n", failure.c_str());
    return 1;
  }
  return 0;
}
