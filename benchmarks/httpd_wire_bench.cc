// coronet's HTTP server over the shared-memory wire: the "coronet httpd over the wire" point that
// the TAP (tools/demo: wrk over a TAP) and nginx comparisons are read against. The server is
// examples/httpd (http::serve with Router::with_defaults(), on coronet::Stack::user) on one
// engine; a keep-alive HTTP/1.1 client runs on a second engine; each engine has its own thread
// and reactor, joined by nic/wire/shm_wire.h (lock-free rings, no system calls; an idle reactor
// sleeps and the wire wakes it).
//
// The client opens --connections keep-alive connections (no-delay, as wrk) and keeps --pipeline
// requests in flight on each: "GET /hello HTTP/1.1" with a Host header; each response is parsed
// (status line, Content-Length, body; a response without Content-Length, a `Connection: close`,
// or garbage is an error) and answered with the next request. Latency is per request: from the
// write that carried it to the parse of its response (with pipelining this includes the queueing
// behind the requests before it, as wrk measures). Counted over --seconds after --warmup seconds.
//
// Reported: requests/s, p50/p99 latency, server and client CPU microseconds per request
// (CLOCK_THREAD_CPUTIME_ID of each engine thread over the window). Output: one JSON object on
// stdout (human text on stderr). Exits 1 if any response was not 200, a connection failed, a
// request went unanswered at the end (each connection drains its pipeline, then closes), or the
// run did not finish 10 s after its end.
//
//   bazel run --config=opt //benchmarks:httpd_wire_bench -- --connections=16 --pipeline=16
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "benchmarks/driver_util.h"
#include "coro/when_all.h"
#include "coronet/socket.h"
#include "examples/httpd/httpd.h"
#include "nic/wire/shm_wire.h"
#include "tests/stack/sim_hosts.h"

namespace {

using namespace coronet;
using namespace coronet::bench;
namespace ct = coronet::testing;
using namespace std::chrono_literals;

constexpr stack::Ipv4Address kClient{198, 18, 0, 1};
constexpr stack::Ipv4Address kServer{198, 18, 0, 2};
constexpr std::uint16_t kPort = 8080;
constexpr std::string_view kRequest = "GET /hello HTTP/1.1\r\nHost: 198.18.0.2:8080\r\n\r\n";

// cpus: [0] server, [1] client.
struct Params : RunParams {
  long connections = 16;
  long pipeline = 1;
  long spin_us = -1;  // -1: the reactor's default
};

// The run's schedule (monotonic ns) and what the threads tell each other.
struct Shared {
  std::atomic<int> built{0};
  std::atomic<bool> go{false};
  Schedule at;
  std::atomic<bool> client_done{false};
  std::atomic<coro::Reactor*> server_reactor{nullptr};
  double server_cpu_window = 0;  // written by the server thread, read after join
};

// One connection's counts (the client is one thread: plain integers).
struct Tally {
  std::uint64_t sent = 0;       // requests written
  std::uint64_t answered = 0;   // responses parsed
  std::uint64_t in_window = 0;  // responses parsed inside the measurement window
  std::uint64_t non_200 = 0;
  std::uint64_t bad_responses = 0;  // unparsable, no Content-Length, or the server closing
  std::string error;
};

// Case-insensitive search for `needle` (lower case) in `hay`; npos when absent.
std::size_t find_nocase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    std::size_t k = 0;
    while (k < needle.size() &&
           (hay[i + k] == needle[k] ||
            (hay[i + k] >= 'A' && hay[i + k] <= 'Z' && hay[i + k] - 'A' + 'a' == needle[k]))) {
      ++k;
    }
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

// One parsed response: its total length in the buffer (0: incomplete), its status, and whether
// it is well formed and keeps the connection.
struct Parsed {
  std::size_t length = 0;
  int status = 0;
  bool ok = false;
};

// Parses the response at the front of `buf` minimally: status line, Content-Length, body.
Parsed parse_response(std::string_view buf) {
  Parsed r;
  const std::size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    // Incomplete, unless it is already too long to be a response head.
    r.ok = buf.size() < 8192;
    if (!r.ok) r.length = buf.size();
    return r;
  }
  const std::string_view head = buf.substr(0, head_end + 2);
  r.length = head_end + 4;
  if (head.size() < 13 || head.substr(0, 9) != "HTTP/1.1 ") return r;
  for (std::size_t i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return r;
    r.status = r.status * 10 + (head[i] - '0');
  }
  const std::size_t cl = find_nocase(head, "\r\ncontent-length:");
  if (cl == std::string_view::npos) return r;
  std::size_t pos = cl + 17;
  while (pos < head.size() && head[pos] == ' ') ++pos;
  std::size_t body = 0;
  bool digits = false;
  while (pos < head.size() && head[pos] >= '0' && head[pos] <= '9') {
    body = body * 10 + static_cast<std::size_t>(head[pos++] - '0');
    digits = true;
  }
  if (!digits) return r;
  if (find_nocase(head, "\r\nconnection: close") != std::string_view::npos) return r;
  if (buf.size() < r.length + body) {
    r.length = 0;  // the body is still coming
    r.ok = true;
    return r;
  }
  r.length += body;
  r.ok = true;
  return r;
}

