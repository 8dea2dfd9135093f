// The io_uring socket backend on loopback, client and server on one reactor (one core):
//   BM_EchoRoundTrips/<conns>/<mode>  64-byte request/response pairs over <conns> connections;
//                                     items/s = round trips per second
//   BM_Bulk/<buffer KiB>/<mode>       one connection, 1 MiB writes, 64 KiB reads; bytes/s
//   BM_SendZc/<bytes>/<zc>            raw IORING_OP_SEND vs IORING_OP_SEND_ZC (see there)
// Modes: 0 = default (COOP_TASKRUN, ring fd, multishot, one direct send(2) per iteration),
// 1 = DEFER_TASKRUN + eventfd, 2 = single-shot accept/recv, 3 = as 0 but every send through the
// ring (direct_sends_per_poll = 0, as before direct sends existed). BM_EpollEchoRoundTrips/<conns>
// is the same test on a plain epoll loop (level-triggered, non-blocking sockets, client and
// server in one thread): the baseline the io_uring backend is read against. BM_IndirectCall is
// the usual baseline of coronet's benchmarks.
//
//   bazel run --config=opt //kernel:uring_bench
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "coro/coro.h"
#include "kernel/socket.h"

namespace coronet::kernel {
namespace {

using coro::Task;

constexpr Ipv4Address kLoopback(127, 0, 0, 1);

UringOptions options_for(std::int64_t mode) {
  UringOptions o;
  o.defer_taskrun = mode == 1;
  o.multishot_accept = o.multishot_recv = mode != 2;
  if (mode == 3) o.direct_sends_per_poll = 0;
  return o;
}

const char* mode_name(std::int64_t mode) {
  switch (mode) {
    case 0:
      return "ring-fd";
    case 1:
      return "defer+eventfd";
    case 2:
      return "single-shot";
    default:
      return "ring-sends";
  }
}

Task<void> echo(Connection c) {
  std::array<std::byte, 4096> buf;
  for (;;) {
    auto n = co_await c.read(buf);
    if (!n || *n == 0) co_return;
    if (!co_await c.write(std::span(buf).first(*n))) co_return;
  }
}

// One reactor with a driver, a listener and `n` connected pairs whose server sides echo.
struct Bench {
  coro::Reactor reactor;
  std::unique_ptr<UringDriver> driver;
  std::vector<Connection> clients;

