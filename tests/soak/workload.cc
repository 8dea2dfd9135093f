#include "tests/soak/workload.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <span>
#include <utility>
#include <variant>

#include "coro/timeout.h"
#include "coro/when_all.h"
#include "coro/when_any.h"
#include "stack/net/bytes.h"
#include "tests/stack/sim_rng.h"

namespace coronet::soak {
namespace {

using namespace std::chrono_literals;
using coro::Duration;
using stack::tcp::Connection;
using testing::pattern;

constexpr std::uint64_t kLongIdBase = std::uint64_t{1} << 62;
constexpr std::size_t kHeaderSize = 16;
constexpr std::uint64_t kStalledBytes = 4u << 20;  // far beyond both buffers (2 x 256 KiB)

using Rng = testing::SimRng;

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dULL;
  return x ^ (x >> 33);
}

// What both sides of connection `id` do.
struct Plan {
  Kind kind = Kind::kEcho;
  std::uint64_t up = 0;    // client -> server bytes
  std::uint64_t down = 0;  // server -> client bytes
  std::uint64_t cut = 0;   // abort kinds: bytes written before the abort
  std::uint64_t seed_up = 0;
  std::uint64_t seed_down = 0;
  bool client_first = true;  // echo: who closes first
  bool drop_handle = false;  // echo: the first closer drops its handle instead of close()
  bool no_delay = false;
  Duration idle{};   // idle: silence before the request
  Duration stall{};  // stalled-reader: the client's write deadline
  Duration pause{};  // abort kinds: wait between the last write and the abort
  std::size_t write_chunk = 16384;
  std::size_t read_chunk = 16384;
};

std::uint64_t draw_size(Rng& r) {
  return r.chance(0.85) ? r.log_between(1, 4096) : r.log_between(4097, 1u << 20);
}

Plan make_plan(std::uint64_t run_seed, std::uint64_t id) {
  Rng r(mix(run_seed ^ mix(id)));
  Plan p;
  p.seed_up = r.next();
  p.seed_down = r.next();
  p.no_delay = r.chance(0.5);
  p.write_chunk = r.log_between(512, 65536);
  p.read_chunk = r.log_between(512, 65536);
  if (id >= kLongIdBase) {
    p.kind = Kind::kLong;
    return p;
  }
  const double x = r.unit();
  p.kind = x < 0.60   ? Kind::kEcho
           : x < 0.66 ? Kind::kIdle
           : x < 0.76 ? Kind::kClientAbort
           : x < 0.86 ? Kind::kServerAbort
           : x < 0.90 ? Kind::kStalledReader
                      : Kind::kServerDrops;
  p.up = draw_size(r);
  p.down = draw_size(r);
  p.client_first = r.chance(0.5);
  p.drop_handle = r.chance(0.2);
  switch (p.kind) {
    case Kind::kIdle:
      p.idle = r.duration(10s, 90s);
      p.up = r.between(1, 512);
      p.down = r.between(1, 512);
      break;
    case Kind::kClientAbort:
      p.up = std::max<std::uint64_t>(p.up, 2);
      p.cut = r.below(p.up);
      p.pause = r.chance(0.5) ? r.duration(100us, 50ms) : Duration{0};
      break;
    case Kind::kServerAbort:
      p.down = std::max<std::uint64_t>(p.down, 2);
      p.cut = r.below(p.down);
      p.pause = r.chance(0.5) ? r.duration(100us, 50ms) : Duration{0};
      break;
    case Kind::kStalledReader:
      p.up = kStalledBytes;
      p.stall = r.duration(5s, 30s);
      break;
    case Kind::kServerDrops:
      p.up = r.log_between(64u << 10, 1u << 20);
      p.down = 0;
      break;
    default:
      break;
  }
  return p;
}

std::uint32_t bit(Outcome o) { return 1u << static_cast<unsigned>(o); }

// The outcomes a side of a connection of kind `k` may legitimately end with.
std::uint32_t allowed(Kind k, bool server) {
  switch (k) {
    case Kind::kEcho:
    case Kind::kIdle:
    case Kind::kLong:
      return bit(Outcome::kCompleted);
    case Kind::kClientAbort:
      return server ? bit(Outcome::kReset) | bit(Outcome::kTimedOut) : bit(Outcome::kSelfAborted);
    case Kind::kServerAbort:
      return server ? bit(Outcome::kSelfAborted) : bit(Outcome::kReset) | bit(Outcome::kTimedOut);
    case Kind::kStalledReader:
      // The client's own write deadline; the server then meets the abort (or keepalive's end).
      return server ? bit(Outcome::kReset) | bit(Outcome::kTimedOut) : bit(Outcome::kTimedOut);
    case Kind::kServerDrops:
      // The server's close() resets when request bytes had arrived unread (RFC 2525 §2.17);
      // the client sees that reset, or EOF when the close was graceful and its data was refused
      // only later, or a broken pipe when the reset came while it was still writing.
      return server ? bit(Outcome::kCompleted) | bit(Outcome::kSelfAborted)
                    : bit(Outcome::kCompleted) | bit(Outcome::kReset) | bit(Outcome::kBrokenPipe);
    case Kind::kUnknown:
      // Before the header: only a client that aborted right after connecting explains this.
      return bit(Outcome::kReset) | bit(Outcome::kTimedOut);
    default:
      return 0;
  }
}

Outcome classify(const Result<void>& r) {
  if (r) return Outcome::kCompleted;
  switch (r.error().code()) {
    case Errc::kConnectionReset:
      return Outcome::kReset;
    case Errc::kTimedOut:
      return Outcome::kTimedOut;
    case Errc::kConnectionAborted:
      return Outcome::kSelfAborted;
    case Errc::kBrokenPipe:
      return Outcome::kBrokenPipe;
    case Errc::kNotConnected:
      return Outcome::kPeerClosed;
    default:
      return Outcome::kOther;
  }
}

std::string describe(const Side& s) {
  return std::string(kind_name(s.kind)) + " connection " + std::to_string(s.id) +
         (s.server ? " server" : " client") + " (at: " + s.step + ")";
}

void record(Side& side, const Result<void>& r) {
  const Outcome o = classify(r);
  Soak& s = side.soak;
  s.tally.ended[static_cast<std::size_t>(side.kind)][side.server ? 1 : 0]
               [static_cast<std::size_t>(o)]++;
  if ((allowed(side.kind, side.server) & bit(o)) == 0) {
    s.fail(describe(side) + " ended " + outcome_name(o) + ": " +
           (r ? std::string("no error") : r.error().message()));
  }
}

void configure(Connection& c, const Plan& p) {
  // Every side watches its peer: a reset that was lost, or a peer that vanished, ends the
  // connection within ~23 s instead of never. Nine probes: loss alone does not kill a live peer.
  (void)c.set_keepalive(5s, 2s, 9);
  (void)c.set_no_delay(p.no_delay);
}

// Writes pattern bytes [from, from + n) of `seed`.
coro::Task<Result<void>> write_pattern(Connection& c, Side& side, std::uint64_t seed,
                                       std::uint64_t from, std::uint64_t n, std::size_t chunk) {
  std::vector<std::byte> buf(static_cast<std::size_t>(std::min<std::uint64_t>(chunk, n)));
  std::uint64_t done = 0;
  while (done < n) {
    const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), n - done));
    for (std::size_t i = 0; i < k; ++i) buf[i] = pattern(seed, from + done + i);
    auto w = co_await c.write(std::span<const std::byte>(buf.data(), k));
    if (!w) co_return w.error();
    done += k;
    side.touch("writing");
  }
  co_return Result<void>{};
}