// Writes `count` requests in one write, stamping each with the send time.
coro::Task<bool> send_requests(Connection& c, std::size_t count, std::vector<std::uint64_t>& stamps,
                               std::size_t& stamp_tail, std::string& batch, Tally& t) {
  batch.clear();
  for (std::size_t i = 0; i < count; ++i) batch.append(kRequest);
  const std::uint64_t now = now_ns();
  for (std::size_t i = 0; i < count; ++i) {
    stamps[stamp_tail] = now;
    stamp_tail = (stamp_tail + 1) % stamps.size();
  }
  auto w = co_await c.write(std::as_bytes(std::span(batch)));
  if (!w) {
    if (t.error.empty()) t.error = "write: " + w.error().message();
    co_return false;
  }
  t.sent += count;
  co_return true;
}

// One keep-alive connection: keeps `depth` requests in flight until the end of the window, then
// drains what is in flight and closes.
coro::Task<void> http_client(Connection& c, std::size_t depth, const Shared& sh,
                             LatencyHistogram& h, Tally& t) {
  std::vector<std::uint64_t> stamps(depth);  // send times of the requests in flight, a ring
  std::size_t stamp_head = 0, stamp_tail = 0, in_flight = 0;
  std::string batch;
  std::vector<char> in(64 * 1024);
  std::size_t have = 0;
  const bool first = co_await send_requests(c, depth, stamps, stamp_tail, batch, t);
  if (!first) co_return;
  in_flight = depth;
  while (in_flight > 0) {
    if (have == in.size()) {
      t.error = "a response larger than the client's buffer";
      ++t.bad_responses;
      co_return;
    }
    auto n = co_await c.read(std::as_writable_bytes(std::span(in)).subspan(have));
    if (!n) {
      if (t.error.empty()) t.error = "read: " + n.error().message();
      co_return;
    }
    if (*n == 0) {
      if (t.error.empty()) t.error = "the server closed the connection";
      ++t.bad_responses;
      co_return;
    }
    have += *n;
    std::size_t off = 0, done = 0;
    const std::uint64_t now = now_ns();
    for (;;) {
      const Parsed r = parse_response(std::string_view(in.data() + off, have - off));
      if (!r.ok) {
        ++t.bad_responses;
        if (t.error.empty()) {
          t.error = "malformed response: " +
                    std::string(in.data() + off, std::min<std::size_t>(have - off, 80));
        }
        co_return;
      }
      if (r.length == 0) break;
      if (in_flight == 0) {
        ++t.bad_responses;
        t.error = "a response nobody asked for";
        co_return;
      }
      off += r.length;
      ++done;
      --in_flight;
      ++t.answered;
      if (r.status != 200) ++t.non_200;
      if (sh.at.in_window(now)) {
        ++t.in_window;
        h.add(now - stamps[stamp_head]);
      }
      stamp_head = (stamp_head + 1) % stamps.size();
    }
    if (off > 0) {
      std::memmove(in.data(), in.data() + off, have - off);
      have -= off;
    }
    if (done > 0 && now < sh.at.end) {
      const bool sent = co_await send_requests(c, done, stamps, stamp_tail, batch, t);
      if (!sent) co_return;
      in_flight += done;
    }
  }
  auto cl = co_await c.close();
  if (!cl && t.error.empty()) t.error = "close: " + cl.error().message();
}

