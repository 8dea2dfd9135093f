// mTCP-style concurrency: how many idle ESTABLISHED connections one coronet server engine (one
// core) holds, and what each costs. A coronet client engine opens --conns connections to the
// server engine over the shared-memory wire (nic/wire/shm_wire.h), each engine on its own thread,
// with at most --window connects in flight; the server accepts every one and keeps its handle.
//
// 4-tuples: one client address, the client's ephemeral range (32768-60999, 28,232 ports), so one
// server port takes at most 28,232 connections; the server listens on --ports ports (default
// conns / 25000 + 1) and connection i goes to port (i / per_port), so that each block of
// connections finds every ephemeral port free for its server port.
//
// Phases, each measured:
//   1. establish all N (timed: the rate counts connections ESTABLISHED on the client and accepted
//      by the server);
//   2. idle: the server holds N handles (no coroutine per connection): RSS, each side's heap;
//   3. the server starts one echo coroutine per connection (each parked in read(), as a real
//      coroutine server would be): RSS and heap again, i.e. the cost of a parked coroutine;
//   4. a sample of --sample connections (spread over all of them) sends 1 byte and must get it
//      echoed; every client connection must still be ESTABLISHED, the server's table must hold
//      N connections in ESTABLISHED.
//
// Memory. Client and server run in one process, so the RSS delta (from /proc/self/statm, taken
// after the engines and the wire exist and before the first connect) includes BOTH sides: the
// client's N TCBs and handles as well as the server's, plus the growth of malloc arenas. The
// per-side figures come from this binary's global operator new/delete, which keeps a per-thread
// count of live heap bytes (malloc_usable_size): the server thread's count is the server engine's
// own memory (its TCBs, connection table, accepted handles, coroutine frames), the client
// thread's the client's. Memory freed by another thread than the one that allocated it would be
// misattributed; neither side frees the other's memory here. Packet pools and the wire are
// allocated before the baseline and do not grow.
//
// Buffers: --sndbuf/--rcvbuf (default 4096 each; 0 = the stack's default, 256 KiB) are passed as
// a user would for this workload (ListenOptions::buffers / ConnectOptions::buffers). coronet
// allocates neither lazily-used buffer for an idle connection (send chunks come from a per-core
// pool when data is written; receive rings on first buffered byte); the sizes still set the
// advertised window and the size of the send buffer's chunk index.
//
// Teardown is outside every measurement, but timed on stderr: closing each listener scans the
// server's whole connection table for half-open children (TcpLayer::close_listener), so with
// 41 listeners and 1M connections it takes seconds.
//
// Output: one JSON object on stdout; human text on stderr. Exits 1 if any connection failed or
// was lost, the echo check failed, or the run exceeded --timeout seconds.
//
//   bazel run --config=opt //benchmarks:idle_conns -- --conns=100000
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/driver_util.h"
#include "coro/timeout.h"
#include "coro/when_all.h"
#include "nic/wire/shm_wire.h"
#include "stack/tcp/socket.h"
#include "tests/stack/sim_hosts.h"

// ---- Per-thread heap accounting (global operator new/delete replaced for this binary) ----

namespace {
// Live heap bytes allocated by the calling thread through operator new (may go negative on a
// thread that frees more than it allocated).
thread_local std::int64_t t_heap_bytes = 0;

// malloc + accounting; nullptr on failure.
void* counted_alloc(std::size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p != nullptr) t_heap_bytes += static_cast<std::int64_t>(malloc_usable_size(p));
  return p;
}

// Aligned allocation + accounting; nullptr on failure.
void* counted_aligned_alloc(std::size_t n, std::align_val_t al) {
  void* p = nullptr;
  const std::size_t a = std::max(static_cast<std::size_t>(al), sizeof(void*));
  if (posix_memalign(&p, a, n == 0 ? 1 : n) != 0) return nullptr;
  t_heap_bytes += static_cast<std::int64_t>(malloc_usable_size(p));
  return p;
}

// free + accounting.
void counted_free(void* p) noexcept {
  if (p == nullptr) return;
  t_heap_bytes -= static_cast<std::int64_t>(malloc_usable_size(p));
  std::free(p);
}
}  // namespace