// Reads pattern bytes [*got, want) of `seed`, checking each; want = UINT64_MAX reads to EOF.
// EOF before `want` is Errc::kNotConnected; a wrong byte is a failure (Errc::kInvalidArgument).
coro::Task<Result<void>> read_pattern(Connection& c, Side& side, std::uint64_t seed,
                                      std::uint64_t want, std::uint64_t* got, std::size_t chunk) {
  std::vector<std::byte> buf(chunk);
  while (*got < want) {
    const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), want - *got));
    auto n = co_await c.read(std::span<std::byte>(buf.data(), k));
    if (!n) co_return n.error();
    if (*n == 0) {
      if (want == ~std::uint64_t{0}) co_return Result<void>{};
      co_return Error(Errc::kNotConnected, "EOF after " + std::to_string(*got) + " of " +
                                               std::to_string(want) + " bytes");
    }
    for (std::size_t i = 0; i < *n; ++i) {
      if (buf[i] != pattern(seed, *got + i)) {
        side.soak.fail(describe(side) + ": byte " + std::to_string(*got + i) +
                       " differs from what was sent");
        co_return Error(Errc::kInvalidArgument, "data mismatch");
      }
    }
    *got += *n;
    side.soak.tally.bytes_verified += *n;
    side.touch("reading");
  }
  co_return Result<void>{};
}

