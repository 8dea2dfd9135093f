// mTCP's short-connection workload through coronet's io_uring backend: the kernel's TCP driven by
// coronet's socket API (coronet::Stack::kernel over a kernel::UringDriver), a server reactor
// thread and a client reactor thread, one core each, over 127.0.0.1 in a network namespace of
// the process's own (unshare, lo up). The client runs --concurrency coroutines, each looping:
// connect, write 64 B, read_exactly the 64 B echoed (checked), close (FIN, awaited); the server
// accepts and, per connection, reads 64 B, writes them back and closes.
//
// Reported: connections/s over --seconds after a 1 s warm-up, latency p50/p99 (connect start to
// the last echoed byte), CPU per connection of each reactor thread. Compare with
// kernel_short_conn (the same workload on plain epoll: what the coroutine API and io_uring cost
// or save over hand-written code) and `shm_scale_bench --configs=1:1 --json` (coronet's own TCP).
// As there, tcp_tw_reuse=1 and a wide ip_local_port_range are set inside the private namespace
// only; the client closes normally ("client_close": "fin").
//
// Output: one JSON object on stdout; human text on stderr. Exits 1 if any connection failed or
// the run did not finish 10 s after its end.
//
//   bazel run --config=opt //benchmarks:uring_short_conn -- --seconds=3 --cpus=0,1
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/driver_util.h"
#include "coro/coro.h"
#include "coronet/socket.h"
#include "kernel/uring_driver.h"