// Throwing new: counted malloc.
void* operator new(std::size_t n) {
  void* p = counted_alloc(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
// Array new: as operator new.
void* operator new[](std::size_t n) { return operator new(n); }
// Non-throwing new: counted malloc, null on failure.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
// Non-throwing array new.
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
// Over-aligned new.
void* operator new(std::size_t n, std::align_val_t a) {
  void* p = counted_aligned_alloc(n, a);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
// Over-aligned array new.
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
// Non-throwing over-aligned new.
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_aligned_alloc(n, a);
}
// Non-throwing over-aligned array new.
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_aligned_alloc(n, a);
}
// Every delete form: counted free (malloc_usable_size gives the size).
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  counted_free(p);
}

namespace {

using namespace coronet;
using namespace coronet::bench;
namespace ct = coronet::testing;
namespace tcp = coronet::stack::tcp;
using namespace std::chrono_literals;

constexpr stack::Ipv4Address kClient{198, 18, 0, 1};
constexpr stack::Ipv4Address kServer{198, 18, 0, 2};
constexpr std::uint16_t kBasePort = 10000;
constexpr long kEphemeralPorts = 60999 - 32768 + 1;  // TcpLayer::open's range

struct Params {
  long conns = 10000;
  long ports = 0;  // 0: conns / 25000 + 1
  long window = 512;
  long sample = 1000;
  std::size_t sndbuf = 4096;
  std::size_t rcvbuf = 4096;
  double timeout_s = 150;
  std::vector<int> cpus;  // [0] server, [1] client
};

// What the server reports at one measurement point (written by the server thread before it
// publishes the answer with a release store).
struct ServerSnapshot {
  std::int64_t heap = 0;          // live heap bytes of the server thread
  std::uint64_t table = 0;        // TcpLayer::connection_count()
  std::uint64_t established = 0;  // held handles in ESTABLISHED
  std::uint64_t timers = 0;       // timers armed in the server's reactor
  std::uint64_t readers = 0;      // echo coroutines started
  double cpu_s = 0;               // server thread CPU time
  tcp::TcpStats stats;
};

// State both threads share.
struct Shared {
  std::atomic<int> built{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> accept_errors{0};
  // Measurement requests: the client sets `request` to g (1, 2, ...), the server fills snap[g]
  // and sets `answered` to g. kReadersFrom is the first generation at which the server must
  // have started its echo coroutines.
  std::atomic<int> request{0};
  std::atomic<int> answered{0};
  static constexpr int kReadersFrom = 3;
  ServerSnapshot snap[4];
  std::atomic<bool> done{false};
  std::atomic<coro::Reactor*> server_reactor{nullptr};
};

// Resident set size of the process, bytes (/proc/self/statm).
std::uint64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// Echo on one server connection: what the sample check sends comes back. Parks in read() while
// the connection is idle (the memory phase 3 measures).
coro::Task<void> echo(tcp::Connection& c) {
  std::array<std::byte, 16> buf;
  for (;;) {
    auto n = co_await c.read(buf);
    if (!n || *n == 0) co_return;
    auto w = co_await c.write(std::span<const std::byte>(buf.data(), *n));
    if (!w) co_return;
  }
}

// Accepts on `l` until the listener ends, keeping every handle in `held`.
coro::Task<void> acceptor(tcp::Listener& l, std::vector<tcp::Connection>& held, Shared& sh) {
  for (;;) {
    auto c = co_await l.accept();
    if (!c) {
      sh.accept_errors.fetch_add(1, std::memory_order_relaxed);
      co_return;
    }
    held.push_back(std::move(*c));
    sh.accepted.fetch_add(1, std::memory_order_release);
  }
}

// The server's side of the measurement protocol: answers each request with a snapshot, starting
// the echo coroutines first from request Shared::kReadersFrom on.
coro::Task<void> server_control(ct::ShmCore& core, std::vector<tcp::Connection>& held, Shared& sh) {
  std::uint64_t readers = 0;
  while (!sh.done.load(std::memory_order_acquire)) {
    const int g = sh.request.load(std::memory_order_acquire);
    if (g == sh.answered.load(std::memory_order_relaxed)) {
      (void)co_await coro::sleep_for(1ms);
      continue;
    }
    if (g >= Shared::kReadersFrom && readers == 0) {
      for (auto& c : held) core.reactor.spawn(echo(c));
      readers = held.size();
      // Let every new coroutine run to its first read() (the nested read frame exists then).
      (void)co_await coro::sleep_for(20ms);
    }
    ServerSnapshot& s = sh.snap[g];
    s.heap = t_heap_bytes;
    s.table = core.tcp.connection_count();
    s.established = 0;
    for (const auto& c : held) s.established += c.state() == tcp::State::kEstablished ? 1 : 0;
    s.timers = core.reactor.armed_timers();
    s.readers = readers;
    s.cpu_s = thread_cpu_seconds();
    s.stats = core.tcp.stats();
    sh.answered.store(g, std::memory_order_release);
  }
}

// What the client side measured.
struct ClientResult {
  std::string error;  // first failure, empty if none
  std::uint64_t connected = 0;
  std::uint64_t connect_failures = 0;
  double establish_s = 0;
  double client_cpu_s = 0;  // client thread CPU during establishment
  std::uint64_t rss[4] = {};
  std::int64_t heap[4] = {};
  std::uint64_t client_table = 0;
  std::uint64_t client_established = 0;
  std::uint64_t sample_ok = 0;
  std::uint64_t sample_sent = 0;
  tcp::TcpStats stats;
};

// Asks the server for snapshot `g` (starting its echo coroutines from g = kReadersFrom on) and
// waits for it; false when it does not come by `deadline`. Also records RSS and client heap.
coro::Task<bool> measure(Shared& sh, ClientResult& r, int g, std::uint64_t deadline) {
  sh.request.store(g, std::memory_order_release);
  while (sh.answered.load(std::memory_order_acquire) != g) {
    if (now_ns() > deadline) co_return false;
    (void)co_await coro::sleep_for(1ms);
  }
  r.rss[g] = rss_bytes();
  r.heap[g] = t_heap_bytes;
  co_return true;
}

// Seconds since the first call, for the phase log on stderr.
double elapsed_s() {
  static const std::uint64_t t0 = now_ns();
  return static_cast<double>(now_ns() - t0) * 1e-9;
}

// Server port of connection i.
std::uint16_t port_of(long i, long per_port) {
  return static_cast<std::uint16_t>(kBasePort + i / per_port);
}

// One of the --window connect loops: takes the next index until all N are opened (or the deadline
// passes), connects it, stores the handle.
coro::Task<void> connector(tcp::TcpLayer& layer, const Params& p, long per_port, long& next,
                           std::vector<tcp::Connection>& conns, std::uint64_t deadline,
                           ClientResult& r) {
  const tcp::ConnectOptions opts{.local_port = 0, .buffers = {p.sndbuf, p.rcvbuf}};
  while (next < p.conns && now_ns() < deadline) {
    const long i = next++;
    auto c = co_await tcp::connect(layer, {kServer, port_of(i, per_port)}, opts);
    if (!c) {
      ++r.connect_failures;
      if (r.error.empty()) r.error = "connect #" + std::to_string(i) + ": " + c.error().message();
      continue;
    }
    conns[static_cast<std::size_t>(i)] = std::move(*c);
    ++r.connected;
  }
}

// The sample check for the connections k = first, first + stride, ...: 1 byte out, the same
// byte back within 5 s.
coro::Task<void> sample_echo(std::vector<tcp::Connection>& conns, const std::vector<long>& picks,
                             std::size_t first, std::size_t stride, ClientResult& r) {
  for (std::size_t k = first; k < picks.size(); k += stride) {
    tcp::Connection& c = conns[static_cast<std::size_t>(picks[k])];
    if (!c.valid()) continue;
    const std::byte out{static_cast<unsigned char>(k * 7 + 1)};
    ++r.sample_sent;
    auto w = co_await c.write(std::span<const std::byte>(&out, 1));
    if (!w) {
      if (r.error.empty()) r.error = "sample write: " + w.error().message();
      continue;
    }
    std::byte in{};
    auto rd = co_await coro::with_timeout(c.read_exactly(std::span<std::byte>(&in, 1)), 5s);
    if (!rd) {
      if (r.error.empty()) r.error = "sample read: " + rd.error().message();
      continue;
    }
    if (in == out) {
      ++r.sample_ok;
    } else if (r.error.empty()) {
      r.error = "sample echo came back different";
    }
  }
}

// The client's whole run: baseline, establishment (timed), the two memory points, the checks.
coro::Task<void> client_main(ct::ShmCore& core, const Params& p, long per_port, Shared& sh,
                             std::vector<tcp::Connection>& conns, ClientResult& r) {
  const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(p.timeout_s * 1e9);
  std::fprintf(stderr, "[%6.2f s] baseline\n", elapsed_s());
  const bool ok0 = co_await measure(sh, r, 1, deadline);
  if (!ok0) {
    r.error = "the server did not answer the baseline measurement";
    co_return;
  }
  // One connection first, so ARP is resolved before the clock starts.
  long next = 0;
  {
    Params first = p;  // (outlives the lazy task below)
    first.conns = 1;
    std::vector<coro::Task<void>> one;
    one.push_back(connector(core.tcp, first, per_port, next, conns, deadline, r));
    co_await coro::when_all(std::move(one));
  }
  const std::uint64_t t0 = now_ns();
  const double cpu0 = thread_cpu_seconds();
  std::vector<coro::Task<void>> loops;
  for (long k = 0; k < p.window; ++k) {
    loops.push_back(connector(core.tcp, p, per_port, next, conns, deadline, r));
  }
  co_await coro::when_all(std::move(loops));
  r.client_cpu_s = thread_cpu_seconds() - cpu0;
  // Established on this side; the server must also have accepted all of them.
  const auto want = static_cast<std::uint64_t>(p.conns);
  while (sh.accepted.load(std::memory_order_acquire) < r.connected && now_ns() < deadline) {
    (void)co_await coro::sleep_for(100us);
  }
  r.establish_s = static_cast<double>(now_ns() - t0) * 1e-9;
  if (r.connected != want) {
    if (r.error.empty()) r.error = "only " + std::to_string(r.connected) + " connections opened";
    co_return;
  }
  if (sh.accepted.load() != want) {
    r.error = "the server accepted " + std::to_string(sh.accepted.load()) + " of " +
              std::to_string(want) + " connections";
    co_return;
  }
  std::fprintf(stderr, "[%6.2f s] all %ld established and accepted\n", elapsed_s(), p.conns);
  // Delayed ACKs and anything else in flight settle.
  (void)co_await coro::sleep_for(200ms);
  const bool ok2 = co_await measure(sh, r, 2, deadline);
  if (!ok2) {
    r.error = "the server did not answer the idle measurement";
    co_return;
  }
  std::fprintf(stderr, "[%6.2f s] idle point measured; starting a reader per server connection\n",
               elapsed_s());
  const bool ok3 = co_await measure(sh, r, 3, deadline);
  if (!ok3) {
    r.error = "the server did not answer the measurement with readers";
    co_return;
  }
  std::fprintf(stderr, "[%6.2f s] reader point measured; checking\n", elapsed_s());
  // Everything still ESTABLISHED on this side; then the echo sample.
  r.client_table = core.tcp.connection_count();
  for (const auto& c : conns) r.client_established += c.state() == tcp::State::kEstablished;
  std::vector<long> picks;
  const long n_sample = std::min(p.sample, p.conns);
  for (long k = 0; k < n_sample; ++k) picks.push_back(k * p.conns / n_sample);
  std::vector<coro::Task<void>> checks;
  const auto stride = static_cast<std::size_t>(std::min<long>(p.window, n_sample));
  for (std::size_t k = 0; k < stride; ++k) {
    checks.push_back(sample_echo(conns, picks, k, stride, r));
  }
  co_await coro::when_all(std::move(checks));
  r.stats = core.tcp.stats();
  std::fprintf(stderr, "[%6.2f s] checks done\n", elapsed_s());
}

// Bytes per connection, as a double (0 for no connections).
double per_conn(double bytes, long n) { return n > 0 ? bytes / static_cast<double>(n) : 0; }

}  // namespace

int main(int argc, char** argv) {
  (void)elapsed_s();  // the phase log counts from here
  Params p;
  parse_flags(argc, argv,
              {{"--conns=", positive(p.conns)},
               {"--ports=", positive(p.ports, 50000)},
               {"--window=", positive(p.window)},
               {"--sample=", positive(p.sample)},
               {"--sndbuf=", zero_or_positive(p.sndbuf)},
               {"--rcvbuf=", zero_or_positive(p.rcvbuf)},
               {"--timeout=", positive(p.timeout_s)},
               {"--cpus=", cpu_list(p.cpus)},
               {"--json", accepted()}},
              "idle_conns [--conns=N] [--ports=P] [--window=W] [--sample=S] [--sndbuf=BYTES] "
              "[--rcvbuf=BYTES] [--timeout=S] [--cpus=SERVER,CLIENT]");
  if (p.ports == 0) p.ports = p.conns / 25000 + 1;
  const long per_port = (p.conns + p.ports - 1) / p.ports;
  if (per_port > kEphemeralPorts) {
    fail(2,
         "%ld connections per server port exceed the client's %ld ephemeral ports: use "
         "--ports >= %ld",
         per_port, kEphemeralPorts, (p.conns + kEphemeralPorts - 1) / kEphemeralPorts);
  }
  if (auto sizes = tcp::check_buffer_sizes({p.sndbuf, p.rcvbuf}); !sizes) {
    fail(2, "buffer sizes: %s", sizes.error().message().c_str());
  }
  // 4096 slots: a connect burst of --window SYNs (or SYN-ACKs, ACKs) fits a ring.
  auto wire = ct::shm_wire_or_exit("idle", 4096, 16384);
  std::fprintf(stderr,
               "idle_conns: %ld connections over %ld server ports (%ld each), %ld connects in "
               "flight, buffers send %zu / recv %zu (0: default)\n",
               p.conns, p.ports, per_port, p.window, p.sndbuf, p.rcvbuf);
  // Where a TCB's bytes go (every connection carries all of it, idle or not).
  std::fprintf(stderr,
               "sizeof(Tcb) %zu B: receive buffer %zu (ring pointer + %zu out-of-order ranges), "
               "send buffer %zu, SACK scoreboard %zu, RACK log + state %zu, 6 timers %zu, "
               "4 wait queues %zu\n",
               sizeof(tcp::Tcb), sizeof(tcp::RecvBuffer), tcp::RecvBuffer::kMaxRanges,
               sizeof(tcp::SendBuffer), sizeof(tcp::SackScoreboard),
               sizeof(tcp::SegmentLog) + sizeof(tcp::Rack), 6 * sizeof(tcp::Tcb::Timer),
               4 * sizeof(coro::WaitQueue));

  Shared sh;
  ClientResult cr;
  std::string server_error;
  const tcp::BufferSizes sizes{p.sndbuf, p.rcvbuf};
  // The server's engine first, then the client's: every wake-up hook is in place before anything
  // is sent (see ShmCore).
  std::thread server([&] {
    (void)pin_slot(p.cpus, 0);
    ct::ShmCore core(*wire, wire->b(), kServer, 0);
    std::vector<tcp::Listener> listeners;
    listeners.reserve(static_cast<std::size_t>(p.ports));
    for (long k = 0; k < p.ports; ++k) {
      auto l = tcp::listen(
          core.tcp, static_cast<std::uint16_t>(kBasePort + k),
          {.backlog = static_cast<std::size_t>(std::max(1024L, 2 * p.window)), .buffers = sizes});
      if (!l) {
        std::fprintf(stderr, "listen: %s\n", l.error().message().c_str());
        std::_Exit(1);
      }
      listeners.push_back(std::move(*l));
    }
    std::vector<tcp::Connection> held;
    held.reserve(static_cast<std::size_t>(p.conns));
    for (auto& l : listeners) core.reactor.spawn(acceptor(l, held, sh));
    core.reactor.spawn(server_control(core, held, sh));
    sh.server_reactor.store(&core.reactor, std::memory_order_release);
    sh.built.fetch_add(1, std::memory_order_acq_rel);
    core.reactor.run();
    const std::uint64_t t = now_ns();
    core.reactor.shutdown();  // the echo coroutines go before the handles they refer to
    held.clear();
    std::fprintf(stderr, "[%6.2f s] server teardown (coroutines, handles): %.2f s\n", elapsed_s(),
                 static_cast<double>(now_ns() - t) * 1e-9);
    // Closing a listener looks for its half-open children in the whole connection table
    // (TcpLayer::close_listener), so this costs listeners x connections: timed on its own.
    const std::uint64_t tl = now_ns();
    listeners.clear();
    std::fprintf(stderr,
                 "[%6.2f s] closing %ld listeners with %zu connections in the table: %.2f s\n",
                 elapsed_s(), p.ports, core.tcp.connection_count(),
                 static_cast<double>(now_ns() - tl) * 1e-9);
  });
  std::vector<tcp::Connection> conns;
  std::thread client([&] {
    (void)pin_slot(p.cpus, 1);
    while (sh.built.load(std::memory_order_acquire) != 1) std::this_thread::yield();
    ct::ShmCore core(*wire, wire->a(), kClient, 0);
    conns.resize(static_cast<std::size_t>(p.conns));
    sh.built.fetch_add(1, std::memory_order_acq_rel);
    core.reactor.block_on(client_main(core, p, per_port, sh, conns, cr));
    sh.done.store(true, std::memory_order_release);
    core.reactor.shutdown();
    const std::uint64_t t = now_ns();
    conns.clear();  // each handle's release (FIN queued; never sent, the engines are stopping)
    std::fprintf(stderr, "[%6.2f s] client teardown of %ld handles: %.2f s\n", elapsed_s(), p.conns,
                 static_cast<double>(now_ns() - t) * 1e-9);
  });
  watchdog([&sh] { return sh.done.load(std::memory_order_acquire); },
           now_ns() + static_cast<std::uint64_t>((p.timeout_s + 30) * 1e9),
           "the run did not finish within --timeout=%.0f s (+30 s)", p.timeout_s);
  std::uint64_t wire_drops = 0;
  client.join();
  sh.server_reactor.load(std::memory_order_acquire)->stop();  // (Reactor::stop: any thread)
  server.join();
  wire_drops = wire->a().tx_stats(0).drops + wire->b().tx_stats(0).drops +
               wire->a().rx_stats(0).drops + wire->b().rx_stats(0).drops;

  const ServerSnapshot& s1 = sh.snap[1];
  const ServerSnapshot& s2 = sh.snap[2];
  const ServerSnapshot& s3 = sh.snap[3];
  const long n = p.conns;
  const double rss_idle = static_cast<double>(cr.rss[2]) - static_cast<double>(cr.rss[1]);
  const double rss_readers = static_cast<double>(cr.rss[3]) - static_cast<double>(cr.rss[1]);
  const double srv_idle = static_cast<double>(s2.heap - s1.heap);
  const double srv_readers = static_cast<double>(s3.heap - s1.heap);
  const double cli_idle = static_cast<double>(cr.heap[2] - cr.heap[1]);
  const double rate = cr.establish_s > 0 ? static_cast<double>(n) / cr.establish_s : 0;
  const double srv_cpu = s2.cpu_s - s1.cpu_s;
  const bool all_ok = cr.error.empty() && cr.connected == static_cast<std::uint64_t>(n) &&
                      s3.table == static_cast<std::uint64_t>(n) &&
                      s3.established == static_cast<std::uint64_t>(n) &&
                      cr.client_established == static_cast<std::uint64_t>(n) &&
                      cr.sample_ok == cr.sample_sent &&
                      cr.sample_ok == static_cast<std::uint64_t>(std::min(p.sample, n));
  Json()
      .add("bench", "idle_conns")
      .add("stack", "coronet")
      .add("link", "shm_wire")
      .add("conns", static_cast<std::int64_t>(n))
      .add("server_ports", static_cast<std::int64_t>(p.ports))
      .add("connect_window", static_cast<std::int64_t>(p.window))
      .add("sndbuf", static_cast<std::uint64_t>(p.sndbuf))
      .add("rcvbuf", static_cast<std::uint64_t>(p.rcvbuf))
      .add("cpus", cpus_string(p.cpus))
      .add("establish_s", cr.establish_s)
      .add("conns_per_s", rate)
      .add("server_us_per_conn", per_conn(srv_cpu * 1e6, n))
      .add("client_us_per_conn", per_conn(cr.client_cpu_s * 1e6, n))
      .add("rss_baseline_mib", static_cast<double>(cr.rss[1]) / (1 << 20))
      .add("rss_idle_mib", static_cast<double>(cr.rss[2]) / (1 << 20))
      .add("rss_with_readers_mib", static_cast<double>(cr.rss[3]) / (1 << 20))
      .add("rss_bytes_per_conn_both_sides", per_conn(rss_idle, n))
      .add("rss_bytes_per_conn_both_sides_with_readers", per_conn(rss_readers, n))
      .add("server_heap_bytes_per_conn", per_conn(srv_idle, n))
      .add("server_heap_bytes_per_conn_with_reader", per_conn(srv_readers, n))
      .add("client_heap_bytes_per_conn", per_conn(cli_idle, n))
      .add("tcb_size", static_cast<std::uint64_t>(sizeof(tcp::Tcb)))
      .add("server_table", s3.table)
      .add("server_established", s3.established)
      .add("server_readers", s3.readers)
      .add("server_timers_armed", s2.timers)
      .add("client_table", cr.client_table)
      .add("client_established", cr.client_established)
      .add("sample", cr.sample_sent)
      .add("sample_echoed", cr.sample_ok)
      .add("connect_failures", cr.connect_failures)
      .add("syn_cookies", s3.stats.syn_cookies_sent)
      .add("server_rtos", s3.stats.rto_expiries)
      .add("client_rtos", cr.stats.rto_expiries)
      .add("wire_drops", wire_drops)
      .add("ok", all_ok)
      .print();
  std::fprintf(
      stderr,
      "established %ld connections in %.2f s (%.0f/s; server %.2f us CPU each, client "
      "%.2f us)\n"
      "RSS %.0f -> %.0f MiB idle (%.0f B/conn, both sides) -> %.0f MiB with a reader "
      "coroutine per server connection (%.0f B/conn)\n"
      "server heap %.0f B/conn idle, %.0f B/conn with its reader; client heap %.0f "
      "B/conn; sizeof(Tcb) %zu B\n"
      "server table %llu, ESTABLISHED %llu, timers armed %llu; client ESTABLISHED %llu; "
      "echo sample %llu/%llu; SYN cookies %llu, RTOs %llu/%llu, wire drops %llu\n",
      n, cr.establish_s, rate, per_conn(srv_cpu * 1e6, n), per_conn(cr.client_cpu_s * 1e6, n),
      static_cast<double>(cr.rss[1]) / (1 << 20), static_cast<double>(cr.rss[2]) / (1 << 20),
      per_conn(rss_idle, n), static_cast<double>(cr.rss[3]) / (1 << 20), per_conn(rss_readers, n),
      per_conn(srv_idle, n), per_conn(srv_readers, n), per_conn(cli_idle, n), sizeof(tcp::Tcb),
      static_cast<unsigned long long>(s3.table), static_cast<unsigned long long>(s3.established),
      static_cast<unsigned long long>(s2.timers),
      static_cast<unsigned long long>(cr.client_established),
      static_cast<unsigned long long>(cr.sample_ok),
      static_cast<unsigned long long>(cr.sample_sent),
      static_cast<unsigned long long>(s3.stats.syn_cookies_sent),
      static_cast<unsigned long long>(s3.stats.rto_expiries),
      static_cast<unsigned long long>(cr.stats.rto_expiries),
      static_cast<unsigned long long>(wire_drops));
  if (!all_ok) {
    std::fprintf(stderr, "FAILED: %s\n",
                 cr.error.empty() ? "connections lost or not ESTABLISHED" : cr.error.c_str());
    return 1;
  }
  return 0;
}