// Records the calling thread's CPU time at the window's start and end: `out` gets the difference.
coro::Task<void> cpu_window(const Shared& sh, double& out) {
  while (!sh.go.load(std::memory_order_acquire)) (void)co_await coro::sleep_for(1ms);
  while (now_ns() < sh.at.warm_end) (void)co_await coro::sleep_for(1ms);
  const double c0 = thread_cpu_seconds();
  while (now_ns() < sh.at.end) (void)co_await coro::sleep_for(1ms);
  out = thread_cpu_seconds() - c0;
}

// What the client thread reports.
struct ClientResult {
  std::vector<Tally> tallies;
  LatencyHistogram latency;
  double cpu_window = 0;
  std::string connect_error;
  std::uint64_t retransmits = 0;
};

// The client's run: open every connection (one at a time: the first resolves ARP), signal ready,
// wait for the start, run every connection's loop, close.
coro::Task<void> client_main(Stack& stack, const Params& p, Shared& sh, ClientResult& r) {
  std::vector<Connection> conns;
  for (long i = 0; i < p.connections; ++i) {
    auto c = co_await stack.connect({kServer, kPort});
    if (!c) {
      r.connect_error = "connect: " + c.error().message();
      co_return;
    }
    (void)c->set_no_delay(true);
    conns.push_back(std::move(*c));
  }
  sh.built.fetch_add(1, std::memory_order_acq_rel);  // 3: connections are open
  while (!sh.go.load(std::memory_order_acquire)) (void)co_await coro::sleep_for(100us);
  r.tallies.resize(conns.size());
  std::vector<coro::Task<void>> loops;
  for (std::size_t i = 0; i < conns.size(); ++i) {
    loops.push_back(
        http_client(conns[i], static_cast<std::size_t>(p.pipeline), sh, r.latency, r.tallies[i]));
  }
  loops.push_back(cpu_window(sh, r.cpu_window));
  co_await coro::when_all(std::move(loops));
}

}  // namespace