namespace {

using namespace coronet;
using namespace coronet::bench;

constexpr Ipv4Address kLoopback(127, 0, 0, 1);

// cpus: [0] server, [1] client.
using Params = ShortConnParams;

// The schedule (ns on the monotonic clock) and what the threads hand each other.
struct Shared {
  Schedule at;
  std::atomic<std::uint16_t> port{0};
  std::atomic<coro::Reactor*> server_reactor{nullptr};
  std::atomic<std::uint64_t> served{0};
  std::atomic<std::uint64_t> server_errors{0};
  std::atomic<bool> client_done{false};
  std::atomic<bool> failed_setup{false};
};

// CPU time of the calling reactor thread over the window, sampled by a timer coroutine.
struct CpuWindow {
  double start = -1;
  double end = -1;
  double seconds() const { return start >= 0 && end >= 0 ? end - start : 0; }
};

// Sleeps until the window opens and closes, sampling the thread's CPU time at both.
coro::Task<void> sample_cpu(const Shared& sh, CpuWindow& w) {
  auto at = [](std::uint64_t ns) {
    return coro::TimePoint(std::chrono::nanoseconds(static_cast<std::int64_t>(ns)));
  };
  (void)co_await coro::sleep_until(at(sh.at.warm_end));
  w.start = thread_cpu_seconds();
  (void)co_await coro::sleep_until(at(sh.at.end));
  w.end = thread_cpu_seconds();
}

// One accepted connection: read the request, echo it, close.
coro::Task<void> serve(Connection c, std::size_t bytes, Shared& sh) {
  std::vector<std::byte> buf(bytes);
  auto r = co_await c.read_exactly(buf);  // (no co_await inside conditions: GCC 12 frame bug)
  if (!r) {
    sh.server_errors.fetch_add(1, std::memory_order_relaxed);
    co_return;
  }
  auto w = co_await c.write(buf);
  if (!w) {
    sh.server_errors.fetch_add(1, std::memory_order_relaxed);
    co_return;
  }
  sh.served.fetch_add(1, std::memory_order_relaxed);
  auto cl = co_await c.close();
  if (!cl) sh.server_errors.fetch_add(1, std::memory_order_relaxed);
}

// Accepts until the listener or the reactor ends, one serve() task per connection.
coro::Task<void> accept_loop(Listener& l, std::size_t bytes, Shared& sh) {
  for (;;) {
    auto c = co_await l.accept();
    if (!c) co_return;
    coro::spawn(serve(std::move(*c), bytes, sh));
  }
}

struct ClientResult {
  std::uint64_t completed = 0;
  std::uint64_t in_window = 0;
  std::uint64_t failed = 0;
  std::string first_error;
  LatencyHistogram latency;
};

// One client coroutine: connections one after another until the window closes.
coro::Task<void> client_worker(Stack& stack, std::uint16_t port, std::size_t bytes,
                               std::uint64_t& next_seq, const Shared& sh, ClientResult& r) {
  std::vector<std::byte> msg(bytes), back(bytes);
  auto fail = [&r](const std::string& what) {
    ++r.failed;
    if (r.first_error.empty()) r.first_error = what;
  };
  while (now_ns() < sh.at.end) {
    const std::uint64_t seq = next_seq++;
    for (std::size_t k = 0; k < bytes; ++k) msg[k] = std::byte{request_byte(seq, k)};
    const std::uint64_t start = now_ns();
    auto c = co_await stack.connect(Endpoint{kLoopback, port});
    if (!c) {
      fail("connect: " + c.error().message());
      continue;
    }
    auto w = co_await c->write(msg);
    if (!w) {
      fail("write: " + w.error().message());
      continue;
    }
    auto rd = co_await c->read_exactly(back);
    if (!rd) {
      fail("read: " + rd.error().message());
      continue;
    }
    const std::uint64_t t = now_ns();
    if (back != msg) {
      fail("echo mismatch");
      continue;
    }
    ++r.completed;
    if (sh.at.in_window(t)) {
      ++r.in_window;
      r.latency.add(t - start);
    }
    auto cl = co_await c->close();
    if (!cl) fail("close: " + cl.error().message());
  }
}

// An io_uring driver for `reactor`; null (with the reason on stderr) when the kernel refuses.
std::unique_ptr<kernel::UringDriver> uring_driver(coro::Reactor& reactor) {
  auto d = kernel::UringDriver::create(reactor);
  if (!d) {
    std::fprintf(stderr, "io_uring: %s\n", d.error().message().c_str());
    return nullptr;
  }
  return std::move(*d);
}

// Runs every client coroutine to the end of the window.
coro::Task<void> run_clients(Stack& stack, const Params& p, const Shared& sh, ClientResult& r) {
  std::uint64_t next_seq = 0;
  std::vector<coro::Task<void>> workers;
  for (long i = 0; i < p.concurrency; ++i) {
    workers.push_back(
        client_worker(stack, sh.port.load(), static_cast<std::size_t>(p.bytes), next_seq, sh, r));
  }
  (void)co_await coro::when_all(std::move(workers));
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  parse_flags(argc, argv, short_conn_flags(p),
              "uring_short_conn [--seconds=S] [--warmup=S] [--concurrency=N] "
              "[--bytes=N (<=4096)] [--cpus=SERVER,CLIENT] [--json]");
  const NetnsInfo ns =
      private_netns({{"tcp_tw_reuse", "1"}, {"ip_local_port_range", "1024 65535"}});

  Shared sh;
  // The schedule is fixed before the threads start (their set-up is part of the warm-up).
  sh.at = Schedule::starting_now(p);
  CpuWindow server_cpu, client_cpu;
  ClientResult cr;
  std::thread server([&] {
    (void)pin_slot(p.cpus, 0);
    coro::Reactor reactor(coro::ReactorOptions{.core = 0});
    std::unique_ptr<kernel::UringDriver> driver = uring_driver(reactor);
    if (!driver) {
      sh.failed_setup.store(true);
      return;
    }
    {
      Stack stack = Stack::kernel(*driver);
      auto l = stack.listen(0, {.backlog = 4096, .address = kLoopback});
      if (!l) {
        std::fprintf(stderr, "listen: %s\n", l.error().message().c_str());
        sh.failed_setup.store(true);
        return;
      }
      reactor.spawn(accept_loop(*l, static_cast<std::size_t>(p.bytes), sh));
      reactor.spawn(sample_cpu(sh, server_cpu));
      sh.server_reactor.store(&reactor);
      sh.port.store(l->port());
      reactor.run();       // until main stops it
      reactor.shutdown();  // connection tasks and their handles go before the listener
    }
    driver.reset();
  });
  while (sh.port.load() == 0 && !sh.failed_setup.load()) std::this_thread::yield();
  if (sh.failed_setup.load()) {
    server.join();
    return 1;
  }
  std::thread client([&] {
    (void)pin_slot(p.cpus, 1);
    coro::Reactor reactor(coro::ReactorOptions{.core = 1});
    std::unique_ptr<kernel::UringDriver> driver = uring_driver(reactor);
    if (!driver) {
      ++cr.failed;
      sh.client_done.store(true);
      return;
    }
    {
      Stack stack = Stack::kernel(*driver);
      reactor.spawn(sample_cpu(sh, client_cpu));
      reactor.block_on(run_clients(stack, p, sh, cr));
      reactor.shutdown();
    }
    driver.reset();
    sh.client_done.store(true);
  });
  watchdog([&sh] { return sh.client_done.load(); }, sh.at.end + 10'000'000'000ULL,
           "connections still open 10 s after the end");
  client.join();
  // The server may count its last echoes a moment after the client read them.
  for (int i = 0; i < 1000 && sh.served.load() < cr.completed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  sh.server_reactor.load()->stop();
  server.join();

  const std::uint64_t served = sh.served.load();
  const std::uint64_t server_errors = sh.server_errors.load();
  const ShortConnFigures f(p, cr.in_window, cr.latency, server_cpu.seconds(), client_cpu.seconds());
  short_conn_record("uring_short_conn", "coronet-io_uring", p, ns, "fin", f)
      .add("failed", cr.failed + server_errors)
      .print();
  std::fprintf(stderr,
               "io_uring (coronet socket API) short connections (%ld x %ld B, %s): %s; %llu "
               "completed in all, %llu served\n",
               p.concurrency, p.bytes, ns.isolated ? "private netns" : "host loopback",
               f.summary().c_str(), static_cast<unsigned long long>(cr.completed),
               static_cast<unsigned long long>(served));
  if (cr.failed + server_errors != 0 || served != cr.completed || cr.in_window == 0) {
    std::fprintf(stderr,
                 "FAILED: %llu client failures (first: %s), %llu server errors, served %llu vs "
                 "completed %llu\n",
                 static_cast<unsigned long long>(cr.failed),
                 cr.first_error.empty() ? "-" : cr.first_error.c_str(),
                 static_cast<unsigned long long>(server_errors),
                 static_cast<unsigned long long>(served),
                 static_cast<unsigned long long>(cr.completed));
    return 1;
  }
  return 0;
}
