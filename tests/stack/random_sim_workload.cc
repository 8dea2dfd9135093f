// The workload of tcp_random_sim_test (see random_sim_workload.h).
#include "tests/stack/random_sim_workload.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <variant>

#include "coro/timeout.h"
#include "coro/when_all.h"
#include "coro/when_any.h"
#include "tests/stack/sim_rng.h"

namespace coronet::testing::random_sim {
namespace {

// Randomness. The plan, and through it every later draw, comes from std::mt19937_64 seeded by the
// seed (its output is fixed by the standard); integer ranges use multiply-shift rather than
// std::uniform_int_distribution, whose algorithm differs between standard libraries. One input is
// outside the seed's reach: each TcpLayer keys its ISNs (and timestamp offsets) with fresh random
// bytes. TCP only compares sequence numbers relative to each other, so runs come out identical
// (checked), but a replay that differs from the failing run would point there first.

using Rng = SimRng;

const char* stop_name(Stop s) {
  switch (s) {
    case Stop::kNone:
      return "none";
    case Stop::kDeadline:
      return "deadline";
    case Stop::kAfterWritten:
      return "abort-after-written";
    case Stop::kAfterRead:
      return "abort-after-read";
  }
  return "?";
}

nic::ImpairmentConfig draw_impairment(Rng& r) {
  nic::ImpairmentConfig c;
  c.loss = r.chance(0.25) ? 0.0 : r.uniform(0.0, 0.20);
  c.duplicate = r.chance(0.5) ? 0.0 : r.uniform(0.0, 0.05);
  c.reorder = r.chance(0.5) ? 0.0 : r.uniform(0.0, 0.10);
  c.reorder_depth = static_cast<unsigned>(r.between(1, 8));
  c.reorder_timeout = r.log_duration(100us, 10ms);
  c.delay = r.chance(0.25) ? Duration{0} : r.log_duration(10us, 20ms);
  c.jitter = r.chance(0.5) ? Duration{0}
                           : Duration(static_cast<Duration::rep>(
                                 r.below(static_cast<std::uint64_t>(c.delay.count()) + 1)));
  c.bandwidth_bps = r.chance(0.5) ? 0 : r.log_between(2'000'000, 1'000'000'000);
  c.corrupt = r.chance(0.5) ? 0.0 : r.uniform(0.0, 0.02);
  c.seed = r.next();
  return c;
}

std::uint64_t draw_size(Rng& r) {
  if (r.chance(0.12)) return 0;
  return r.log_between(1, 256 * 1024);
}

stack::tcp::BufferSizes draw_buffers(Rng& r) {
  stack::tcp::BufferSizes b;
  if (r.chance(0.3)) b.send = r.log_between(1024, 256 * 1024);
  if (r.chance(0.3)) b.recv = r.log_between(1024, 256 * 1024);
  return b;
}

SidePlan draw_side(Rng& r) {
  SidePlan s;
  s.send_bytes = draw_size(r);
  s.write_chunk = r.log_between(1, 65536);
  s.read_chunk = r.log_between(1, 65536);
  if (r.chance(0.25)) {
    s.pause_chance = r.uniform(0.0, 0.2);
    s.pause_max = r.log_duration(100us, 50ms);
  }
  s.no_delay = r.chance(0.5);
  s.buffers = draw_buffers(r);
  s.drop_handle = r.chance(0.2);
  // Keepalive on every connection, so that a peer that vanished (its RST lost) is noticed and
  // nothing waits forever. Many probes: a live peer must not be declared dead by loss alone.
  s.keepalive_idle = r.log_duration(2s, 20s);
  s.keepalive_interval = r.log_duration(500ms, 3s);
  s.keepalive_count = static_cast<unsigned>(r.between(8, 10));
  s.rng_seed = r.next();
  return s;
}

// Stops are drawn once both sides know the sizes (a stop after reading needs bytes to read).
void draw_stop(Rng& r, SidePlan& s) {
  double x = r.unit();
  if (x < 0.08) {
    s.stop = Stop::kDeadline;
    s.deadline = r.log_duration(1ms, 5s);
  } else if (x < 0.13) {
    s.stop = Stop::kAfterWritten;
    s.stop_bytes = r.between(0, s.send_bytes);
  } else if (x < 0.18 && s.expect_in > 0) {
    s.stop = Stop::kAfterRead;
    s.stop_bytes = r.between(1, s.expect_in);
  }
}

std::string describe(const nic::ImpairmentConfig& c) {
  std::ostringstream o;
  o << "loss=" << c.loss << " dup=" << c.duplicate << " reorder=" << c.reorder << "/"
    << c.reorder_depth << "/" << ms(c.reorder_timeout) << " delay=" << ms(c.delay) << "+-"
    << ms(c.jitter) << " bw=" << c.bandwidth_bps << " corrupt=" << c.corrupt;
  return o.str();
}

std::string describe(const SidePlan& s) {
  std::ostringstream o;
  o << "send=" << s.send_bytes << " wchunk=" << s.write_chunk << " rchunk=" << s.read_chunk
    << " pause=" << s.pause_chance << "/" << ms(s.pause_max) << " nodelay=" << s.no_delay
    << " buf=" << s.buffers.send << "/" << s.buffers.recv << " after_eof=" << s.send_after_eof
    << " drop=" << s.drop_handle << " stop=" << stop_name(s.stop);
  if (s.stop == Stop::kDeadline) o << "(" << ms(s.deadline) << ")";
  if (s.stop == Stop::kAfterWritten || s.stop == Stop::kAfterRead) o << "(" << s.stop_bytes << ")";
  o << " keepalive=" << ms(s.keepalive_idle) << "/" << ms(s.keepalive_interval) << "/"
    << s.keepalive_count;
  return o.str();
}

void note_stack_error(SideOutcome& o, const Error& e) {
  if (e.code() != Errc::kCancelled && !o.stack_error) o.stack_error = e;
}

coro::Task<Result<void>> pause(Rng& rng, const SidePlan& p) {
  if (p.pause_chance > 0 && rng.chance(p.pause_chance)) {
    co_return co_await coro::sleep_for(rng.log_duration(1us, p.pause_max));
  }
  co_return Result<void>{};
}

coro::Task<Result<void>> wait_event(coro::Event& e) { co_return co_await e.wait(); }

// Writes the side's stream, then shuts the sending direction down.
coro::Task<Result<void>> write_side(Connection& c, const SidePlan& p, SideOutcome& o,
                                    coro::Event& stop, coro::Event& reader_done) {
  Rng rng(p.rng_seed);
  if (p.send_after_eof) {
    if (auto w = co_await reader_done.wait(); !w) co_return w.error();
    if (!o.eof) co_return Error(Errc::kNotConnected, "the request never ended");
  }
  std::vector<std::byte> buf(
      std::min<std::uint64_t>(p.write_chunk, std::max<std::uint64_t>(p.send_bytes, 1)));
  for (;;) {
    if (p.stop == Stop::kAfterWritten && o.written >= p.stop_bytes) {
      stop.set();
      co_return Error(Errc::kCancelled, "planned abort");
    }
    if (o.written >= p.send_bytes) break;
    const auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), p.send_bytes - o.written));
    for (std::size_t i = 0; i < n; ++i) buf[i] = pattern(p.out_seed, o.written + i);
    auto w = co_await c.write(std::span<const std::byte>(buf.data(), n));
    if (!w) {
      note_stack_error(o, w.error());
      co_return w.error();
    }
    if (*w != n) {
      o.violations.push_back("write() returned " + std::to_string(*w) + " for " +
                             std::to_string(n) + " bytes");
      co_return Error(Errc::kInvalidArgument, "short write");
    }
    o.written += n;
    if (auto s = co_await pause(rng, p); !s) co_return s.error();
  }
  if (auto s = c.shutdown(); !s) {
    note_stack_error(o, s.error());
    co_return s.error();
  }
  o.sent_fin = true;
  co_return Result<void>{};
}