// Reads once more, expecting EOF.
coro::Task<Result<void>> expect_eof(Connection& c, Side& side) {
  std::byte b[64];
  auto n = co_await c.read(b);
  if (!n) co_return n.error();
  if (*n != 0) {
    side.soak.fail(describe(side) + ": " + std::to_string(*n) + " bytes where EOF was due");
    co_return Error(Errc::kInvalidArgument, "data after the stream");
  }
  side.touch("eof");
  co_return Result<void>{};
}

// ---------------------------------------------------------------------------------------------
// Client bodies (after connect and header).

coro::Task<Result<void>> echo_client(Connection& c, Side& side, const Plan& p) {
  auto w = co_await write_pattern(c, side, p.seed_up, 0, p.up, p.write_chunk);
  if (!w) co_return w;
  std::uint64_t got = 0;
  auto r = co_await read_pattern(c, side, p.seed_down, p.down, &got, p.read_chunk);
  if (!r) co_return r;
  if (p.client_first) {
    if (p.drop_handle) co_return Result<void>{};  // the caller drops it: a background close
    side.touch("closing");
    co_return co_await c.close();
  }
  auto e = co_await expect_eof(c, side);
  if (!e) co_return e;
  co_return co_await c.close();
}

coro::Task<Result<void>> idle_client(Connection& c, Side& side, const Plan& p) {
  side.touch("idle", p.idle);
  auto s = co_await coro::sleep_for(p.idle);
  if (!s) co_return s;
  auto w = co_await write_pattern(c, side, p.seed_up, 0, p.up, p.write_chunk);
  if (!w) co_return w;
  std::uint64_t got = 0;
  auto r = co_await read_pattern(c, side, p.seed_down, p.down, &got, p.read_chunk);
  if (!r) co_return r;
  co_return co_await c.close();
}

coro::Task<Result<void>> client_abort_client(Connection& c, Side& side, const Plan& p) {
  auto w = co_await write_pattern(c, side, p.seed_up, 0, p.cut, p.write_chunk);
  if (!w) co_return w;
  if (p.pause.count() > 0) (void)co_await coro::sleep_for(p.pause);
  c.abort();
  co_return Error(Errc::kConnectionAborted, "planned abort");
}

coro::Task<Result<void>> server_abort_client(Connection& c, Side& side, const Plan& p) {
  auto w = co_await write_pattern(c, side, p.seed_up, 0, p.up, p.write_chunk);
  if (!w) co_return w;
  std::uint64_t got = 0;
  auto r = co_await read_pattern(c, side, p.seed_down, p.down, &got, p.read_chunk);
  if (!r) co_return r;
  co_return co_await c.close();  // (reached only if the server's abort went missing: a failure)
}

coro::Task<Result<void>> stalled_reader_client(Connection& c, Side& side, const Plan& p) {
  side.touch("writing to a reader that stopped", p.stall);
  auto w = co_await coro::with_timeout(write_pattern(c, side, p.seed_up, 0, p.up, p.write_chunk),
                                       p.stall);
  if (!w) c.abort();  // the reader is gone as far as this application is concerned
  co_return w;
}

coro::Task<Result<void>> server_drops_client(Connection& c, Side& side, const Plan& p) {
  auto w = co_await write_pattern(c, side, p.seed_up, 0, p.up, p.write_chunk);
  if (!w) co_return w;
  auto e = co_await expect_eof(c, side);
  if (!e) co_return e;
  co_return co_await c.close();
}

