#include "tools/loadgen/load_run.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "coro/reactor.h"
#include "coro/runtime.h"
#include "coro/timeout.h"
#include "tools/loadgen/http_response.h"

namespace coronet::loadgen {
namespace {

using Clock = std::chrono::steady_clock;
using coro::Duration;
using coro::TimePoint;
using namespace std::chrono_literals;

// After a failed connect a slot pauses this long, so a dead target is not hammered in a tight
// loop (each attempt is still counted).
constexpr Duration kConnectBackoff = 10ms;
// Closing a connection at the end of the run waits at most this long.
constexpr Duration kCloseTimeout = 1s;
// Beyond warm-up + window + request timeout + close: slack before the hard stop.
constexpr Duration kGrace = 3s;
constexpr std::size_t kHttpReadBuffer = 16 * 1024;

// One core's run: its window, its slot, its live workers. Lives in serve()'s frame; workers get
// a reference and never touch it from a destructor (frames may be destroyed in any order when
// the runtime stops).
struct CoreRun {
  // The window runs from t0 + warm-up for --duration.
  CoreRun(const LoadRun& r, Stack& s, LoadRun::CoreSlot& sl)
      : cfg(r.config()),
        run(r),
        stack(s),
        slot(sl),
        t0(sl.t0),
        from(sl.t0 + cfg.warmup),
        to(sl.t0 + cfg.warmup + cfg.duration) {}

  const Config& cfg;
  const LoadRun& run;
  Stack& stack;
  LoadRun::CoreSlot& slot;
  TimePoint t0;
  TimePoint from;  // measured window [from, to)
  TimePoint to;
  unsigned live = 0;
  coro::Event finished;
  std::uint64_t progress_requests = 0;
  std::uint64_t progress_errors = 0;

  // A request that started at `start` completed at `end`.
  void succeeded(TimePoint start, TimePoint end) {
    progress_requests += 1;
    slot.progress_requests.store(progress_requests, std::memory_order_relaxed);
    if (start < from) {
      ++slot.result.warmup_requests;
    } else if (start < to) {
      ++slot.result.requests;
      slot.result.latency.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
    }
  }
  // A request that started at `start` failed; `detail` is only evaluated for the first error.
  template <typename Detail>
  void failed(TimePoint start, ErrorKind kind, Detail detail) {
    progress_errors += 1;
    slot.progress_errors.store(progress_errors, std::memory_order_relaxed);
    if (slot.result.first_error.empty()) {
      slot.result.first_error = std::string(error_kind_name(kind)) + ": " + detail();
    }
    if (start < from) {
      ++slot.result.warmup_errors;
    } else if (start < to) {
      ++slot.result.errors[static_cast<std::size_t>(kind)];
    }
  }
  // A socket error: classified, its message kept if it is the first.
  void failed(TimePoint start, const Error& e, bool connecting) {
    failed(start, classify(e, connecting), [&e] { return e.message(); });
  }
  // A connect that started at `start` completed.
  void connected(TimePoint start) {
    if (start >= from && start < to) ++slot.result.connections;
  }
  // Called last by every worker.
  void worker_done() {
    if (--live == 0) finished.set();
  }
};

// A connection's request times: unpaced (closed loop), or open loop: over all connections the
// requests are due at t0 + j/rate for j = 0, 1, 2, ..., connection g taking j = g, g+N, g+2N, ...
// (N connections), so the connections are spread evenly and each has its fixed schedule.
class Schedule {
 public:
  // The schedule of connection `global_index` (0 .. --connections-1) from the common t0.
  Schedule(const Config& c, TimePoint t0, unsigned global_index)
      : paced_(c.rate > 0), rate_(c.rate), t0_(t0), j_(global_index), step_(c.connections) {}
  // Open loop (--rate set)?
  bool paced() const { return paced_; }
  // The due time of the next request, without taking it.
  TimePoint peek() const {
    // One division of exact integers: j/rate lands on whole ns where it should.
    return t0_ + std::chrono::nanoseconds(
                     static_cast<std::int64_t>(static_cast<double>(j_) * 1e9 / rate_));
  }
  // Takes the next request's due time.
  TimePoint take() {
    const TimePoint t = peek();
    j_ += step_;
    return t;
  }