int main(int argc, char** argv) {
  Params p;
  parse_flags(argc, argv,
              run_flags(p, {{"--connections=", positive(p.connections, 20000)},
                            {"--pipeline=", positive(p.pipeline, 1024)},
                            {"--spin-us=", zero_or_positive(p.spin_us)}}),
              "httpd_wire_bench [--connections=N] [--pipeline=D] [--seconds=S] [--warmup=S] "
              "[--spin-us=US] [--cpus=SERVER,CLIENT] [--json]");
  auto wire = ct::shm_wire_or_exit("httpd", 2048, 8192);
  const coro::Duration spin = p.spin_us >= 0 ? coro::Duration(std::chrono::microseconds(p.spin_us))
                                             : coro::ReactorOptions{}.spin_before_sleep;
  const http::Router router = http::Router::with_defaults();
  const http::ServerConfig server_config{};
  Shared sh;
  ClientResult cr;
  stack::tcp::TcpStats server_stats;
  // The server's engine first, then the client's: every wake-up hook is in place before anything
  // is sent (see ShmCore).
  std::thread server([&] {
    (void)pin_slot(p.cpus, 0);
    ct::ShmCore core(*wire, wire->b(), kServer, 0, {}, spin);
    Stack stack = Stack::user(core.tcp);
    core.reactor.spawn(http::serve(stack, kPort, router, server_config));
    core.reactor.spawn(cpu_window(sh, sh.server_cpu_window));
    sh.server_reactor.store(&core.reactor, std::memory_order_release);
    sh.built.fetch_add(1, std::memory_order_acq_rel);
    core.reactor.run();
    core.reactor.shutdown();
    server_stats = core.tcp.stats();
  });
  std::thread client([&] {
    (void)pin_slot(p.cpus, 1);
    while (sh.built.load(std::memory_order_acquire) != 1) std::this_thread::yield();
    ct::ShmCore core(*wire, wire->a(), kClient, 0, {}, spin);
    Stack stack = Stack::user(core.tcp);
    sh.built.fetch_add(1, std::memory_order_acq_rel);
    core.reactor.block_on(client_main(stack, p, sh, cr));
    if (!cr.connect_error.empty()) sh.built.store(3, std::memory_order_release);
    cr.retransmits = core.tcp.stats().tx_retransmits;
    sh.client_done.store(true, std::memory_order_release);
    core.reactor.shutdown();
  });
  // Connections open (or failed) within 10 s.
  watchdog([&sh] { return sh.built.load(std::memory_order_acquire) == 3; },
           now_ns() + 10'000'000'000ULL, "the connections did not open within 10 s");
  sh.at = Schedule::starting_now(p);
  sh.go.store(true, std::memory_order_release);
  watchdog([&sh] { return sh.client_done.load(std::memory_order_acquire); },
           sh.at.end + 10'000'000'000ULL, "the client did not finish 10 s after the end");
  client.join();
  sh.server_reactor.load(std::memory_order_acquire)->stop();  // (Reactor::stop: any thread)
  server.join();

  Tally sum;
  std::string first_error = cr.connect_error;
  for (const Tally& t : cr.tallies) {
    sum.sent += t.sent;
    sum.answered += t.answered;
    sum.in_window += t.in_window;
    sum.non_200 += t.non_200;
    sum.bad_responses += t.bad_responses;
    if (first_error.empty() && !t.error.empty()) first_error = t.error;
  }
  const std::uint64_t unanswered = sum.sent - sum.answered;
  const double rps = static_cast<double>(sum.in_window) / p.seconds;
  const double req = static_cast<double>(std::max<std::uint64_t>(sum.in_window, 1));
  const double srv_us = sh.server_cpu_window / req * 1e6;
  const double cli_us = cr.cpu_window / req * 1e6;
  const double p50 = cr.latency.quantile_ns(0.5) / 1e3;
  const double p99 = cr.latency.quantile_ns(0.99) / 1e3;
  const bool ok = first_error.empty() && sum.non_200 == 0 && sum.bad_responses == 0 &&
                  unanswered == 0 && sum.in_window > 0;
  Json()
      .add("bench", "httpd_wire_bench")
      .add("stack", "coronet")
      .add("link", "shm_wire")
      .add("server", "examples/httpd")
      .add("path", "/hello")
      .add("connections", static_cast<std::int64_t>(p.connections))
      .add("pipeline", static_cast<std::int64_t>(p.pipeline))
      .add("seconds", p.seconds)
      .add("warmup_s", p.warmup)
      .add("cpus", cpus_string(p.cpus))
      .add("requests", sum.in_window)
      .add("requests_per_s", rps)
      .add("p50_us", p50)
      .add("p99_us", p99)
      .add("server_us_per_req", srv_us)
      .add("client_us_per_req", cli_us)
      .add("server_cpu_util", sh.server_cpu_window / p.seconds)
      .add("client_cpu_util", cr.cpu_window / p.seconds)
      .add("non_200", sum.non_200)
      .add("bad_responses", sum.bad_responses)
      .add("unanswered", unanswered)
      .add("server_retransmits", server_stats.tx_retransmits)
      .add("client_retransmits", cr.retransmits)
      .add("ok", ok)
      .print();
  std::fprintf(stderr,
               "coronet httpd over the shared-memory wire: %ld connections x pipeline %ld, "
               "%.1f s after %.1f s warm-up: %.0f requests/s, p50 %.1f us, p99 %.1f us; "
               "server %.2f us CPU/request (%.0f%% of a core), client %.2f us (%.0f%%); "
               "%llu requests sent, %llu answered, %llu non-200, retransmits %llu/%llu\n",
               p.connections, p.pipeline, p.seconds, p.warmup, rps, p50, p99, srv_us,
               sh.server_cpu_window / p.seconds * 100, cli_us, cr.cpu_window / p.seconds * 100,
               static_cast<unsigned long long>(sum.sent),
               static_cast<unsigned long long>(sum.answered),
               static_cast<unsigned long long>(sum.non_200),
               static_cast<unsigned long long>(server_stats.tx_retransmits),
               static_cast<unsigned long long>(cr.retransmits));
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n",
                 !first_error.empty() ? first_error.c_str()
                 : sum.non_200 != 0   ? "responses other than 200"
                 : unanswered != 0    ? "requests left unanswered"
                                      : "no request completed in the window");
    return 1;
  }
  return 0;
}