// Writes the long stream until the phase stops, paced at opt.long_rate, then shuts down.
coro::Task<Result<void>> long_writer(Connection& c, Side& side, std::uint64_t seed,
                                     std::uint64_t* written) {
  constexpr std::size_t kChunk = 16384;
  const Duration gap = Duration(static_cast<Duration::rep>(
      1e9 * static_cast<double>(kChunk) / static_cast<double>(side.soak.opt.long_rate)));
  while (!side.soak.stopping) {
    auto w = co_await write_pattern(c, side, seed, *written, kChunk, kChunk);
    if (!w) co_return w;
    *written += kChunk;
    auto s = co_await coro::sleep_for(gap);
    if (!s) co_return s;
  }
  co_return c.shutdown();
}

// Reads the peer's long stream to EOF (with the odd pause: zero windows and persist probes),
// then checks it is all of what the peer wrote.
coro::Task<Result<void>> long_reader(Connection& c, Side& side, std::uint64_t seed,
                                     const std::uint64_t* peer_written, std::uint64_t rng_seed) {
  Rng rng(rng_seed);
  std::uint64_t got = 0;
  for (;;) {
    const std::uint64_t want = got + rng.log_between(1, 1u << 20);
    auto r = co_await read_pattern(c, side, seed, want, &got, 32768);
    if (!r) {
      if (r.error().code() != Errc::kNotConnected) co_return r;
      break;  // EOF
    }
    if (rng.chance(0.02)) {
      side.touch("pausing");
      (void)co_await coro::sleep_for(rng.duration(10ms, 2s));
    }
  }
  if (got != *peer_written) {
    side.soak.fail(describe(side) + ": EOF after " + std::to_string(got) + " bytes, peer wrote " +
                   std::to_string(*peer_written));
    co_return Error(Errc::kInvalidArgument, "stream incomplete");
  }
  co_return Result<void>{};
}

coro::Task<Result<void>> long_exchange(Connection& c, Side& side, const Plan& p, LongRecord& rec) {
  const bool srv = side.server;
  auto [w, r] = co_await coro::when_all(
      long_writer(c, side, srv ? rec.seed_down : rec.seed_up,
                  srv ? &rec.written_down : &rec.written_up),
      long_reader(c, side, srv ? rec.seed_up : rec.seed_down,
                  srv ? &rec.written_up : &rec.written_down, p.seed_up ^ (srv ? 1 : 2)));
  if (!w) co_return w;
  if (!r) co_return r;
  side.touch("closing");
  co_return co_await c.close();
}

// ---------------------------------------------------------------------------------------------
// Server bodies (after the header).

coro::Task<Result<void>> echo_server(Connection& c, Side& side, const Plan& p) {
  std::uint64_t got = 0;
  auto r = co_await read_pattern(c, side, p.seed_up, p.up, &got, p.read_chunk);
  if (!r) co_return r;
  auto w = co_await write_pattern(c, side, p.seed_down, 0, p.down, p.write_chunk);
  if (!w) co_return w;
  if (!p.client_first) {
    if (p.drop_handle) co_return Result<void>{};
    side.touch("closing");
    co_return co_await c.close();
  }
  auto e = co_await expect_eof(c, side);
  if (!e) co_return e;
  co_return co_await c.close();
}

coro::Task<Result<void>> idle_server(Connection& c, Side& side, const Plan& p) {
  side.touch("waiting out the idle period", p.idle);
  std::uint64_t got = 0;
  auto r = co_await read_pattern(c, side, p.seed_up, p.up, &got, p.read_chunk);
  if (!r) co_return r;
  auto w = co_await write_pattern(c, side, p.seed_down, 0, p.down, p.write_chunk);
  if (!w) co_return w;
  auto e = co_await expect_eof(c, side);
  if (!e) co_return e;
  co_return co_await c.close();
}

coro::Task<Result<void>> server_abort_server(Connection& c, Side& side, const Plan& p) {
  std::uint64_t got = 0;
  auto r = co_await read_pattern(c, side, p.seed_up, p.up, &got, p.read_chunk);
  if (!r) co_return r;
  auto w = co_await write_pattern(c, side, p.seed_down, 0, p.cut, p.write_chunk);
  if (!w) co_return w;
  if (p.pause.count() > 0) (void)co_await coro::sleep_for(p.pause);
  c.abort();
  co_return Error(Errc::kConnectionAborted, "planned abort");
}