  bool init(UringOptions o, int n, std::string& error) {
    auto d = UringDriver::create(reactor, o);
    if (!d) {
      error = d.error().message();
      return false;
    }
    driver = std::move(*d);
    auto setup = [](Bench& b, int n) -> Task<std::string> {
      auto l = listen(*b.driver, 0, {.backlog = 1024, .address = kLoopback});
      if (!l) co_return l.error().message();
      for (int i = 0; i < n; ++i) {
        auto [a, c] = co_await coro::when_all(l->accept(),
                                              connect(*b.driver, Endpoint{kLoopback, l->port()}));
        if (!a || !c) co_return "connection setup failed";
        (void)c->set_no_delay(true);
        (void)a->set_no_delay(true);
        coro::spawn(echo(std::move(*a)));
        b.clients.push_back(std::move(*c));
      }
      co_return std::string();
    };
    error = reactor.block_on(setup(*this, n));
    return error.empty();
  }
  ~Bench() {
    clients.clear();
    driver.reset();
  }
};

Task<bool> round_trip(Connection& c) {
  std::array<std::byte, 64> msg{};
  if (!co_await c.write(msg)) co_return false;
  co_return static_cast<bool>(co_await c.read_exactly(msg));
}

void BM_EchoRoundTrips(benchmark::State& state) {
  const int conns = static_cast<int>(state.range(0));
  Bench b;
  std::string error;
  if (!b.init(options_for(state.range(1)), conns, error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  auto round = [](Bench& b) -> Task<bool> {
    std::vector<Task<bool>> all;
    for (auto& c : b.clients) all.push_back(round_trip(c));
    bool ok = true;
    for (bool r : co_await coro::when_all(std::move(all))) ok = ok && r;
    co_return ok;
  };
  const UringStats before = b.driver->stats();
  const auto sleeps = b.reactor.stats().sleeps;
  for (auto _ : state) {
    if (!b.reactor.block_on(round(b))) {
      state.SkipWithError("echo failed");
      return;
    }
  }
  const UringStats& after = b.driver->stats();
  const double trips = static_cast<double>(state.iterations()) * conns;
  state.SetItemsProcessed(static_cast<std::int64_t>(trips));
  state.counters["submits/trip"] = static_cast<double>(after.submits - before.submits) / trips;
  state.counters["sqes/trip"] = static_cast<double>(after.sqes - before.sqes) / trips;
  state.counters["direct/trip"] =
      static_cast<double>(after.direct_sends - before.direct_sends) / trips;
  state.counters["sleeps/trip"] = static_cast<double>(b.reactor.stats().sleeps - sleeps) / trips;
  state.SetLabel(mode_name(state.range(1)));
}
BENCHMARK(BM_EchoRoundTrips)
    ->ArgsProduct({{1, 16, 128}, {0, 1, 2, 3}})
    ->ArgNames({"conns", "mode"})
    ->UseRealTime();

// The same round trips with a plain epoll loop: what a hand-written kernel-socket server does.
struct EpollPairs {
  int ep = -1;
  std::vector<int> fds;  // clients and servers
  std::vector<int> clients;
  ~EpollPairs() {
    for (int fd : fds) ::close(fd);
    if (ep >= 0) ::close(ep);
  }
  bool init(int n) {
    ep = ::epoll_create1(0);
    int l = ::socket(AF_INET, SOCK_STREAM, 0);
    if (ep < 0 || l < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(l, 1024) != 0 ||
        ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(l);
      return false;
    }
    const int one = 1;
    for (int i = 0; i < n; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM, 0);
      if (c < 0 || ::connect(c, reinterpret_cast<sockaddr*>(&a), len) != 0) break;
      int s = ::accept4(l, nullptr, nullptr, SOCK_NONBLOCK);
      if (s < 0) break;
      ::fcntl(c, F_SETFL, ::fcntl(c, F_GETFL) | O_NONBLOCK);
      for (int fd : {c, s}) {
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = (static_cast<std::uint64_t>(fd) << 1) | (fd == s ? 1u : 0u);
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        fds.push_back(fd);
      }
      clients.push_back(c);
    }
    ::close(l);
    return static_cast<int>(clients.size()) == n;
  }
  // Every client sends 64 bytes; servers echo; done when every client has its 64 bytes back.
  bool round() {
    std::array<char, 64> msg{};
    for (int c : clients) {
      if (::send(c, msg.data(), msg.size(), MSG_NOSIGNAL) != 64) return false;
    }
    std::size_t pending = clients.size() * msg.size();
    std::array<epoll_event, 256> events;
    std::array<char, 4096> buf;
    while (pending > 0) {
      const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
      if (n <= 0) return false;
      for (int i = 0; i < n; ++i) {
        const int fd = static_cast<int>(events[i].data.u64 >> 1);
        const bool server = (events[i].data.u64 & 1) != 0;
        const ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
        if (r <= 0) return false;
        if (server) {
          if (::send(fd, buf.data(), static_cast<std::size_t>(r), MSG_NOSIGNAL) != r) return false;
        } else {
          pending -= static_cast<std::size_t>(r);
        }
      }
    }
    return true;
  }
};

void BM_EpollEchoRoundTrips(benchmark::State& state) {
  const int conns = static_cast<int>(state.range(0));
  EpollPairs p;
  if (!p.init(conns)) {
    state.SkipWithError("epoll set-up failed");
    return;
  }
  for (auto _ : state) {
    if (!p.round()) {
      state.SkipWithError("echo failed");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * conns);
  state.SetLabel("epoll");
}
BENCHMARK(BM_EpollEchoRoundTrips)->Arg(1)->Arg(16)->Arg(128)->ArgName("conns")->UseRealTime();

void BM_Bulk(benchmark::State& state) {
  UringOptions o = options_for(state.range(1));
  o.recv_buffer_size = static_cast<std::uint32_t>(state.range(0)) * 1024;
  o.recv_buffers = 64;
  o.recv_ahead_limit = 16 * std::size_t{o.recv_buffer_size};
  coro::Reactor reactor;
  auto d = UringDriver::create(reactor, o);
  if (!d) {
    state.SkipWithError(d.error().message().c_str());
    return;
  }
  std::unique_ptr<UringDriver> driver = std::move(*d);
  constexpr std::size_t kChunk = 1 << 20;
  std::vector<std::byte> out(kChunk, std::byte{0x5a});
  std::vector<std::byte> in(64 * 1024);
  {
    auto setup = [](UringDriver& drv) -> Task<std::pair<Connection, Connection>> {
      auto l = listen(drv, 0, {.address = kLoopback});
      auto [a, c] =
          co_await coro::when_all(l->accept(), connect(drv, Endpoint{kLoopback, l->port()}));
      co_return std::pair{std::move(*a), std::move(*c)};
    };
    auto [server, client] = reactor.block_on(setup(*driver));
    auto transfer = [](Connection& w, Connection& r, std::span<const std::byte> out,
                       std::span<std::byte> in) -> Task<bool> {
      auto reader = [](Connection& r, std::span<std::byte> in, std::size_t n) -> Task<bool> {
        while (n > 0) {
          auto got = co_await r.read(in);
          if (!got || *got == 0) co_return false;
          n -= *got;
        }
        co_return true;
      };
      auto [wr, rd] = co_await coro::when_all(w.write(out), reader(r, in, out.size()));
      co_return static_cast<bool>(wr) && rd;
    };
    for (auto _ : state) {
      if (!reactor.block_on(transfer(client, server, out, in))) {
        state.SkipWithError("transfer failed");
        break;
      }
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kChunk));
  state.counters["recv_cqes/MiB"] =
      static_cast<double>(driver->stats().recv_cqes) / static_cast<double>(state.iterations());
  state.SetLabel(mode_name(state.range(1)));
  driver.reset();
}
BENCHMARK(BM_Bulk)
    ->ArgsProduct({{4, 16, 64}, {0, 1, 2, 3}})
    ->ArgNames({"bufKiB", "mode"})
    ->UseRealTime();

// IORING_OP_SEND vs IORING_OP_SEND_ZC on loopback, outside the driver so that nothing but the
// opcode differs: one connected pair, a receiver thread draining it with blocking recv(2), the
// sender (the benchmark thread) issuing one <size>-byte send at a time on its own ring and waiting
// until the buffer is reusable again, which is what Connection::write() promises its caller: the
// send's completion, and for SEND_ZC also its notification. Counter zc_copied: the fraction of
// notifications where the kernel reports it copied the data after all
// (IORING_SEND_ZC_REPORT_USAGE, 6.2+; loopback does, see
// Documentation/networking/msg_zerocopy.rst). Measured (kernel 6.18, 2 vCPUs, threads pinned,
// medians of 3 runs), wall time per send, send vs send_zc: 64 B 1.7 vs 65 us, 4 KiB 2.4 vs 66 us,
// 16 KiB 3.4 vs 73 us, 64 KiB 42 vs 79 us, 256 KiB 75 vs 110 us, 1 MiB 186 vs 537 us; zc_copied = 1
// throughout. Unpinned runs are bimodal (a few send_zc runs at 64-256 KiB were faster, most
// slower), which is why the threads are pinned.
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

void unpin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (unsigned i = 0; i < std::thread::hardware_concurrency(); ++i) CPU_SET(i, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// User + system time of the whole process (every thread), in nanoseconds.
double process_cpu_ns() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto ns = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e9 + t.tv_usec * 1e3; };
  return ns(u.ru_utime) + ns(u.ru_stime);
}

struct LoopbackPair {
  int sender = -1;
  int receiver = -1;
  ~LoopbackPair() {
    if (sender >= 0) ::close(sender);
    if (receiver >= 0) ::close(receiver);
  }
  bool init() {
    int l = ::socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    bool ok = ::bind(l, reinterpret_cast<sockaddr*>(&a), len) == 0 && ::listen(l, 1) == 0 &&
              ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) == 0;
    if (ok) {
      sender = ::socket(AF_INET, SOCK_STREAM, 0);
      ok = sender >= 0 && ::connect(sender, reinterpret_cast<sockaddr*>(&a), len) == 0;
    }
    if (ok) receiver = ::accept(l, nullptr, nullptr);
    ::close(l);
    const int one = 1;
    if (ok && receiver >= 0) ::setsockopt(sender, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return ok && receiver >= 0;
  }
};

void BM_SendZc(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const bool zc = state.range(1) != 0;
  LoopbackPair p;
  io_uring ring{};
  io_uring_params params{};
  params.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
  if (!p.init() || io_uring_queue_init_params(64, &ring, &params) != 0) {
    state.SkipWithError("set-up failed");
    return;
  }
  // Sender and receiver on different CPUs (when there are two), as a peer process would be; both
  // threads' CPU time is reported per send (cpu_ns/send, from getrusage) next to the wall time.
  const bool pin = std::thread::hardware_concurrency() >= 2;
  if (pin) pin_to_cpu(0);
  std::thread drain([fd = p.receiver, pin] {
    if (pin) pin_to_cpu(1);
    std::vector<char> buf(1 << 20);
    while (::recv(fd, buf.data(), buf.size(), 0) > 0) {
    }
  });
  std::vector<char> msg(size, 'z');
  std::uint64_t notifs = 0, copied = 0;
  bool failed = false;
  const double cpu_start = process_cpu_ns();
  for (auto _ : state) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (zc) {
      io_uring_prep_send_zc(sqe, p.sender, msg.data(), size, MSG_WAITALL | MSG_NOSIGNAL,
                            IORING_SEND_ZC_REPORT_USAGE);
    } else {
      io_uring_prep_send(sqe, p.sender, msg.data(), size, MSG_WAITALL | MSG_NOSIGNAL);
    }
    // The buffer is reusable after the send's completion and, for SEND_ZC, its notification.
    bool sent = false, released = !zc;
    while (!sent || !released) {
      io_uring_cqe* cqe = nullptr;
      if (io_uring_submit_and_wait(&ring, 1) < 0 || io_uring_peek_cqe(&ring, &cqe) != 0) {
        failed = true;
        break;
      }
      if ((cqe->flags & IORING_CQE_F_NOTIF) != 0) {
        released = true;
        ++notifs;
        if ((static_cast<std::uint32_t>(cqe->res) & IORING_NOTIF_USAGE_ZC_COPIED) != 0) ++copied;
      } else {
        if (cqe->res != static_cast<int>(size)) failed = true;
        sent = true;
        if ((cqe->flags & IORING_CQE_F_MORE) == 0) released = true;
      }
      io_uring_cqe_seen(&ring, cqe);
    }
    if (failed) break;
  }
  const double cpu_used = process_cpu_ns() - cpu_start;
  ::shutdown(p.sender, SHUT_WR);
  drain.join();
  io_uring_queue_exit(&ring);
  if (pin) unpin();
  if (failed) {
    state.SkipWithError("send failed");
    return;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
  state.counters["cpu_ns/send"] = cpu_used / static_cast<double>(state.iterations());
  if (zc) {
    state.counters["zc_copied"] =
        notifs > 0 ? static_cast<double>(copied) / static_cast<double>(notifs) : 0.0;
  }
  state.SetLabel(zc ? "send_zc" : "send");
}
BENCHMARK(BM_SendZc)
    ->ArgsProduct({{64, 4096, 16 << 10, 64 << 10, 256 << 10, 1 << 20}, {0, 1}})
    ->ArgNames({"bytes", "zc"})
    ->UseRealTime();

// The baseline every coronet benchmark binary reports: one indirect call through a pointer the
// compiler cannot see through.
int add_one(int x) { return x + 1; }
void BM_IndirectCall(benchmark::State& state) {
  int (*volatile fn)(int) = &add_one;
  int x = 0;
  for (auto _ : state) {
    x = fn(x);
    benchmark::DoNotOptimize(x);
  }
}
BENCHMARK(BM_IndirectCall);

}  // namespace
}  // namespace coronet::kernel