 private:
  bool paced_;
  double rate_;
  TimePoint t0_;
  std::uint64_t j_;
  std::uint64_t step_;
};

// The payload of request `seq`: varies per request and per byte, so a misplaced echo shows.
void fill(std::span<std::byte> out, std::uint64_t seq) {
  std::uint64_t x = seq * 0x9E3779B97F4A7C15ull + 1;
  for (std::byte& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x);
  }
}

// Writes `out` and reads as many bytes back.
coro::Task<Result<void>> exchange(Connection& conn, std::span<const std::byte> out,
                                  std::span<std::byte> in) {
  auto w = co_await conn.write(out);
  if (!w) co_return w.error();
  co_return co_await conn.read_exactly(in);
}

// --mode=short's request: connect, exchange; `connecting` stays true until the connect completed.
coro::Task<Result<Connection>> connect_and_exchange(Stack& stack, Endpoint target,
                                                    std::span<const std::byte> out,
                                                    std::span<std::byte> in, bool& connecting) {
  auto c = co_await stack.connect(target);
  if (!c) co_return c.error();
  connecting = false;
  (void)c->set_no_delay(true);
  auto r = co_await exchange(*c, out, in);
  if (!r) {
    c->abort();
    co_return r.error();
  }
  co_return std::move(*c);
}

// The next request's start: its due time (sleeping until then) when paced, else now. False once
// the measured window is over (or the run is being torn down).
coro::Task<bool> next_start(const CoreRun& cr, Schedule& sched, TimePoint& start) {
  if (!sched.paced()) {
    start = Clock::now();
    co_return start < cr.to;
  }
  start = sched.take();
  if (start >= cr.to) co_return false;
  if (start <= Clock::now()) co_return true;
  // (co_await only as a statement or an initialiser here: GCC 12 miscompiles some awaits inside
  // conditions.)
  auto slept = co_await coro::sleep_until(start);
  co_return slept.has_value();
}

// One slot of --mode=short or --mode=keepalive.
coro::Task<void> echo_worker(CoreRun& cr, unsigned global_index) {
  const Config& cfg = cr.cfg;
  std::vector<std::byte> out(cfg.size);
  std::vector<std::byte> in(cfg.size);
  Schedule sched(cfg, cr.t0, global_index);
  Connection conn;
  std::uint64_t seq = std::uint64_t{global_index} << 32;
  TimePoint start;
  for (;;) {
    const bool go = co_await next_start(cr, sched, start);
    if (!go) break;
    fill(out, seq++);
    if (cfg.mode == Mode::kShort) {
      // The request is the connection: latency from the connect to the last echoed byte.
      bool connecting = true;
      auto c = co_await coro::with_timeout(
          connect_and_exchange(cr.stack, cfg.target, out, in, connecting), cfg.timeout);
      const TimePoint end = Clock::now();
      if (!connecting) cr.connected(start);
      if (!c) {
        cr.failed(start, c.error(), connecting);
        if (connecting) (void)co_await coro::sleep_for(kConnectBackoff);
        continue;
      }
      if (std::memcmp(in.data(), out.data(), in.size()) != 0) {
        cr.failed(start, ErrorKind::kMismatch, [] { return std::string("echo differs"); });
        c->abort();
        continue;
      }
      cr.succeeded(start, end);
      continue;  // the handle closes like close(2), finishing in the background
    }
    if (!conn.valid()) {
      const TimePoint connect_start = Clock::now();
      auto c = co_await coro::with_timeout(cr.stack.connect(cfg.target), cfg.timeout);
      if (!c) {
        cr.failed(start, c.error(), true);
        (void)co_await coro::sleep_for(kConnectBackoff);
        continue;
      }
      cr.connected(connect_start);
      conn = std::move(*c);
      (void)conn.set_no_delay(true);
      if (!sched.paced()) start = Clock::now();  // keep-alive latency excludes the connect
    }
    auto r = co_await coro::with_timeout(exchange(conn, out, in), cfg.timeout);
    const TimePoint end = Clock::now();
    if (!r || std::memcmp(in.data(), out.data(), in.size()) != 0) {
      if (!r) {
        cr.failed(start, r.error(), false);
      } else {
        cr.failed(start, ErrorKind::kMismatch, [] { return std::string("echo differs"); });
      }
      conn.abort();
      conn = Connection();
      continue;
    }
    cr.succeeded(start, end);
  }
  if (conn.valid()) (void)co_await coro::with_timeout(conn.close(), kCloseTimeout);
  cr.worker_done();
}

// A request in flight on an HTTP connection.
struct InFlight {
  TimePoint start;   // latency is measured from here (scheduled time when paced)
  TimePoint sent{};  // last written (the timeout runs from here); zero: never sent
};

// One connection of --mode=http: up to --pipeline requests in flight, answered in order.
// Requests behind a response that closes the connection are sent again on a new one.
coro::Task<void> http_worker(CoreRun& cr, unsigned global_index) {
  const Config& cfg = cr.cfg;
  const std::string& request = cr.run.http_request();
  const unsigned depth = cfg.pipeline;
  std::vector<InFlight> ring(depth);
  unsigned head = 0;
  unsigned count = 0;  // in flight: ring[head .. head+count)
  unsigned sent = 0;   // of which the first `sent` were written on `conn`
  std::string batch;
  batch.reserve(request.size() * depth);
  std::vector<char> buf(kHttpReadBuffer);
  HttpResponseParser parser;
  Schedule sched(cfg, cr.t0, global_index);
  Connection conn;
  bool more = true;  // new requests may still start

  // Every request in flight failed with `e`; the connection is dropped.
  auto fail_all = [&](const Error& e, bool connecting) {
    for (unsigned k = 0; k < count; ++k) cr.failed(ring[(head + k) % depth].start, e, connecting);
    count = sent = 0;
    if (conn.valid()) conn.abort();
    conn = Connection();
    parser.reset();
  };

  for (;;) {
    TimePoint now = Clock::now();
    while (more && count < depth) {  // new requests: as many as are due and fit
      TimePoint start = now;
      if (sched.paced()) {
        if (sched.peek() >= cr.to) {
          more = false;
          break;
        }
        if (sched.peek() > now) break;
        start = sched.take();
      } else if (now >= cr.to) {
        more = false;
        break;
      }
      ring[(head + count) % depth] = InFlight{start};
      ++count;
    }
    if (count == 0) {
      if (!more) break;
      auto slept = co_await coro::sleep_until(sched.peek());  // paced: nothing due yet
      if (!slept) break;
      continue;
    }
    if (!conn.valid()) {
      auto c = co_await coro::with_timeout(cr.stack.connect(cfg.target), cfg.timeout);
      if (!c) {
        fail_all(c.error(), true);
        (void)co_await coro::sleep_for(kConnectBackoff);
        continue;
      }
      cr.connected(now);
      conn = std::move(*c);
      (void)conn.set_no_delay(true);
      parser.reset();
      sent = 0;
    }
    if (sent < count) {  // one write for everything not yet sent on this connection
      batch.clear();
      const TimePoint t = Clock::now();
      for (unsigned k = sent; k < count; ++k) {
        InFlight& f = ring[(head + k) % depth];
        if (!sched.paced() && f.sent == TimePoint{}) f.start = t;
        f.sent = t;
        batch += request;
      }
      auto w =
          co_await coro::with_timeout(conn.write(std::as_bytes(std::span(batch))), cfg.timeout);
      if (!w) {
        fail_all(w.error(), false);
        continue;
      }
      sent = count;
    }
    // Read until the oldest request times out, or until the next request is due (paced, with
    // room in the pipeline): a cancelled read loses no data.
    const TimePoint deadline = ring[head].sent + cfg.timeout;
    TimePoint wake = deadline;
    if (sched.paced() && more && count < depth) wake = std::min(wake, sched.peek());
    now = Clock::now();
    auto r = co_await coro::with_timeout(conn.read(std::as_writable_bytes(std::span(buf))),
                                         std::max(wake - now, Duration::zero()));
    if (!r) {
      if (r.error().code() == Errc::kTimedOut && Clock::now() < deadline) continue;
      fail_all(r.error(), false);
      continue;
    }
    if (*r == 0) {  // the server closed: a body delimited by the close ends here
      if (parser.finish() == HttpResponseParser::Status::kComplete && count > 0) {
        const InFlight f = ring[head];
        head = (head + 1) % depth;
        --count;
        if (parser.status() >= 200 && parser.status() < 300) {
          cr.succeeded(f.start, Clock::now());
        } else {
          cr.failed(f.start, ErrorKind::kHttpStatus,
                    [&] { return "HTTP status " + std::to_string(parser.status()); });
        }
      }
      if (count > 0) {
        fail_all(Error(Errc::kNotConnected, "the server closed with " + std::to_string(count) +
                                                " request(s) unanswered"),
                 false);
      }
      conn = Connection();
      continue;
    }
    std::span<const char> data(buf.data(), *r);
    while (!data.empty()) {
      std::size_t used = 0;
      const auto st = parser.feed(data, used);
      data = data.subspan(used);
      if (st == HttpResponseParser::Status::kNeedMore) break;
      if (st == HttpResponseParser::Status::kError || sent == 0) {
        const char* why = st == HttpResponseParser::Status::kError ? parser.error()
                                                                   : "a response without a request";
        for (unsigned k = 0; k < count; ++k) {
          cr.failed(ring[(head + k) % depth].start, ErrorKind::kOther,
                    [why] { return std::string("bad HTTP response: ") + why; });
        }
        count = sent = 0;
        conn.abort();
        conn = Connection();
        parser.reset();
        break;
      }
      const InFlight f = ring[head];
      head = (head + 1) % depth;
      --count;
      --sent;
      if (parser.status() >= 200 && parser.status() < 300) {
        cr.succeeded(f.start, Clock::now());
      } else {
        cr.failed(f.start, ErrorKind::kHttpStatus,
                  [&] { return "HTTP status " + std::to_string(parser.status()); });
      }
      if (!parser.keep_alive()) {  // Connection: close: what is left goes on a new connection
        conn = Connection();
        sent = 0;
        parser.reset();
        break;
      }
      parser.reset();
    }
  }
  if (conn.valid()) (void)co_await coro::with_timeout(conn.close(), kCloseTimeout);
  cr.worker_done();
}

// Returns this core's share of `total` connections and the global index of its first one.
std::pair<unsigned, unsigned> share(unsigned total, unsigned cores, unsigned core) {
  const unsigned base = total / cores;
  const unsigned extra = total % cores;
  return {base + (core < extra ? 1 : 0), core * base + std::min(core, extra)};
}

}  // namespace