// Reads the peer's stream to EOF, checking every byte.
coro::Task<Result<void>> read_side(Connection& c, const SidePlan& p, SideOutcome& o,
                                   coro::Event& stop, coro::Event& reader_done) {
  struct SetOnExit {
    coro::Event& e;
    ~SetOnExit() { e.set(); }
  } done{reader_done};
  Rng rng(p.rng_seed ^ 0x5bd1e995);
  std::vector<std::byte> buf(p.read_chunk);
  for (;;) {
    if (p.stop == Stop::kAfterRead && o.received >= p.stop_bytes) {
      stop.set();
      co_return Error(Errc::kCancelled, "planned abort");
    }
    auto n = co_await c.read(buf);
    if (!n) {
      note_stack_error(o, n.error());
      co_return n.error();
    }
    if (*n == 0) break;
    if (o.received + *n > p.expect_in) {
      o.violations.push_back("read " + std::to_string(o.received + *n) + " bytes of a " +
                             std::to_string(p.expect_in) + "-byte stream");
      co_return Error(Errc::kInvalidArgument, "too many bytes");
    }
    for (std::size_t i = 0; i < *n; ++i) {
      if (buf[i] != pattern(p.in_seed, o.received + i)) {
        o.violations.push_back("byte " + std::to_string(o.received + i) + " of " +
                               std::to_string(p.expect_in) + " differs from what was sent");
        co_return Error(Errc::kInvalidArgument, "corrupted stream");
      }
    }
    o.received += *n;
    if (auto s = co_await pause(rng, p); !s) co_return s.error();
  }
  o.eof = true;
  if (o.received != p.expect_in) {
    o.violations.push_back("EOF after " + std::to_string(o.received) + " of " +
                           std::to_string(p.expect_in) + " bytes");
    co_return Error(Errc::kInvalidArgument, "early EOF");
  }
  co_return Result<void>{};
}