coro::Task<Result<void>> stalled_reader_server(Connection& c, Side& side, const Plan& p) {
  // Stops reading until well after the client's deadline, then reads what is left.
  const Duration nap = p.stall + 30s;
  side.touch("not reading", nap);
  (void)co_await coro::sleep_for(nap);
  std::uint64_t got = 0;
  co_return co_await read_pattern(c, side, p.seed_up, p.up, &got, p.read_chunk);
}

coro::Task<Result<void>> server_body(Connection& c, Side& side, const Plan& p) {
  switch (p.kind) {
    case Kind::kEcho:
      co_return co_await echo_server(c, side, p);
    case Kind::kIdle:
      co_return co_await idle_server(c, side, p);
    case Kind::kClientAbort: {
      std::uint64_t got = 0;
      co_return co_await read_pattern(c, side, p.seed_up, p.up, &got, p.read_chunk);
    }
    case Kind::kServerAbort:
      co_return co_await server_abort_server(c, side, p);
    case Kind::kStalledReader:
      co_return co_await stalled_reader_server(c, side, p);
    case Kind::kServerDrops:
      side.touch("closing unread");
      co_return co_await c.close();
    case Kind::kLong: {
      const std::size_t index = static_cast<std::size_t>(side.id - kLongIdBase);
      if (index >= side.soak.longs.size()) break;
      co_return co_await long_exchange(c, side, p, side.soak.longs[index]);
    }
    default:
      break;
  }
  co_return Error(Errc::kInvalidArgument, "no such connection");
}

coro::Task<Result<void>> client_body(Connection& c, Side& side, const Plan& p) {
  switch (p.kind) {
    case Kind::kEcho:
      co_return co_await echo_client(c, side, p);
    case Kind::kIdle:
      co_return co_await idle_client(c, side, p);
    case Kind::kClientAbort:
      co_return co_await client_abort_client(c, side, p);
    case Kind::kServerAbort:
      co_return co_await server_abort_client(c, side, p);
    case Kind::kStalledReader:
      co_return co_await stalled_reader_client(c, side, p);
    case Kind::kServerDrops:
      co_return co_await server_drops_client(c, side, p);
    case Kind::kLong:
      co_return co_await long_exchange(
          c, side, p, side.soak.longs[static_cast<std::size_t>(side.id - kLongIdBase)]);
    default:
      break;
  }
  co_return Error(Errc::kInvalidArgument, "no such kind");
}

std::array<std::byte, kHeaderSize> header(std::uint64_t run_seed, std::uint64_t id) {
  std::array<std::byte, kHeaderSize> h;
  const std::uint64_t check = mix(id ^ run_seed);
  for (int i = 0; i < 8; ++i) {
    h[i] = static_cast<std::byte>(id >> (8 * i));
    h[8 + i] = static_cast<std::byte>(check >> (8 * i));
  }
  return h;
}

// Connects, sends the header, runs the plan.
coro::Task<Result<void>> client_connection(Soak& s, testing::SimHost& from, stack::Ipv4Address to,
                                           Side& side, const Plan& p) {
  auto c = co_await stack::tcp::connect(from.tcp, stack::Endpoint{to, kPort});
  if (!c) co_return c.error();
  side.touch("connected");
  configure(*c, p);
  const auto h = header(s.opt.seed, side.id);
  auto w = co_await c->write(h);
  if (!w) co_return w.error();
  co_return co_await client_body(*c, side, p);
}

coro::Task<void> client(Soak& s, testing::SimHost& from, stack::Ipv4Address to, std::uint64_t id) {
  const Plan p = make_plan(s.opt.seed, id);
  Side side(s, id, p.kind, false);
  s.tally.started[static_cast<std::size_t>(p.kind)]++;
  auto r = co_await client_connection(s, from, to, side, p);
  record(side, r);
}