// One slot per core; the HTTP request text built once for every connection.
LoadRun::LoadRun(const Config& config, unsigned cores)
    : config_(config), cores_(cores), running_(cores) {
  for (unsigned c = 0; c < cores; ++c) slots_.push_back(std::make_unique<CoreSlot>());
  std::string host = config.target.addr.to_string();
  if (config.target.port != 80) host += ":" + std::to_string(config.target.port);
  http_request_ = "GET " + config.path + " HTTP/1.1\r\nHost: " + host +
                  "\r\nUser-Agent: coronet-loadgen\r\nAccept: */*\r\n\r\n";
}

coro::Task<bool> LoadRun::wait_for_target(Stack& stack) {
  const TimePoint deadline = Clock::now() + config_.wait;
  for (;;) {
    const Duration left = deadline - Clock::now();
    auto c = co_await coro::with_timeout(stack.connect(config_.target),
                                         std::clamp<Duration>(left, 10ms, 1s));
    if (c) {
      (void)co_await coro::with_timeout(c->close(), kCloseTimeout);
      co_return true;
    }
    if (Clock::now() >= deadline) {
      wait_error_ = c.error().message();
      co_return false;
    }
    auto slept = co_await coro::sleep_for(std::min<Duration>(deadline - Clock::now(), 100ms));
    if (!slept) co_return false;
  }
}