// Both directions at once, then close() (or nothing: the handle's owner drops it).
coro::Task<Result<void>> exchange(Connection& c, const SidePlan& p, SideOutcome& o,
                                  coro::Event& stop) {
  coro::Event reader_done;
  auto [w, r] = co_await coro::when_all(write_side(c, p, o, stop, reader_done),
                                        read_side(c, p, o, stop, reader_done));
  if (!r) co_return r.error();
  if (!w) co_return w.error();
  if (p.drop_handle) co_return Result<void>{};
  auto cl = co_await c.close();
  if (!cl) note_stack_error(o, cl.error());
  co_return cl;
}

// The exchange, cut short by a planned stop (when_any against the stop event).
coro::Task<Result<void>> stoppable_exchange(Connection& c, const SidePlan& p, SideOutcome& o) {
  coro::Event stop;
  auto v = co_await coro::when_any(exchange(c, p, o, stop), wait_event(stop));
  if (v.index() == 1) co_return Error(Errc::kCancelled, "planned abort");
  co_return std::get<0>(std::move(v));
}

// Runs one side on an open connection and records how it ended. Any failure ends in abort(), as
// a careful application would: the peer then learns of it (reset) instead of seeing a clean EOF.
coro::Task<void> drive(Connection& c, const SidePlan& p, SideOutcome& o) {
  o.opened = true;
  o.conn = &c;
  if (auto r = c.set_keepalive(p.keepalive_idle, p.keepalive_interval, p.keepalive_count); !r) {
    o.violations.push_back("set_keepalive: " + r.error().message());
  }
  if (auto r = c.set_no_delay(p.no_delay); !r) {
    o.violations.push_back("set_no_delay: " + r.error().message());
  }
  // An if rather than ?: on purpose: with co_await in both arms GCC 12 destroyed a temporary twice.
  Result<void> r;
  if (p.stop == Stop::kDeadline) {
    r = co_await coro::with_timeout(stoppable_exchange(c, p, o), p.deadline);
  } else {
    r = co_await stoppable_exchange(c, p, o);
  }
  if (!r) {
    o.error = r.error();
    o.self_inflicted = !o.stack_error.has_value();
    o.aborted = true;
    c.abort();
  }
  o.conn = nullptr;
}

}  // namespace

std::string ms(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fms", std::chrono::duration<double, std::milli>(d).count());
  return buf;
}