coro::Task<void> server(Soak& s, Connection c) {
  Side side(s, 0, Kind::kUnknown, true);
  configure(c, Plan{});
  std::array<std::byte, kHeaderSize> h;
  auto got = co_await c.read_exactly(h);
  if (!got) {
    record(side, got);
    co_return;
  }
  std::uint64_t id = 0;
  std::uint64_t check = 0;
  for (int i = 0; i < 8; ++i) {
    id |= static_cast<std::uint64_t>(h[i]) << (8 * i);
    check |= static_cast<std::uint64_t>(h[8 + i]) << (8 * i);
  }
  if (check != mix(id ^ s.opt.seed)) {
    s.fail("server: a header that no client sent (id " + std::to_string(id) + ")");
    co_return;
  }
  const Plan p = make_plan(s.opt.seed, id);
  side.id = id;
  side.kind = p.kind;
  side.touch("header read");
  auto r = co_await server_body(c, side, p);
  record(side, r);
}

coro::Task<Result<void>> wait_event(coro::Event& e) { co_return co_await e.wait(); }

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kEcho:
      return "echo";
    case Kind::kIdle:
      return "idle";
    case Kind::kClientAbort:
      return "client-abort";
    case Kind::kServerAbort:
      return "server-abort";
    case Kind::kStalledReader:
      return "stalled-reader";
    case Kind::kServerDrops:
      return "server-drops";
    case Kind::kLong:
      return "long";
    case Kind::kUnknown:
      return "before-header";
    default:
      return "?";
  }
}

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kCompleted:
      return "completed";
    case Outcome::kReset:
      return "reset";
    case Outcome::kTimedOut:
      return "timed-out";
    case Outcome::kSelfAborted:
      return "aborted";
    case Outcome::kBrokenPipe:
      return "broken-pipe";
    case Outcome::kPeerClosed:
      return "early-eof";
    case Outcome::kOther:
      return "other";
    default:
      return "?";
  }
}

Side::Side(Soak& s, std::uint64_t i, Kind k, bool srv) : soak(s), id(i), kind(k), server(srv) {
  deadline = s.reactor.now() + kStuckLimit;
  next = s.sides;
  if (next != nullptr) next->prev = this;
  s.sides = this;
  s.peak_sides = std::max(s.peak_sides, ++s.live_sides);
}

Side::~Side() {
  if (prev != nullptr) {
    prev->next = next;
  } else {
    soak.sides = next;
  }
  if (next != nullptr) next->prev = prev;
  --soak.live_sides;
}

void Side::touch(const char* what, coro::Duration planned_wait) {
  step = what;
  deadline = soak.reactor.now() + kStuckLimit + planned_wait;
}

void Soak::fail(std::string what) {
  ++failure_count;
  if (failures.size() < 40) failures.push_back(std::move(what));
}

std::size_t Soak::scan_stuck() {
  std::size_t n = 0;
  const coro::TimePoint now = reactor.now();
  for (Side* s = sides; s != nullptr; s = s->next) {
    if (now <= s->deadline) continue;
    ++n;
    if (!s->reported) {
      s->reported = true;
      fail("stuck: " + describe(*s) + " made no progress for " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kStuckLimit).count()) +
           " virtual seconds");
    }
  }
  return n;
}

coro::Task<void> acceptor(Soak& s, testing::SimHost& host) {
  ++s.acceptors;
  auto l = stack::tcp::listen(host.tcp, kPort, stack::tcp::ListenOptions{.backlog = 1024});
  if (!l) {
    s.fail("listen: " + l.error().message());
    --s.acceptors;
    co_return;
  }
  for (;;) {
    auto got = co_await coro::when_any(l->accept(), wait_event(s.stop_accepting));
    if (got.index() == 1) break;
    auto& c = std::get<0>(got);
    if (!c) {
      s.fail("accept: " + c.error().message());
      break;
    }
    s.reactor.spawn(server(s, std::move(*c)));
  }
  --s.acceptors;
}

coro::Task<void> lane(Soak& s, testing::SimHost& from, stack::Ipv4Address to, unsigned index) {
  Rng rng(mix(s.opt.seed + index));
  (void)co_await coro::sleep_for(rng.duration(0ms, 20ms));
  while (!s.stopping) {
    const std::uint64_t id = s.next_id++;
    co_await client(s, from, to, id);
    if (rng.chance(0.3)) (void)co_await coro::sleep_for(rng.duration(0ms, 10ms));
  }
}

coro::Task<void> long_client(Soak& s, testing::SimHost& from, stack::Ipv4Address to,
                             std::size_t index) {
  co_await client(s, from, to, kLongIdBase + index);
}

}  // namespace coronet::soak