coro::Task<void> LoadRun::watchdog(Duration limit) {
  auto slept = co_await coro::sleep_for(limit);
  if (!slept) co_return;
  overran_.store(true);
  coro::Runtime::current()->stop();
}

coro::Task<void> LoadRun::serve(Stack& stack) {
  const auto core = static_cast<unsigned>(coro::Runtime::current_core());
  CoreSlot& slot = *slots_[core];
  if (core == 0) {
    coro::spawn(watchdog(config_.wait + config_.warmup + config_.duration + config_.timeout +
                         kCloseTimeout + kGrace));
    if (config_.wait > Duration::zero()) {
      const bool reached = co_await wait_for_target(stack);
      if (!reached) {
        unreachable_.store(true);
        coro::Runtime::current()->stop();
        co_return;
      }
    }
    // One start for every core, a little ahead so the messages arrive first.
    const TimePoint t0 = Clock::now() + (cores_ > 1 ? 2ms : 0ms);
    for (unsigned c = 0; c < cores_; ++c) {
      (void)co_await coro::submit_to(c, [this, c, t0] {
        slots_[c]->t0 = t0;
        slots_[c]->start.set();
      });
    }
  }
  (void)co_await slot.start.wait();
  CoreRun cr(*this, stack, slot);
  const auto [mine, first] = share(config_.connections, cores_, core);
  cr.live = mine;
  for (unsigned i = 0; i < mine; ++i) {
    coro::spawn(config_.mode == Mode::kHttp ? http_worker(cr, first + i)
                                            : echo_worker(cr, first + i));
  }
  if (mine > 0) (void)co_await cr.finished.wait();
  if (running_.fetch_sub(1, std::memory_order_acq_rel) == 1) coro::Runtime::current()->stop();
}

std::pair<std::uint64_t, std::uint64_t> LoadRun::progress() const {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  for (const auto& s : slots_) {
    requests += s->progress_requests.load(std::memory_order_relaxed);
    errors += s->progress_errors.load(std::memory_order_relaxed);
  }
  return {requests, errors};
}

Report LoadRun::report(StackKind stack) const {
  Report r;
  r.config = &config_;
  r.stack = stack_kind_name(stack);
  r.cores = cores_;
  for (const auto& s : slots_) {
    r.total.merge(s->result);
    r.per_core_requests.push_back(s->result.requests);
  }
  r.overran = overran_.load();
  return r;
}

}  // namespace coronet::loadgen