SeedPlan draw_plan(std::uint64_t seed) {
  Rng r(seed * 0x9E3779B97F4A7C15ULL + 0x1234567);
  SeedPlan p;
  p.a_to_b = draw_impairment(r);
  p.b_to_a = draw_impairment(r);
  // Not below 2 s: a TIME-WAIT shorter than the peer's backed-off FIN retransmissions would make
  // resets of finished connections legitimate.
  p.tcp.msl = r.log_duration(2s, 30s);
  if (r.chance(0.1)) {
    p.tcp.send_chunks = static_cast<std::uint32_t>(r.between(2, 16));  // writers wait for memory
  } else {
    p.tcp.send_chunks = 512;
  }
  p.tcp.send_views = 4 * p.tcp.send_chunks + 64;
  const auto n = static_cast<std::size_t>(r.between(1, 4));
  for (std::size_t i = 0; i < n; ++i) {
    ConnPlan c;
    c.server_port = static_cast<std::uint16_t>(7000 + i);
    c.client_port = static_cast<std::uint16_t>(40000 + i);
    c.start_delay = r.chance(0.5) ? Duration{0} : r.log_duration(10us, 200ms);
    if (r.chance(0.08)) c.connect_timeout = r.log_duration(100us, 3s);
    c.client = draw_side(r);
    c.server = draw_side(r);
    c.server.send_after_eof = r.chance(0.3);
    const std::uint64_t up = r.next();
    const std::uint64_t down = r.next();
    c.client.out_seed = c.server.in_seed = up;
    c.server.out_seed = c.client.in_seed = down;
    c.client.expect_in = c.server.send_bytes;
    c.server.expect_in = c.client.send_bytes;
    draw_stop(r, c.client);
    draw_stop(r, c.server);
    p.conns.push_back(c);
  }
  return p;
}

std::string describe(const SeedPlan& p) {
  std::ostringstream o;
  o << "  a->b: " << describe(p.a_to_b) << "\n  b->a: " << describe(p.b_to_a)
    << "\n  tcp: msl=" << ms(p.tcp.msl) << " send_chunks=" << p.tcp.send_chunks << "\n";
  for (std::size_t i = 0; i < p.conns.size(); ++i) {
    const ConnPlan& c = p.conns[i];
    o << "  conn " << i << ": start=" << ms(c.start_delay)
      << " connect_timeout=" << (c.connect_timeout ? ms(*c.connect_timeout) : std::string("none"))
      << "\n    client: " << describe(c.client) << "\n    server: " << describe(c.server) << "\n";
  }
  return o.str();
}

std::string describe(const SideOutcome& o) {
  std::ostringstream s;
  s << "opened=" << o.opened << " finished=" << o.finished << " written=" << o.written
    << " fin=" << o.sent_fin << " received=" << o.received << " eof=" << o.eof
    << " error=" << (o.error ? o.error->message() : std::string("none"))
    << " stack_error=" << (o.stack_error ? o.stack_error->message() : std::string("none"))
    << " self=" << o.self_inflicted << " aborted=" << o.aborted;
  return s.str();
}

coro::Task<void> client_side(SimHost& host, const ConnPlan& plan, ConnRun& run) {
  SideOutcome& o = run.client;
  if (plan.start_delay.count() > 0) (void)co_await coro::sleep_for(plan.start_delay);
  stack::tcp::ConnectOptions opts;
  opts.local_port = plan.client_port;
  opts.buffers = plan.client.buffers;
  const stack::Endpoint to{SimPair::kAddrB, plan.server_port};
  Result<Connection> c = Error(Errc::kNotConnected);
  if (plan.connect_timeout) {
    c = co_await coro::with_timeout(stack::tcp::connect(host.tcp, to, opts), *plan.connect_timeout);
  } else {
    c = co_await stack::tcp::connect(host.tcp, to, opts);
  }
  if (c) {
    co_await drive(*c, plan.client, o);
  } else {
    o.error = c.error();
    // The stack's own SYN retries also end in kTimedOut, but only after far longer than any
    // planned connect timeout.
    o.self_inflicted = plan.connect_timeout.has_value() && c.error().code() == Errc::kTimedOut;
    if (!o.self_inflicted) o.stack_error = c.error();
  }
  run.client_done.set();
  o.finished = true;
}

coro::Task<void> server_side(const ConnPlan& plan, ConnRun& run) {
  SideOutcome& o = run.server;
  auto got = co_await coro::when_any(run.listener->accept(), wait_event(run.client_done));
  run.listener.reset();  // one connection per listener
  if (got.index() == 1) {
    o.error = Error(Errc::kCancelled, "never accepted: the client finished first");
  } else if (auto& c = std::get<0>(got); !c) {
    o.error = c.error();
    o.stack_error = c.error();
  } else {
    co_await drive(*c, plan.server, o);
  }
  o.finished = true;
}

}  // namespace coronet::testing::random_sim
