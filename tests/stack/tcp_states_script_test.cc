// Scripted scenarios for every TCP state (RFC 9293 §3.3.2), written against one coronet endpoint
// with hand-built peer segments on virtual time (tcp_script.h). Each test drives a fresh
// connection into one state, injects a few segments and checks the exact reply: the
// segment-arrival rules of RFC 9293 §3.10.7 and RFC 5961, the timers of RFC 6298 (retransmission),
// RFC 1122 / RFC 9293 §3.8.6.3 (delayed ACK), §3.8.6.1 (zero-window probes) and §3.10.7.4
// (TIME-WAIT), and option negotiation (RFC 6691 MSS, RFC 7323 window scale).
//
// The peer never offers timestamps or SACK, so those options stay off on these connections; the
// tests look only at the fields and options they are about, so that an endpoint which also offers
// other options on its own SYN still passes.
//
// Tests marked "found a stack bug" failed when written and were fixed in the stack.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coro/reactor.h"
#include "coro/timeout.h"
#include "tests/stack/tcp_script.h"

namespace coronet::testing {
namespace {

using namespace std::chrono_literals;
using stack::tcp::Connection;
using stack::tcp::State;
using stack::tcp::TcpConfig;
using stack::tcp::TcpHeader;
using stack::tcp::TcpOptions;
namespace flag = stack::tcp::flag;

constexpr std::uint16_t kPort = 80;     // our listening port (passive opens)
constexpr std::uint16_t kLocal = 5000;  // our port in active opens
constexpr std::uint32_t kIrs = 1000;    // the peer's ISN in TcpScript::establish()
constexpr std::uint32_t kPeerIss = 9000;  // the peer's ISN in active opens

// ---------------------------------------------------------------------------------------------
// Helpers (local to this file).

std::int64_t ms(coro::Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::string str(const std::vector<std::byte>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

std::vector<std::byte> filler(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>('a' + i % 26);
  return v;
}

// bytes_of() for any text, the empty one included (no memcpy from a null pointer).
std::vector<std::byte> payload_of(std::string_view data) {
  return data.empty() ? std::vector<std::byte>{} : bytes_of(data);
}

coro::Task<void> sleep_task(coro::Duration d) { (void)co_await coro::sleep_for(d); }

// Lets `d` of virtual time pass. The reactor jumps from one deadline to the next, so every timer
// fires at its exact time and re-arms from there.
void run_for(TcpScript& s, coro::Duration d) {
  s.v.reactor.block_on(sleep_task(d));
  s.settle();
}

struct Sent {
  TcpHeader h;
  std::vector<std::byte> data;
  coro::Duration after{};  // virtual time waited for it (wait_segment)
};

std::optional<Sent> next(TcpScript& s) {
  Sent o;
  auto h = s.next_sent(&o.data);
  if (!h) return std::nullopt;
  o.h = *h;
  return o;
}

// Lets virtual time pass in `step`s until coronet sends a segment; nullopt after `limit`.
std::optional<Sent> wait_segment(TcpScript& s, coro::Duration limit, coro::Duration step = 1ms) {
  coro::Duration waited{};
  for (;;) {
    if (auto o = next(s)) {
      o->after = waited;
      return o;
    }
    if (waited >= limit) return std::nullopt;
    run_for(s, step);
    waited += step;
  }
}

// Every segment sent so far.
std::vector<Sent> drain_sent(TcpScript& s) {
  std::vector<Sent> all;
  while (auto o = next(s)) all.push_back(std::move(*o));
  return all;
}

std::size_t payload_bytes(const std::vector<Sent>& segs) {
  std::size_t n = 0;
  for (const Sent& o : segs) n += o.data.size();
  return n;
}

Seg ack_seg(std::uint32_t seq, std::uint32_t ack, std::string_view data = {},
            std::uint16_t window = 65535) {
  return Seg{.flags = flag::kAck, .seq = seq, .ack = ack, .window = window,
             .payload = payload_of(data)};
}

Seg fin_seg(std::uint32_t seq, std::uint32_t ack, std::string_view data = {}) {
  return Seg{.flags = flag::kAck | flag::kFin, .seq = seq, .ack = ack,
             .payload = payload_of(data)};
}

// Sends any header (urgent pointer, other ports) from the peer's address, checksum filled in.
void send_header(TcpScript& s, TcpHeader h, std::string_view data = {}) {
  const std::vector<std::byte> payload = payload_of(data);
  const std::uint32_t hlen = stack::tcp::kMinHeader + stack::tcp::options_length(h.options);
  std::vector<std::byte> t(hlen + payload.size());
  h.checksum = 0;
  stack::tcp::write_header(h, t);
  std::copy(payload.begin(), payload.end(), t.begin() + hlen);
  const std::uint16_t c =
      stack::tcp::tcp_checksum(TcpScript::kPeerAddr.raw(), TcpScript::kOurAddr.raw(), t);
  t[16] = static_cast<std::byte>(c >> 8);
  t[17] = static_cast<std::byte>(c & 0xff);
  s.send_raw_tcp(t);
}

// Reads what is readable now, without letting virtual time pass: the bytes, "" at end of stream,
// nullopt when nothing is there (or on an error).
std::optional<std::string> read_now(TcpScript& s, Connection& c) {
  std::vector<std::byte> buf(1 << 16);
  auto r = s.v.reactor.block_on(coro::with_timeout(c.read(buf), 0ms));
  s.settle();
  if (!r) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(buf.data()), *r);
}

// Everything readable now, concatenated; *eof tells whether the end of the stream was reached.
std::string read_all(TcpScript& s, Connection& c, bool* eof = nullptr) {
  std::string out;
  if (eof != nullptr) *eof = false;
  for (;;) {
    auto r = read_now(s, c);
    if (!r) break;
    if (r->empty()) {
      if (eof != nullptr) *eof = true;
      break;
    }
    out += *r;
  }
  return out;
}

void write_now(TcpScript& s, Connection& c, std::span<const std::byte> data) {
  auto r = s.v.reactor.block_on(c.write(data));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  s.settle();
}

coro::Task<void> write_then_shutdown(Connection* c, std::vector<std::byte> data) {
  (void)co_await c->write(data);
  (void)c->shutdown();
}

coro::Task<void> close_task(Connection* c, std::optional<Result<void>>* out) {
  *out = co_await c->close();
}

// Opens the listener (if needed) and sends the peer's SYN (ISN 1000); returns our SYN-ACK.
std::optional<TcpHeader> syn_to_listener(TcpScript& s, TcpOptions opts = {},
                                         std::uint16_t window = 65535, std::string_view data = {}) {
  if (!s.listener) s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kSyn, .seq = kIrs, .window = window, .payload = payload_of(data),
             .options = opts},
         kPort);
  return s.next_sent();
}

// accept() for a connection already in the accept queue (never lets time pass).
Connection accept_now(TcpScript& s) {
  auto c = s.v.reactor.block_on(coro::with_timeout(s.listener->accept(), 0ms));
  if (!c) {
    ADD_FAILURE() << "nothing to accept: " << c.error().message();
    return Connection();
  }
  return std::move(*c);
}

// A passive connection driven into `want`, every segment sent on the way consumed. The peer's
// ISN is 1000 (RCV.NXT 1001, 1002 once its FIN is in); ours is e.our_iss (our FIN at iss+1).
TcpScript::Established reach(TcpScript& s, State want) {
  auto e = s.establish(kPort);
  const std::uint32_t iss = e.our_iss;
  switch (want) {
    case State::kEstablished:
      break;
    case State::kFinWait1:
      (void)e.conn.shutdown();
      s.settle();
      break;
    case State::kFinWait2:
      (void)e.conn.shutdown();
      s.settle();
      s.send(ack_seg(kIrs + 1, iss + 2), kPort);
      break;
    case State::kCloseWait:
      s.send(fin_seg(kIrs + 1, iss + 1), kPort);
      break;
    case State::kLastAck:
      s.send(fin_seg(kIrs + 1, iss + 1), kPort);
      (void)e.conn.shutdown();
      s.settle();
      break;
    case State::kClosing:
      (void)e.conn.shutdown();
      s.settle();
      s.send(fin_seg(kIrs + 1, iss + 1), kPort);  // crosses our FIN
      break;
    case State::kTimeWait:
      (void)e.conn.shutdown();
      s.settle();
      s.send(ack_seg(kIrs + 1, iss + 2), kPort);
      s.send(fin_seg(kIrs + 1, iss + 2), kPort);
      break;
    default:
      ADD_FAILURE() << "reach() does not go to " << stack::tcp::state_name(want);
  }
  (void)drain_sent(s);
  EXPECT_EQ(e.conn.state(), want) << stack::tcp::state_name(e.conn.state());
  return e;
}

// A passive open whose SYN carries `opts` (window `syn_window`), completed by the peer's ACK with
// window `ack_window`, then accepted.
struct Passive {
  Connection conn;
  std::uint32_t iss = 0;
  TcpHeader synack;
};

Passive passive_open(TcpScript& s, TcpOptions opts, std::uint16_t ack_window = 65535,
                     std::uint16_t syn_window = 65535) {
  Passive p;
  auto sa = syn_to_listener(s, opts, syn_window);
  if (!sa) {
    ADD_FAILURE() << "no SYN-ACK";
    return p;
  }
  p.synack = *sa;
  p.iss = sa->seq.raw();
  s.send(ack_seg(kIrs + 1, p.iss + 1, {}, ack_window), kPort);
  p.conn = accept_now(s);
  return p;
}

std::string text(std::size_t n) { return str(filler(n)); }

// An active open from our port 5000 to the peer. Declare it after the TcpScript it uses.
struct Active {
  Result<Connection> conn = Error(Errc::kCancelled);
  bool done = false;
  std::uint32_t iss = 0;
};

coro::Task<void> connect_task(stack::tcp::TcpLayer* tcp, Active* a) {
  a->conn = co_await stack::tcp::connect(*tcp, {TcpScript::kPeerAddr, TcpScript::kPeerPort},
                                         {.local_port = kLocal});
  a->done = true;
}

// connect() that the caller abandons after `limit` (with_timeout cancels it).
coro::Task<void> connect_with_timeout(stack::tcp::TcpLayer* tcp, coro::Duration limit,
                                      Result<Connection>* out, bool* done) {
  *out = co_await coro::with_timeout(
      stack::tcp::connect(*tcp, {TcpScript::kPeerAddr, TcpScript::kPeerPort},
                          {.local_port = kLocal}),
      limit);
  *done = true;
}

// Starts connect(); returns our SYN (connect() keeps waiting).
std::optional<TcpHeader> start_connect(TcpScript& s, Active& a) {
  s.v.reactor.spawn(connect_task(&s.tcp, &a));
  s.settle();
  auto syn = s.next_sent();
  if (syn) a.iss = syn->seq.raw();
  return syn;
}

// A complete active open: the peer answers our SYN with a SYN-ACK (ISN 9000) carrying `opts`
// and `window`; our ACK is consumed.
void open_active(TcpScript& s, Active& a, TcpOptions opts = {.mss = 1460},
                 std::uint16_t window = 65535) {
  if (!start_connect(s, a)) {
    ADD_FAILURE() << "no SYN";
    return;
  }
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1,
             .window = window, .options = opts},
         kLocal);
  if (!a.done || !a.conn) {
    ADD_FAILURE() << "connect did not complete";
    return;
  }
  (void)drain_sent(s);
}

// ---------------------------------------------------------------------------------------------
// CLOSED (no TCB): RFC 9293 §3.10.7.1.

TEST(TcpClosed, FinWithoutAckIsResetWithTheFinCounted) {
  // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, the FIN counting one.
  TcpScript s;
  s.send(Seg{.flags = flag::kFin, .seq = 5000}, 9);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst | flag::kAck);
  EXPECT_EQ(r->seq.raw(), 0u);
  EXPECT_EQ(r->ack.raw(), 5001u);
}

TEST(TcpClosed, DataWithoutAckIsResetAcknowledgingItsLength) {
  // RFC 9293 §3.10.7.1: the RST acknowledges SEG.SEQ+SEG.LEN, data included.
  TcpScript s;
  s.send(Seg{.flags = flag::kPsh, .seq = 7000, .payload = bytes_of("hello")}, 9);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst | flag::kAck);
  EXPECT_EQ(r->seq.raw(), 0u);
  EXPECT_EQ(r->ack.raw(), 7005u);
}

TEST(TcpClosed, SegmentAfterLastAckCompletedIsReset) {
  // RFC 9293 §3.10.7.4 fifth (LAST-ACK: delete the TCB), then §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>.
  TcpScript s;
  auto e = reach(s, State::kLastAck);
  s.send(ack_seg(kIrs + 2, e.our_iss + 2), kPort);
  EXPECT_EQ(e.conn.state(), State::kClosed);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  EXPECT_FALSE(s.next_sent());
  s.send(ack_seg(kIrs + 2, e.our_iss + 2, "late"), kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst);
  EXPECT_EQ(r->seq.raw(), e.our_iss + 2);
}

TEST(TcpClosed, SegmentAfterTimeWaitExpiredIsReset) {
  // RFC 9293 §3.10.7.4 (TIME-WAIT ends after 2*MSL, TCB deleted), then §3.10.7.1.
  TcpScript s;
  auto e = reach(s, State::kTimeWait);
  run_for(s, 60s);
  EXPECT_EQ(e.conn.state(), State::kClosed);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  s.send(fin_seg(kIrs + 1, e.our_iss + 2), kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst);
  EXPECT_EQ(r->seq.raw(), e.our_iss + 2);
}

// ---------------------------------------------------------------------------------------------
// LISTEN: RFC 9293 §3.10.7.2, with the options of the SYN (§3.7.1, RFC 6691, RFC 7323 §2).

TEST(TcpListen, SynWithoutMssOptionMeansTheDefault536) {
  // RFC 9293 §3.7.1 / RFC 6691: a SYN without the MSS option means a send MSS of 536.
  TcpScript s;
  auto p = passive_open(s, {});
  ASSERT_TRUE(p.conn.valid());
  write_now(s, p.conn, filler(2000));
  auto segs = drain_sent(s);
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs[0].data.size(), 536u);
  for (const Sent& o : segs) EXPECT_LE(o.data.size(), 536u);
}

TEST(TcpListen, PeerMssAboveWhatOurMtuCarriesIsClamped) {
  // RFC 9293 §3.7.1: Eff.snd.MSS = min(SendMSS + 20, MMS_S) - 20 - 20: never above MTU - 40.
  TcpScript s;
  auto p = passive_open(s, {.mss = 9000});
  ASSERT_TRUE(p.conn.valid());
  ASSERT_TRUE(p.synack.options.mss);
  EXPECT_EQ(*p.synack.options.mss, 1460);
  write_now(s, p.conn, filler(4000));
  auto segs = drain_sent(s);
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs[0].data.size(), 1460u);
  for (const Sent& o : segs) EXPECT_LE(o.data.size(), 1460u);
}

TEST(TcpListen, FinWithoutSynIsDroppedSilently) {
  // RFC 9293 §3.10.7.2 fourth: any other segment (no SYN, no ACK, no RST) is dropped.
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kFin, .seq = 1}, kPort);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.connection_count(), 0u);
}

TEST(TcpListen, SynAckToAListenerIsAnsweredWithRst) {
  // RFC 9293 §3.10.7.2 second: the ACK check comes before the SYN: <SEQ=SEG.ACK><CTL=RST>.
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = 1000, .ack = 4242}, kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst);
  EXPECT_EQ(r->seq.raw(), 4242u);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
}

TEST(TcpListen, DataOnSynIsNeverAcknowledgedBeforeItIsDelivered) {
  // RFC 9293 §3.10.7.2 third: text on a SYN may be queued; if it is not, it must not be
  // acknowledged (RCV.NXT = SEG.SEQ + 1) and arrives again after the handshake.
  TcpScript s;
  auto sa = syn_to_listener(s, {}, 65535, "early");
  ASSERT_TRUE(sa);
  const std::uint32_t iss = sa->seq.raw();
  if (sa->ack.raw() == kIrs + 6) {  // queued and acknowledged: it must be readable
    s.send(ack_seg(kIrs + 6, iss + 1), kPort);
    auto c = accept_now(s);
    ASSERT_TRUE(c.valid());
    EXPECT_EQ(read_all(s, c), "early");
  } else {
    EXPECT_EQ(sa->ack.raw(), kIrs + 1);
    s.send(ack_seg(kIrs + 1, iss + 1, "early"), kPort);  // the peer sends it again
    auto c = accept_now(s);
    ASSERT_TRUE(c.valid());
    EXPECT_EQ(read_all(s, c), "early");
  }
}

TEST(TcpListen, HandshakeAckWindowIsScaledByTheSynsShift) {
  // RFC 7323 §2.2/§2.3: both SYNs carry the option, so the windows after them are scaled (our
  // SYN-ACK's own window is not).
  TcpScript s;
  // (730 << 2 = two full segments: a window-limited partial one would wait, RFC 1122 §4.2.3.4)
  auto p = passive_open(s, {.mss = 1460, .window_scale = 2}, /*ack_window=*/730);
  ASSERT_TRUE(p.conn.valid());
  ASSERT_TRUE(p.synack.options.window_scale);
  EXPECT_EQ(*p.synack.options.window_scale, 3);  // 256 KiB buffer
  EXPECT_EQ(p.synack.window, 65535);             // unscaled in a SYN: min(256 KiB, 65535)
  ASSERT_TRUE(p.conn.set_no_delay(true).has_value());
  write_now(s, p.conn, filler(5000));
  EXPECT_EQ(payload_bytes(drain_sent(s)), 2920u);  // 730 << 2
}

TEST(TcpListen, WindowScaleShiftAbove14IsUsedAs14) {
  // RFC 7323 §2.3: a shift above 14 MUST be taken as 14.
  TcpConfig cfg;
  cfg.initial_window_segments = 100;  // so that only the window limits the burst
  TcpScript s(cfg);
  // (MSS 1024 divides 1 << 14: no window-limited partial segment, RFC 1122 §4.2.3.4)
  auto p = passive_open(s, {.mss = 1024, .window_scale = 15}, /*ack_window=*/1);
  ASSERT_TRUE(p.conn.valid());
  EXPECT_TRUE(p.synack.options.window_scale);
  ASSERT_TRUE(p.conn.set_no_delay(true).has_value());
  write_now(s, p.conn, filler(40000));
  EXPECT_EQ(payload_bytes(drain_sent(s)), 16384u);  // 1 << 14, not 1 << 15
}

TEST(TcpListen, WithoutScalingBothWindowsAreTakenLiterally) {
  // RFC 7323 §2.2: without the option on the SYN neither side scales: our window field
  // saturates at 65535 and the peer's window is used as sent.
  TcpScript s;
  auto p = passive_open(s, {.mss = 1460}, /*ack_window=*/1000);
  ASSERT_TRUE(p.conn.valid());
  EXPECT_FALSE(p.synack.options.window_scale);
  s.send(ack_seg(kIrs + 1, p.iss + 1, "ab", 1000), kPort);
  auto a = wait_segment(s, 1s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->h.ack.raw(), kIrs + 3);
  EXPECT_EQ(a->h.window, 65535);
  ASSERT_TRUE(p.conn.set_no_delay(true).has_value());
  write_now(s, p.conn, filler(3000));
  s.advance(250ms);  // a window below one MSS is filled by the SWS override (persist) timer
  EXPECT_EQ(payload_bytes(drain_sent(s)), 1000u);
}

// ---------------------------------------------------------------------------------------------
// SYN-SENT: RFC 9293 §3.10.7.3; RFC 6298 for the SYN's timer.

TEST(TcpSynSent, SynOffersOurMssAndWindowScale) {
  // RFC 9293 §3.7.1 / RFC 6691: MSS = MTU - 40; RFC 7323 §2.2: scaling offered on our SYN, whose
  // own window is never scaled.
  TcpScript s;
  Active a;
  auto syn = start_connect(s, a);
  ASSERT_TRUE(syn);
  EXPECT_EQ(syn->flags, flag::kSyn);
  EXPECT_EQ(syn->src_port, kLocal);
  EXPECT_EQ(syn->dst_port, TcpScript::kPeerPort);
  ASSERT_TRUE(syn->options.mss);
  EXPECT_EQ(*syn->options.mss, 1460);
  ASSERT_TRUE(syn->options.window_scale);
  EXPECT_EQ(*syn->options.window_scale, 3);
  EXPECT_EQ(syn->window, 65535);
}

TEST(TcpSynSent, SynIsRetransmittedAfterOneSecondThenWithDoubling) {
  // RFC 6298 §2.1: initial RTO 1 s; §5.5: doubled at each expiry. The ISN stays the same.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  for (std::int64_t want : {1000, 2000, 4000}) {
    auto r = wait_segment(s, 10s);
    ASSERT_TRUE(r);
    EXPECT_EQ(ms(r->after), want);
    EXPECT_EQ(r->h.flags, flag::kSyn);
    EXPECT_EQ(r->h.seq.raw(), a.iss);
  }
  EXPECT_FALSE(a.done);
}

TEST(TcpSynSent, ConnectTimesOutAfterTheConfiguredSynRetries) {
  // RFC 9293 §3.8.3 (R2 for a SYN): with two retransmissions, at 1 s and 3 s, the open fails at
  // 7 s (the third timeout) and the user is told.
  TcpConfig cfg;
  cfg.max_syn_retries = 2;
  TcpScript s(cfg);
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  run_for(s, 6999ms);
  EXPECT_FALSE(a.done);
  EXPECT_EQ(drain_sent(s).size(), 2u);
  run_for(s, 1ms);
  ASSERT_TRUE(a.done);
  ASSERT_FALSE(a.conn.has_value());
  EXPECT_EQ(a.conn.error().code(), Errc::kTimedOut);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
}

TEST(TcpSynSent, RstAckAcknowledgingOurSynRefusesTheConnection) {
  // RFC 9293 §3.10.7.3 second: RST with an acceptable ACK: "connection reset"/refused, CLOSED.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kRst | flag::kAck, .seq = 0, .ack = a.iss + 1}, kLocal);
  ASSERT_TRUE(a.done);
  ASSERT_FALSE(a.conn.has_value());
  EXPECT_EQ(a.conn.error().code(), Errc::kConnectionRefused);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.connection_count(), 0u);
}

TEST(TcpSynSent, RstWithoutAckIsIgnored) {
  // RFC 9293 §3.10.7.3 second: a RST without ACK is dropped (RFC 5961 §3.2: in SYN-SENT a RST is
  // believed only when it acknowledges our SYN).
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kRst, .seq = kPeerIss}, kLocal);
  EXPECT_FALSE(a.done);
  EXPECT_FALSE(s.next_sent());
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1}, kLocal);
  ASSERT_TRUE(a.done);
  ASSERT_TRUE(a.conn.has_value());
  EXPECT_EQ(a.conn->state(), State::kEstablished);
}

TEST(TcpSynSent, RstWithUnacceptableAckIsIgnored) {
  // RFC 9293 §3.10.7.3 first: a bad ACK on a RST: drop it (never answer a RST with a RST).
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kRst | flag::kAck, .seq = 0, .ack = a.iss + 77}, kLocal);
  EXPECT_FALSE(a.done);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.connection_count(), 1u);
}

TEST(TcpSynSent, SynAckWithUnacceptableAckIsAnsweredWithRst) {
  // RFC 9293 §3.10.7.3 first: SEG.ACK > SND.NXT: <SEQ=SEG.ACK><CTL=RST>, discard, stay.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 100}, kLocal);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst);
  EXPECT_EQ(r->seq.raw(), a.iss + 100);
  EXPECT_FALSE(a.done);
  // The genuine SYN-ACK still completes the open.
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1}, kLocal);
  ASSERT_TRUE(a.done);
  EXPECT_TRUE(a.conn.has_value());
}

TEST(TcpSynSent, AckOfOurSynWithoutSynIsDropped) {
  // RFC 9293 §3.10.7.3 fifth: neither SYN nor RST: drop the segment.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(ack_seg(kPeerIss + 1, a.iss + 1), kLocal);
  EXPECT_FALSE(a.done);
  EXPECT_FALSE(s.next_sent());
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1}, kLocal);
  EXPECT_TRUE(a.done);
}

TEST(TcpSynSent, SynAckIsAcknowledgedAtOnce) {
  // RFC 9293 §3.10.7.3 fourth: ESTABLISHED, and <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> right away.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1}, kLocal);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kAck);
  EXPECT_EQ(r->seq.raw(), a.iss + 1);
  EXPECT_EQ(r->ack.raw(), kPeerIss + 1);
  ASSERT_TRUE(a.done);
  EXPECT_EQ(a.conn->state(), State::kEstablished);
}

TEST(TcpSynSent, SynAckWithoutMssOptionMeans536) {
  // RFC 9293 §3.7.1 / RFC 6691: no option, send MSS 536.
  TcpScript s;
  Active a;
  open_active(s, a, /*opts=*/{});
  ASSERT_TRUE(a.conn.has_value());
  write_now(s, *a.conn, filler(2000));
  auto segs = drain_sent(s);
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs[0].data.size(), 536u);
  for (const Sent& o : segs) EXPECT_LE(o.data.size(), 536u);
}

TEST(TcpSynSent, SynAckWithoutWindowScaleTurnsScalingOff) {
  // RFC 7323 §2.2: we offered scaling, the peer did not: neither direction is scaled.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1,
             .options = {.mss = 1460}},
         kLocal);
  auto ack = s.next_sent();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->window, 65535);  // 256 KiB, unscaled, saturates the field
  ASSERT_TRUE(a.done && a.conn.has_value());
  s.send(ack_seg(kPeerIss + 1, a.iss + 1, {}, 1000), kLocal);
  ASSERT_TRUE(a.conn->set_no_delay(true).has_value());
  write_now(s, *a.conn, filler(3000));
  s.advance(250ms);  // a window below one MSS is filled by the SWS override (persist) timer
  EXPECT_EQ(payload_bytes(drain_sent(s)), 1000u);
}

TEST(TcpSynSent, SynAckWithWindowScaleScalesOurWindow) {
  // RFC 7323 §2.2: both SYNs carried the option: the windows we send are shifted by our shift.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1,
             .options = {.mss = 1460, .window_scale = 0}},
         kLocal);
  auto ack = s.next_sent();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->window, 262144 >> 3);
}

TEST(TcpSynSent, SynAckWindowIsNeverScaled) {
  // RFC 7323 §2.2: the window field of a SYN (here the SYN-ACK) is not scaled; later ones are.
  TcpScript s;
  Active a;
  open_active(s, a, {.mss = 1460, .window_scale = 7}, /*window=*/1000);
  ASSERT_TRUE(a.conn.has_value());
  ASSERT_TRUE(a.conn->set_no_delay(true).has_value());
  write_now(s, *a.conn, filler(5000));
  EXPECT_EQ(payload_bytes(drain_sent(s)), 1000u);
  s.send(ack_seg(kPeerIss + 1, a.iss + 1001, {}, 1000), kLocal);  // 1000 << 7
  EXPECT_EQ(payload_bytes(drain_sent(s)), 4000u);
}

TEST(TcpSynSent, DataOnSynAckIsNeverAcknowledgedBeforeItIsDelivered) {
  // RFC 9293 §3.10.7.3 fourth: text on the SYN-ACK continues at the sixth step; whatever is
  // done with it, what the ACK covers must be readable and the rest arrives again.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1,
             .payload = bytes_of("early")},
         kLocal);
  ASSERT_TRUE(a.done && a.conn.has_value());
  auto ack = wait_segment(s, 1s);
  ASSERT_TRUE(ack);
  if (ack->h.ack.raw() == kPeerIss + 6) {
    EXPECT_EQ(read_all(s, *a.conn), "early");
  } else {
    EXPECT_EQ(ack->h.ack.raw(), kPeerIss + 1);
    s.send(ack_seg(kPeerIss + 1, a.iss + 1, "early"), kLocal);
    EXPECT_EQ(read_all(s, *a.conn), "early");
  }
}

TEST(TcpSynSent, AbandonedOpenSendsNothingAndALateSynAckIsReset) {
  // RFC 9293 §3.10.5 ABORT in SYN-SENT: delete the TCB, no RST; then the late SYN-ACK meets
  // CLOSED (§3.10.7.1): <SEQ=SEG.ACK><CTL=RST>.
  TcpScript s;
  Result<Connection> r = Error(Errc::kCancelled);
  bool done = false;
  s.v.reactor.spawn(connect_with_timeout(&s.tcp, 500ms, &r, &done));
  s.settle();
  auto syn = s.next_sent();
  ASSERT_TRUE(syn);
  run_for(s, 500ms);
  ASSERT_TRUE(done);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = syn->seq.raw() + 1},
         kLocal);
  auto rst = s.next_sent();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->flags, flag::kRst);
  EXPECT_EQ(rst->seq.raw(), syn->seq.raw() + 1);
}

// found a stack bug (fixed)
TEST(TcpSynSent, SynTimeoutRaisesTheRtoToThreeSecondsForData) {
  // RFC 6298 §5.7: if the SYN's timer expired and RTO < 3 s, RTO MUST be re-initialized to 3 s
  // when data transmission begins (no RTT sample came from the handshake: Karn).
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  auto again = wait_segment(s, 2s);
  ASSERT_TRUE(again && again->h.has(flag::kSyn));
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1,
             .options = {.mss = 1460}},
         kLocal);
  ASSERT_TRUE(a.done && a.conn.has_value());
  (void)drain_sent(s);
  write_now(s, *a.conn, bytes_of("data"));
  auto first = next(s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->data.size(), 4u);
  auto rexmit = wait_segment(s, 10s, 10ms);
  ASSERT_TRUE(rexmit);
  EXPECT_EQ(ms(rexmit->after), 3000);
}

// found a stack bug (fixed)
TEST(TcpSynSent, DefaultSynRetransmissionsLastAtLeastThreeMinutes) {
  // RFC 9293 §3.8.3 (MUST-23, from RFC 1122 §4.2.3.5): R2 for a SYN MUST allow retransmission
  // for at least 3 minutes (the application may give up sooner; connect() here has no timeout).
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  run_for(s, 180s);
  EXPECT_FALSE(a.done) << "the open was abandoned before 3 minutes";
}

// ---------------------------------------------------------------------------------------------
// SYN-RECEIVED: RFC 9293 §3.10.7.4 as it applies before the handshake completes.

TEST(TcpSynReceived, SynAckIsRetransmittedAfterOneSecondThenWithDoubling) {
  // RFC 6298 §2.1 (initial RTO 1 s) and §5.5 (backoff), for our SYN-ACK.
  TcpScript s;
  auto sa = syn_to_listener(s);
  ASSERT_TRUE(sa);
  for (std::int64_t want : {1000, 2000}) {
    auto r = wait_segment(s, 10s);
    ASSERT_TRUE(r);
    EXPECT_EQ(ms(r->after), want);
    EXPECT_EQ(r->h.flags, flag::kSyn | flag::kAck);
    EXPECT_EQ(r->h.seq, sa->seq);
    EXPECT_EQ(r->h.ack.raw(), kIrs + 1);
  }
}

TEST(TcpSynReceived, GivesUpAfterTheConfiguredRetriesAndTheListenerCarriesOn) {
  // RFC 9293 §3.8.3 (R2 for the SYN-ACK); the embryonic connection goes, the LISTEN stays.
  TcpConfig cfg;
  cfg.max_syn_retries = 1;
  TcpScript s(cfg);
  ASSERT_TRUE(syn_to_listener(s));
  run_for(s, 2999ms);
  EXPECT_EQ(s.tcp.connection_count(), 1u);
  run_for(s, 1ms);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  (void)drain_sent(s);
  s.send(Seg{.flags = flag::kSyn, .seq = 7000}, kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kSyn | flag::kAck);
  EXPECT_EQ(r->ack.raw(), 7001u);
}

TEST(TcpSynReceived, UnacceptableAckGetsRstAndTheHandshakeSurvives) {
  // RFC 9293 §3.10.7.4 fifth (SYN-RECEIVED): SND.UNA < SEG.ACK =< SND.NXT fails:
  // <SEQ=SEG.ACK><CTL=RST>, and the connection stays.
  TcpScript s;
  auto sa = syn_to_listener(s);
  ASSERT_TRUE(sa);
  const std::uint32_t iss = sa->seq.raw();
  s.send(ack_seg(kIrs + 1, iss + 50), kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst);
  EXPECT_EQ(r->seq.raw(), iss + 50);
  EXPECT_EQ(s.tcp.connection_count(), 1u);
  s.send(ack_seg(kIrs + 1, iss + 1), kPort);
  auto c = accept_now(s);
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.state(), State::kEstablished);
}

TEST(TcpSynReceived, SegmentWithoutAckIsDropped) {
  // RFC 9293 §3.10.7.4 fifth: "if the ACK bit is off, drop the segment and return".
  TcpScript s;
  auto sa = syn_to_listener(s);
  ASSERT_TRUE(sa);
  const std::uint32_t iss = sa->seq.raw();
  s.send(Seg{.flags = flag::kPsh, .seq = kIrs + 1, .payload = bytes_of("zz")}, kPort);
  EXPECT_FALSE(s.next_sent());
  s.send(ack_seg(kIrs + 1, iss + 1), kPort);
  auto c = accept_now(s);
  ASSERT_TRUE(c.valid());
  EXPECT_FALSE(read_now(s, c)) << "the ACK-less text must not have been kept";
  s.send(ack_seg(kIrs + 1, iss + 1, "ok"), kPort);
  EXPECT_EQ(read_all(s, c), "ok");
}

TEST(TcpSynReceived, HandshakeAckCarryingDataDeliversIt) {
  // RFC 9293 §3.10.7.4 fifth then seventh: the ACK establishes, the text is processed.
  TcpScript s;
  auto sa = syn_to_listener(s);
  ASSERT_TRUE(sa);
  const std::uint32_t iss = sa->seq.raw();
  s.send(ack_seg(kIrs + 1, iss + 1, "hello"), kPort);
  auto c = accept_now(s);
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(read_all(s, c), "hello");
  auto a = wait_segment(s, 1s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->h.ack.raw(), kIrs + 6);
}

TEST(TcpSynReceived, HandshakeAckCarryingFinGoesToCloseWait) {
  // RFC 9293 §3.10.7.4 eighth: SYN-RECEIVED/ESTABLISHED + FIN: CLOSE-WAIT, FIN acknowledged.
  TcpScript s;
  auto sa = syn_to_listener(s);
  ASSERT_TRUE(sa);
  const std::uint32_t iss = sa->seq.raw();
  s.send(fin_seg(kIrs + 1, iss + 1), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->ack.raw(), kIrs + 2);
  auto c = accept_now(s);
  ASSERT_TRUE(c.valid());
  EXPECT_EQ(c.state(), State::kCloseWait);
  bool eof = false;
  EXPECT_EQ(read_all(s, c, &eof), "");
  EXPECT_TRUE(eof);
}

TEST(TcpSynReceived, OutOfWindowSegmentIsAnsweredWithAck) {
  // RFC 9293 §3.10.7.4 first: unacceptable: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, drop.
  TcpScript s;
  auto sa = syn_to_listener(s);
  ASSERT_TRUE(sa);
  const std::uint32_t iss = sa->seq.raw();
  s.send(ack_seg(kIrs + 1 + 100000, iss + 1, "far"), kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kAck);
  EXPECT_EQ(r->seq.raw(), iss + 1);
  EXPECT_EQ(r->ack.raw(), kIrs + 1);
  s.send(ack_seg(kIrs + 1, iss + 1), kPort);
  EXPECT_TRUE(accept_now(s).valid());
}

// found a stack bug (fixed)
TEST(TcpSynReceived, InWindowSynWithANewIsnReturnsToListen) {
  // RFC 9293 §3.10.7.4 fourth, SYN-RECEIVED: "If the connection was initiated with a passive
  // OPEN, then return this connection to the LISTEN state and return."
  TcpScript s;
  auto sa = syn_to_listener(s);
  ASSERT_TRUE(sa);
  s.send(Seg{.flags = flag::kSyn, .seq = kIrs + 500}, kPort);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  // The listener still takes the next SYN.
  (void)drain_sent(s);
  s.send(Seg{.flags = flag::kSyn, .seq = 7000}, kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kSyn | flag::kAck);
  EXPECT_EQ(r->ack.raw(), 7001u);
}

// found a stack bug (fixed)
TEST(TcpSynReceived, RstAfterSimultaneousOpenMeansConnectionRefused) {
  // RFC 9293 §3.10.7.4 second, SYN-RECEIVED: "If this connection was initiated with an active
  // OPEN (i.e., came from SYN-SENT state), then the connection was refused; signal the user
  // 'connection refused'."
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kSyn, .seq = kPeerIss}, kLocal);
  auto synack = s.next_sent();
  ASSERT_TRUE(synack);
  ASSERT_EQ(synack->flags, flag::kSyn | flag::kAck);
  s.send(Seg{.flags = flag::kRst, .seq = kPeerIss + 1}, kLocal);
  ASSERT_TRUE(a.done);
  ASSERT_FALSE(a.conn.has_value());
  EXPECT_EQ(a.conn.error().code(), Errc::kConnectionRefused);
}

TEST(TcpSynReceived, SimultaneousOpenCompletesOnAPlainAck) {
  // RFC 9293 §3.5 figure 7: SYN-SENT -> SYN-RECEIVED on the crossing SYN; our SYN-ACK repeats our
  // ISN and options; an ACK of our SYN then establishes.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  s.send(Seg{.flags = flag::kSyn, .seq = kPeerIss, .options = {.mss = 1200}}, kLocal);
  auto synack = s.next_sent();
  ASSERT_TRUE(synack);
  EXPECT_EQ(synack->flags, flag::kSyn | flag::kAck);
  EXPECT_EQ(synack->seq.raw(), a.iss);
  EXPECT_EQ(synack->ack.raw(), kPeerIss + 1);
  EXPECT_TRUE(synack->options.mss);
  EXPECT_FALSE(a.done);
  s.send(ack_seg(kPeerIss + 1, a.iss + 1), kLocal);
  ASSERT_TRUE(a.done);
  ASSERT_TRUE(a.conn.has_value());
  EXPECT_EQ(a.conn->state(), State::kEstablished);
}

// ---------------------------------------------------------------------------------------------
// ESTABLISHED: segment arrival (RFC 9293 §3.10.7.4, RFC 5961), windows (§3.8.6), ACK timing
// (§3.8.6.3, RFC 5681 §4.2), retransmission (RFC 6298, RFC 5681 §3.1).

TEST(TcpEstablished, OldDuplicateSegmentIsAckedAndDropped) {
  // RFC 9293 §3.10.7.4 first: text wholly below RCV.NXT is unacceptable: ACK at once, drop.
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, "abc"), kPort);
  run_for(s, 40ms);
  (void)drain_sent(s);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, "abc"), kPort);  // the peer's needless retransmission
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 1);
  EXPECT_EQ(a->ack.raw(), kIrs + 4);
  EXPECT_EQ(read_all(s, e.conn), "abc");
}

TEST(TcpEstablished, PartlyOldSegmentDeliversOnlyItsNewBytes) {
  // RFC 9293 §3.10.7.4 first: a segment straddling RCV.NXT is acceptable; only the new part
  // counts.
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, "abc"), kPort);
  s.send(ack_seg(kIrs + 2, e.our_iss + 1, "bcdef"), kPort);
  EXPECT_EQ(read_all(s, e.conn), "abcdef");
  std::optional<Sent> last;
  while (auto a = wait_segment(s, 100ms)) last = a;
  ASSERT_TRUE(last);
  EXPECT_EQ(last->h.ack.raw(), kIrs + 7);
}

TEST(TcpEstablished, EmptySegmentJustPastTheWindowIsAcked) {
  // RFC 9293 §3.10.7.4 first, zero-length case: RCV.NXT =< SEG.SEQ < RCV.NXT + RCV.WND. The last
  // sequence number in the window passes silently; the first beyond it is answered.
  TcpConfig cfg;
  cfg.recv_buffer = 4096;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs + 1 + 4095, e.our_iss + 1), kPort);
  EXPECT_FALSE(s.next_sent());
  s.send(ack_seg(kIrs + 1 + 4096, e.our_iss + 1), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->ack.raw(), kIrs + 1);
}

TEST(TcpEstablished, KeepaliveProbeFromThePeerIsAnswered) {
  // RFC 1122 §4.2.3.6: a probe is <SEQ=SND.NXT-1>, with or without one garbage byte; RFC 9293
  // §3.10.7.4 first makes it unacceptable, so it earns an ACK; the byte is not delivered.
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs, e.our_iss + 1), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 1);
  EXPECT_EQ(a->ack.raw(), kIrs + 1);
  s.send(ack_seg(kIrs, e.our_iss + 1, "?"), kPort);
  auto b = s.next_sent();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->ack.raw(), kIrs + 1);
  EXPECT_FALSE(read_now(s, e.conn));
}

TEST(TcpEstablished, ZeroWindowProbeFromThePeerIsAnsweredWithAZeroWindow) {
  // RFC 9293 §3.10.7.4 first: with RCV.WND = 0 no text is acceptable; the ACK carries the
  // closed window (§3.8.6.1: the receiver keeps answering probes).
  TcpConfig cfg;
  cfg.recv_buffer = 1024;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  const std::string full = text(1024);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, full), kPort);
  s.send(ack_seg(kIrs + 1 + 1024, e.our_iss + 1, "x"), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->ack.raw(), kIrs + 1 + 1024);
  EXPECT_EQ(a->window, 0);
  EXPECT_EQ(read_all(s, e.conn), full);
}

TEST(TcpEstablished, DrainingAClosedWindowSendsAWindowUpdate) {
  // RFC 9293 §3.8.6.2.2 / RFC 1122 §4.2.3.3: once the reader frees a useful amount, the opened
  // window is advertised without waiting for more data.
  TcpConfig cfg;
  cfg.recv_buffer = 1024;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, text(1024)), kPort);
  auto a = wait_segment(s, 1s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->h.window, 0);
  EXPECT_EQ(read_all(s, e.conn).size(), 1024u);
  auto u = s.next_sent();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->flags, flag::kAck);
  EXPECT_EQ(u->ack.raw(), kIrs + 1 + 1024);
  EXPECT_EQ(u->window, 1024);
}

TEST(TcpEstablished, AdvertisedWindowShrinksByUnreadData) {
  // RFC 9293 §3.8.6.2.2: RCV.WND is the buffer space left: unread bytes use it up.
  TcpConfig cfg;
  cfg.recv_buffer = 4096;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, text(1000)), kPort);
  s.send(ack_seg(kIrs + 1001, e.our_iss + 1, text(1000)), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ack.raw(), kIrs + 2001);
  EXPECT_EQ(a->window, 4096 - 2000);
}

TEST(TcpEstablished, SegmentStraddlingTheRightEdgeIsTrimmedToTheWindow) {
  // RFC 9293 §3.10.7.4 first: processing continues on the part inside the window; the rest is
  // not acknowledged.
  TcpConfig cfg;
  cfg.recv_buffer = 1024;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  const std::string big = text(1400);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, big), kPort);
  auto a = wait_segment(s, 1s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->h.ack.raw(), kIrs + 1 + 1024);
  EXPECT_EQ(a->h.window, 0);
  EXPECT_EQ(read_all(s, e.conn), big.substr(0, 1024));
}

TEST(TcpEstablished, AckOfDataNeverSentIsAnsweredAndTheSegmentDropped) {
  // RFC 9293 §3.10.7.4 fifth: SEG.ACK > SND.NXT: send an ACK, drop the segment (its text too).
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1000, "zz"), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 1);
  EXPECT_EQ(a->ack.raw(), kIrs + 1);
  EXPECT_FALSE(read_now(s, e.conn));
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, "ok"), kPort);
  EXPECT_EQ(read_all(s, e.conn), "ok");
}

TEST(TcpEstablished, OldAckIsIgnoredButItsTextIsKept) {
  // RFC 9293 §3.10.7.4 fifth: SEG.ACK < SND.UNA is a duplicate and "can be ignored" (it does not
  // update the window: SND.WL2 > SEG.ACK), but processing goes on to the text.
  TcpScript s;
  auto e = s.establish(kPort);
  write_now(s, e.conn, filler(100));
  (void)drain_sent(s);
  s.send(ack_seg(kIrs + 1, e.our_iss + 101), kPort);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, "hi", /*window=*/0), kPort);
  EXPECT_EQ(read_all(s, e.conn), "hi");
  write_now(s, e.conn, filler(100));
  EXPECT_EQ(payload_bytes(drain_sent(s)), 100u) << "the old ACK's zero window was taken";
}

TEST(TcpEstablished, AckBelowTheMaxWindowIsChallenged) {
  // RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND: discard the segment and send an ACK.
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1 - 70000, "zz"), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->ack.raw(), kIrs + 1);
  EXPECT_EQ(s.tcp.stats().challenge_acks, 1u);
  EXPECT_FALSE(read_now(s, e.conn));
}

TEST(TcpEstablished, WindowFromAnOlderSegmentIsIgnored) {
  // RFC 9293 §3.10.7.4 fifth: the window is taken only if SND.WL1 < SEG.SEQ or (SND.WL1 =
  // SEG.SEQ and SND.WL2 =< SEG.ACK): a reordered older segment cannot reopen it.
  TcpScript s;
  auto e = s.establish(kPort);
  const std::uint32_t iss = e.our_iss;
  s.send(ack_seg(kIrs + 11, iss + 1, "0123456789", /*window=*/0), kPort);  // sent second
  (void)drain_sent(s);
  s.send(ack_seg(kIrs + 1, iss + 1, "abcdefghij", /*window=*/4096), kPort);  // sent first
  auto fill = s.next_sent();
  ASSERT_TRUE(fill);
  EXPECT_EQ(fill->ack.raw(), kIrs + 21);
  write_now(s, e.conn, bytes_of("data"));
  EXPECT_EQ(payload_bytes(drain_sent(s)), 0u) << "the older segment's window was taken";
  s.send(ack_seg(kIrs + 21, iss + 1, {}, 4096), kPort);
  EXPECT_EQ(payload_bytes(drain_sent(s)), 4u);
}

TEST(TcpEstablished, WindowFromAnOlderAckIsIgnored) {
  // RFC 9293 §3.10.7.4 fifth: same SEG.SEQ, but SEG.ACK < SND.WL2: the window stays.
  TcpScript s;
  auto e = s.establish(kPort);
  const std::uint32_t iss = e.our_iss;
  write_now(s, e.conn, filler(100));
  (void)drain_sent(s);
  s.send(ack_seg(kIrs + 1, iss + 101, {}, /*window=*/0), kPort);
  s.send(ack_seg(kIrs + 1, iss + 1, {}, /*window=*/65535), kPort);  // overtaken, older
  write_now(s, e.conn, bytes_of("more"));
  EXPECT_EQ(payload_bytes(drain_sent(s)), 0u) << "the older ACK's window was taken";
  s.send(ack_seg(kIrs + 1, iss + 101, {}, 65535), kPort);
  EXPECT_EQ(payload_bytes(drain_sent(s)), 4u);
}

TEST(TcpEstablished, UrgentDataIsDeliveredInlineAndAckedNormally) {
  // RFC 9293 §3.8.5 / RFC 6093: the urgent pointer does not change the data stream; a stack
  // without urgent support must still deliver the bytes in order and acknowledge them.
  TcpScript s;
  auto e = s.establish(kPort);
  TcpHeader h;
  h.src_port = TcpScript::kPeerPort;
  h.dst_port = kPort;
  h.seq = stack::tcp::SeqNum(kIrs + 1);
  h.ack = stack::tcp::SeqNum(e.our_iss + 1);
  h.flags = flag::kAck | flag::kUrg | flag::kPsh;
  h.window = 65535;
  h.urgent = 3;
  send_header(s, h, "urgent");
  EXPECT_EQ(read_all(s, e.conn), "urgent");
  auto a = wait_segment(s, 1s);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->h.ack.raw(), kIrs + 7);
  EXPECT_EQ(e.conn.state(), State::kEstablished);
}

TEST(TcpEstablished, RstOutsideTheWindowIsSilentlyIgnored) {
  // RFC 9293 §3.10.7.4 first / RFC 5961 §3.2: an out-of-window RST is dropped without a reply.
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(Seg{.flags = flag::kRst, .seq = kIrs + 1 + 300000}, kPort);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(e.conn.state(), State::kEstablished);
  EXPECT_EQ(s.tcp.stats().challenge_acks, 0u);
}

TEST(TcpEstablished, SynOutsideTheWindowIsAnsweredWithAck) {
  // RFC 5961 §4.2: a SYN in a synchronized state earns an ACK whatever its sequence number.
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(Seg{.flags = flag::kSyn, .seq = 500}, kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 1);
  EXPECT_EQ(a->ack.raw(), kIrs + 1);
  EXPECT_EQ(e.conn.state(), State::kEstablished);
}

TEST(TcpEstablished, RetransmittedSynAckIsAcknowledgedAgain) {
  // RFC 9293 §3.10.7.4 first/fourth: our handshake ACK was lost and the peer repeats its
  // SYN-ACK: it is old (below RCV.NXT), so we ACK again, which completes the peer's side.
  TcpScript s;
  Active a;
  open_active(s, a);
  ASSERT_TRUE(a.conn.has_value());
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1}, kLocal);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kAck);
  EXPECT_EQ(r->seq.raw(), a.iss + 1);
  EXPECT_EQ(r->ack.raw(), kPeerIss + 1);
  EXPECT_EQ(a.conn->state(), State::kEstablished);
}

TEST(TcpEstablished, FinBeyondAHoleWaitsForTheGap) {
  // RFC 9293 §3.10.7.4 eighth: the FIN counts only once everything before it has arrived.
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(fin_seg(kIrs + 4, e.our_iss + 1, "def"), kPort);
  auto dup = s.next_sent();
  ASSERT_TRUE(dup);
  EXPECT_EQ(dup->ack.raw(), kIrs + 1);
  EXPECT_EQ(e.conn.state(), State::kEstablished);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, "abc"), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ack.raw(), kIrs + 8);  // 6 bytes + FIN
  EXPECT_EQ(e.conn.state(), State::kCloseWait);
  bool eof = false;
  EXPECT_EQ(read_all(s, e.conn, &eof), "abcdef");
  EXPECT_TRUE(eof);
}

TEST(TcpEstablished, DelayedAckIsSentWhenItsTimerExpires) {
  // RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2: a lone segment's ACK waits for the delayed-ACK timer
  // (40 ms here, at most 500 ms), not longer.
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, "x"), kPort);
  auto a = wait_segment(s, 1s);
  ASSERT_TRUE(a);
  EXPECT_EQ(ms(a->after), 40);
  EXPECT_EQ(a->h.flags, flag::kAck);
  EXPECT_EQ(a->h.ack.raw(), kIrs + 2);
}

TEST(TcpEstablished, DelayedAckRidesOnTheReply) {
  // RFC 9293 §3.8.6.3: a pending ACK goes out on the next data segment; no separate ACK later.
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, "ping"), kPort);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(read_all(s, e.conn), "ping");
  write_now(s, e.conn, bytes_of("pong"));
  auto segs = drain_sent(s);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(str(segs[0].data), "pong");
  EXPECT_TRUE(segs[0].h.has(flag::kAck));
  EXPECT_EQ(segs[0].h.ack.raw(), kIrs + 5);
  run_for(s, 100ms);
  EXPECT_FALSE(s.next_sent());
}

TEST(TcpEstablished, EveryOtherFullSizedSegmentIsAckedAtOnce) {
  // RFC 5681 §4.2 / RFC 9293 §3.8.6.3: an ACK for at least every second full-sized segment.
  TcpScript s;
  auto e = s.establish(kPort);
  for (std::uint32_t i = 0; i < 4; ++i) {
    s.send(ack_seg(kIrs + 1 + i * 1460, e.our_iss + 1, text(1460)), kPort);
    auto a = s.next_sent();
    if (i % 2 == 0) {
      EXPECT_FALSE(a) << "segment " << i;
    } else {
      ASSERT_TRUE(a) << "segment " << i;
      EXPECT_EQ(a->ack.raw(), kIrs + 1 + (i + 1) * 1460);
    }
  }
}

TEST(TcpEstablished, FirstRttSampleSetsRtoToSrttPlusFourRttvar) {
  // RFC 6298 §2.2: first measurement R: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4*RTTVAR. The
  // SYN-ACK comes 100 ms after our SYN, so data is retransmitted after 300 ms.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  run_for(s, 100ms);
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1,
             .options = {.mss = 1460}},
         kLocal);
  ASSERT_TRUE(a.done && a.conn.has_value());
  (void)drain_sent(s);
  write_now(s, *a.conn, bytes_of("one"));
  (void)drain_sent(s);
  auto r = wait_segment(s, 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(ms(r->after), 300);
  EXPECT_EQ(r->h.seq.raw(), a.iss + 1);
}

TEST(TcpEstablished, LaterRttSamplesAreSmoothed) {
  // RFC 6298 §2.3: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|, SRTT = 7/8 SRTT + 1/8 R'. After
  // R = 100 ms and R' = 200 ms: RTTVAR 62.5, SRTT 112.5, RTO 362.5 ms.
  TcpScript s;
  Active a;
  ASSERT_TRUE(start_connect(s, a));
  run_for(s, 100ms);
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = kPeerIss, .ack = a.iss + 1,
             .options = {.mss = 1460}},
         kLocal);
  ASSERT_TRUE(a.done && a.conn.has_value());
  (void)drain_sent(s);
  write_now(s, *a.conn, bytes_of("one"));
  (void)drain_sent(s);
  run_for(s, 200ms);
  s.send(ack_seg(kPeerIss + 1, a.iss + 4), kLocal);
  write_now(s, *a.conn, bytes_of("two"));
  (void)drain_sent(s);
  run_for(s, 362ms);
  EXPECT_FALSE(s.next_sent());
  run_for(s, 1ms);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->seq.raw(), a.iss + 4);
}

TEST(TcpEstablished, RetransmissionTimerRestartsWhenNewDataIsAcked) {
  // RFC 6298 §5.3: an ACK of new data restarts the timer for RTO (200 ms here: the floor).
  TcpScript s;
  auto e = s.establish(kPort, {.mss = 1460});
  ASSERT_TRUE(e.conn.set_no_delay(true).has_value());
  write_now(s, e.conn, filler(3000));
  EXPECT_EQ(drain_sent(s).size(), 3u);
  run_for(s, 150ms);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1461), kPort);
  auto r = wait_segment(s, 1s);
  ASSERT_TRUE(r);
  EXPECT_EQ(ms(r->after), 200);
  EXPECT_EQ(r->h.seq.raw(), e.our_iss + 1461);
}

TEST(TcpEstablished, RetransmissionTimerStopsWhenEverythingIsAcked) {
  // RFC 6298 §5.2: all outstanding data acknowledged: turn the timer off.
  TcpScript s;
  auto e = s.establish(kPort);
  write_now(s, e.conn, bytes_of("abc"));
  (void)drain_sent(s);
  s.send(ack_seg(kIrs + 1, e.our_iss + 4), kPort);
  run_for(s, 5s);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.stats().rto_expiries, 0u);
}

TEST(TcpEstablished, TimeoutResendsOneSegmentThenSlowStarts) {
  // RFC 6298 §5.4 (retransmit the earliest unacknowledged segment) and RFC 5681 §3.1 (after a
  // timeout cwnd is one segment, then grows by slow start).
  TcpScript s;
  auto e = s.establish(kPort, {.mss = 1460});
  ASSERT_TRUE(e.conn.set_no_delay(true).has_value());
  write_now(s, e.conn, filler(3 * 1460));
  EXPECT_EQ(drain_sent(s).size(), 3u);
  auto r = wait_segment(s, 1s);
  ASSERT_TRUE(r);
  EXPECT_EQ(ms(r->after), 200);
  EXPECT_EQ(r->h.seq.raw(), e.our_iss + 1);
  EXPECT_EQ(r->data.size(), 1460u);
  EXPECT_FALSE(s.next_sent()) << "loss window is one segment";
  s.send(ack_seg(kIrs + 1, e.our_iss + 1461), kPort);
  auto segs = drain_sent(s);
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].h.seq.raw(), e.our_iss + 1461);
  EXPECT_EQ(segs[1].h.seq.raw(), e.our_iss + 2921);
}

TEST(TcpEstablished, RetransmissionAfterAPartialAckStartsAtSndUna) {
  // RFC 9293 §3.10.7.4 fifth (SND.UNA advances mid-segment) and RFC 6298 §5.4: what goes again
  // starts at the first unacknowledged byte.
  TcpScript s;
  auto e = s.establish(kPort, {.mss = 1460});
  const std::vector<std::byte> data = filler(1000);
  write_now(s, e.conn, data);
  (void)drain_sent(s);
  s.send(ack_seg(kIrs + 1, e.our_iss + 501), kPort);
  auto r = wait_segment(s, 1s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->h.seq.raw(), e.our_iss + 501);
  EXPECT_EQ(r->data, std::vector<std::byte>(data.begin() + 500, data.end()));
}

// found a stack bug (fixed)
TEST(TcpEstablished, KarnKeepsTheBackedOffRtoUntilAFreshSample) {
  // RFC 6298 §5.5 (RTO <- RTO * 2) with Karn's algorithm (§3, §5 note): the backed-off RTO is
  // kept until a valid RTT sample (from a segment sent once) replaces it; an ACK of a
  // retransmitted segment gives no sample and must not collapse it.
  TcpScript s;
  auto e = s.establish(kPort);  // RTO 200 ms (the floor)
  write_now(s, e.conn, bytes_of("a"));
  (void)drain_sent(s);
  auto r1 = wait_segment(s, 1s);
  ASSERT_TRUE(r1);
  EXPECT_EQ(ms(r1->after), 200);  // RTO now 400 ms
  run_for(s, 100ms);
  s.send(ack_seg(kIrs + 1, e.our_iss + 2), kPort);  // ambiguous: no sample
  write_now(s, e.conn, bytes_of("b"));
  (void)drain_sent(s);
  auto r2 = wait_segment(s, 2s);
  ASSERT_TRUE(r2);
  EXPECT_EQ(ms(r2->after), 400);
}

TEST(TcpEstablished, RtoBackoffIsCappedAtTheMaximum) {
  // RFC 6298 §5.5 (double at each expiry) and §2.5 (a maximum may be placed on RTO).
  TcpConfig cfg;
  cfg.max_rto = 1s;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  write_now(s, e.conn, bytes_of("a"));
  (void)drain_sent(s);
  for (std::int64_t want : {200, 400, 800, 1000, 1000}) {
    auto r = wait_segment(s, 5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(ms(r->after), want);
    EXPECT_EQ(r->h.seq.raw(), e.our_iss + 1);
  }
}

TEST(TcpEstablished, GivesUpWithRstAfterTheConfiguredRetries) {
  // RFC 9293 §3.8.3 / RFC 1122 §4.2.3.5: past R2 the connection is closed and the user told;
  // coronet also resets the peer (<SEQ=SND.NXT><CTL=RST>).
  TcpConfig cfg;
  cfg.max_retries = 3;
  cfg.max_rto = 1s;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  write_now(s, e.conn, bytes_of("a"));
  (void)drain_sent(s);
  for (std::int64_t want : {200, 400, 800}) {
    auto r = wait_segment(s, 5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(ms(r->after), want);
    EXPECT_EQ(r->data.size(), 1u);
  }
  auto rst = wait_segment(s, 5s);
  ASSERT_TRUE(rst);
  EXPECT_EQ(ms(rst->after), 1000);
  EXPECT_EQ(rst->h.flags, flag::kRst);
  EXPECT_EQ(rst->h.seq.raw(), e.our_iss + 2);
  EXPECT_EQ(e.conn.state(), State::kClosed);
  auto w = s.v.reactor.block_on(e.conn.write(bytes_of("z")));  // the user is told
  ASSERT_FALSE(w.has_value());
  EXPECT_EQ(w.error().code(), Errc::kTimedOut);
}

TEST(TcpEstablished, ZeroWindowIsProbedWithGrowingIntervals) {
  // RFC 9293 §3.8.6.1: the first probe once the window has been zero for one RTO (SHLD-29), then
  // the interval between successive probes increasing exponentially (SHLD-30); each probe is
  // one byte at SND.NXT.
  TcpScript s;
  Active a;
  open_active(s, a, {.mss = 1460}, /*window=*/0);
  ASSERT_TRUE(a.conn.has_value());
  write_now(s, *a.conn, bytes_of("data"));
  EXPECT_EQ(payload_bytes(drain_sent(s)), 0u);
  std::vector<std::int64_t> waits;  // [0]: to the first probe; then between probes
  for (int i = 0; i < 5; ++i) {
    auto p = wait_segment(s, 60s);
    ASSERT_TRUE(p);
    waits.push_back(ms(p->after));
    EXPECT_EQ(p->h.seq.raw(), a.iss + 1);
    EXPECT_EQ(p->data.size(), 1u);
    s.send(ack_seg(kPeerIss + 1, a.iss + 1, {}, 0), kLocal);  // still no room
  }
  EXPECT_EQ(waits[0], 200) << "one RTO (the handshake measured ~0: the 200 ms floor)";
  EXPECT_GE(waits[1], waits[0]);
  for (std::size_t i = 2; i < waits.size(); ++i) {
    EXPECT_EQ(waits[i], 2 * waits[i - 1]) << ::testing::PrintToString(waits);
  }
}

// found a stack bug (fixed)
TEST(TcpEstablished, RepeatedAnswersToAZeroWindowProbeNeverLetDataThrough) {
  // RFC 9293 §3.8.6.1: into a zero window only a probe (one octet) may go. When the network
  // repeats the peer's answer to a probe, the three identical ACKs may look like RFC 5681 §2
  // duplicate ACKs, but what fast retransmit may resend (§3.2) is the missing segment, i.e. the
  // outstanding probe octet: never new data beyond the offered window.
  TcpScript s;
  Active a;
  open_active(s, a, {.mss = 1460}, /*window=*/0);
  ASSERT_TRUE(a.conn.has_value());
  write_now(s, *a.conn, filler(3000));
  for (int i = 0; i < 3; ++i) {
    auto p = wait_segment(s, 60s, 10ms);
    ASSERT_TRUE(p);
    EXPECT_LE(p->data.size(), 1u) << "probe " << i;
    for (int copy = 0; copy < 3; ++copy) {
      s.send(ack_seg(kPeerIss + 1, a.iss + 1, {}, 0), kLocal);
    }
    for (const Sent& o : drain_sent(s)) {
      EXPECT_LE(o.data.size(), 1u) << "after the answers to probe " << i;
    }
  }
}

TEST(TcpEstablished, AnswersToZeroWindowProbesKeepTheConnectionProbing) {
  // RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: probing goes on as long as the peer answers, past
  // the retransmission limit; then an opened window lets the data flow.
  TcpConfig cfg;
  cfg.max_retries = 3;
  cfg.max_rto = 1s;
  TcpScript s(cfg);
  Active a;
  open_active(s, a, {.mss = 1460}, /*window=*/0);
  ASSERT_TRUE(a.conn.has_value());
  write_now(s, *a.conn, filler(3000));
  for (int i = 0; i < 8; ++i) {
    auto p = wait_segment(s, 60s, 10ms);
    ASSERT_TRUE(p) << "probe " << i;
    EXPECT_LE(p->data.size(), 1u) << "probe " << i;
    s.send(ack_seg(kPeerIss + 1, a.iss + 1, {}, 0), kLocal);
  }
  EXPECT_EQ(a.conn->state(), State::kEstablished);
  // The window opens: everything goes, as fast as the peer acknowledges it.
  std::uint32_t acked = 0;
  for (int round = 0; round < 10 && acked < 3000; ++round) {
    s.send(ack_seg(kPeerIss + 1, a.iss + 1 + acked, {}, 65535), kLocal);
    for (const Sent& o : drain_sent(s)) {
      if (o.data.empty()) continue;
      EXPECT_EQ(o.h.seq.raw(), a.iss + 1 + acked) << "round " << round;
      acked += static_cast<std::uint32_t>(o.data.size());
    }
  }
  EXPECT_EQ(acked, 3000u);
}

TEST(TcpEstablished, InitialWindowIsTenSegments) {
  // RFC 6928 §2 (and RFC 5681 §3.1): IW = min(10*MSS, max(2*MSS, 14600)) = 10 segments here.
  TcpScript s;
  auto e = s.establish(kPort, {.mss = 1460});
  write_now(s, e.conn, filler(30000));
  auto segs = drain_sent(s);
  EXPECT_EQ(segs.size(), 10u);
  EXPECT_EQ(payload_bytes(segs), 14600u);
}

TEST(TcpEstablished, AbortSendsRstAtSndNxt) {
  // RFC 9293 §3.10.5 ABORT in ESTABLISHED: <SEQ=SND.NXT><CTL=RST>, then CLOSED.
  TcpScript s;
  auto e = s.establish(kPort);
  write_now(s, e.conn, bytes_of("abc"));
  (void)drain_sent(s);
  e.conn.abort();
  s.settle();
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst);
  EXPECT_EQ(r->seq.raw(), e.our_iss + 4);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
}

// found a stack bug (fixed)
TEST(TcpEstablished, AbortAfterATimeoutResetsAtTheHighestSequenceSent) {
  // RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>, SND.NXT being the next new sequence number
  // (§3.3.1); retransmitting does not move it back. A RST at an older number falls outside the
  // window of a peer that received everything and is ignored (RFC 9293 §3.10.7.4 first).
  TcpScript s;
  auto e = s.establish(kPort, {.mss = 1460});
  ASSERT_TRUE(e.conn.set_no_delay(true).has_value());
  write_now(s, e.conn, filler(3 * 1460));
  (void)drain_sent(s);
  auto r = wait_segment(s, 1s);  // the timeout resends the first segment
  ASSERT_TRUE(r);
  e.conn.abort();
  s.settle();
  auto rst = s.next_sent();
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->flags, flag::kRst);
  EXPECT_EQ(rst->seq.raw(), e.our_iss + 1 + 3 * 1460);
}

TEST(TcpEstablished, MssOptionOutsideASynIsIgnored) {
  // RFC 9293 §3.2 / §3.7.1: the MSS option is only sent (and only counts) in SYN segments.
  TcpScript s;
  auto e = s.establish(kPort, {.mss = 1460});
  s.send(Seg{.flags = flag::kAck, .seq = kIrs + 1, .ack = e.our_iss + 1,
             .options = {.mss = 100}},
         kPort);
  ASSERT_TRUE(e.conn.set_no_delay(true).has_value());
  write_now(s, e.conn, filler(3000));
  auto segs = drain_sent(s);
  ASSERT_FALSE(segs.empty());
  EXPECT_EQ(segs[0].data.size(), 1460u);
}

TEST(TcpEstablished, WindowScaleOptionOutsideASynIsIgnored) {
  // RFC 7323 §2.2: a Window Scale option in a segment without SYN must be ignored.
  TcpScript s;
  auto e = s.establish(kPort, {.mss = 1460});
  s.send(Seg{.flags = flag::kAck, .seq = kIrs + 1, .ack = e.our_iss + 1, .window = 100,
             .options = {.window_scale = 7}},
         kPort);
  ASSERT_TRUE(e.conn.set_no_delay(true).has_value());
  write_now(s, e.conn, filler(1000));
  s.advance(250ms);  // a window below one MSS is filled by the SWS override (persist) timer
  EXPECT_EQ(payload_bytes(drain_sent(s)), 100u);
}

// ---------------------------------------------------------------------------------------------
// The closing states. A SYN in any synchronized state earns a challenge ACK (RFC 5961 §4.2, as
// RFC 9293 §3.10.7.4 fourth adopts) and leaves the state alone.

void expect_challenge_ack_for_syn(State st, std::uint32_t syn_seq, std::uint32_t want_seq_off,
                                  std::uint32_t want_ack) {
  TcpScript s;
  auto e = reach(s, st);
  s.send(Seg{.flags = flag::kSyn, .seq = syn_seq}, kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + want_seq_off);
  EXPECT_EQ(a->ack.raw(), want_ack);
  EXPECT_EQ(e.conn.state(), st);
  EXPECT_EQ(s.tcp.connection_count(), 1u);
}

// FIN-WAIT-1.

TEST(TcpFinWait1, FinRidesOnTheLastDataSegment) {
  // RFC 9293 §3.10.4 CLOSE: the FIN follows the queued data, here in the same segment.
  TcpScript s;
  auto e = s.establish(kPort);
  s.v.reactor.spawn(write_then_shutdown(&e.conn, bytes_of("bye")));
  s.settle();
  auto segs = drain_sent(s);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(segs[0].h.flags, flag::kAck | flag::kPsh | flag::kFin);
  EXPECT_EQ(segs[0].h.seq.raw(), e.our_iss + 1);
  EXPECT_EQ(str(segs[0].data), "bye");
  EXPECT_EQ(e.conn.state(), State::kFinWait1);
}

TEST(TcpFinWait1, FinIsRetransmittedWithBackoff) {
  // RFC 9293 §3.10.4 (the FIN is retransmitted like data) and RFC 6298 §5.5.
  TcpScript s;
  auto e = reach(s, State::kFinWait1);
  for (std::int64_t want : {200, 400}) {
    auto r = wait_segment(s, 5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(ms(r->after), want);
    EXPECT_EQ(r->h.flags, flag::kAck | flag::kFin);
    EXPECT_EQ(r->h.seq.raw(), e.our_iss + 1);
    EXPECT_EQ(r->h.ack.raw(), kIrs + 1);
  }
  EXPECT_EQ(e.conn.state(), State::kFinWait1);
}

TEST(TcpFinWait1, AckOfTheDataButNotTheFinKeepsFinWait1) {
  // RFC 9293 §3.10.7.4 fifth, FIN-WAIT-1: FIN-WAIT-2 only "if the FIN segment is now
  // acknowledged".
  TcpScript s;
  auto e = s.establish(kPort);
  write_now(s, e.conn, bytes_of("abc"));
  (void)e.conn.shutdown();
  s.settle();
  (void)drain_sent(s);
  ASSERT_EQ(e.conn.state(), State::kFinWait1);
  s.send(ack_seg(kIrs + 1, e.our_iss + 4), kPort);
  EXPECT_EQ(e.conn.state(), State::kFinWait1);
  s.send(ack_seg(kIrs + 1, e.our_iss + 5), kPort);
  EXPECT_EQ(e.conn.state(), State::kFinWait2);
}

TEST(TcpFinWait1, CloseCompletesOnceTheFinIsAcked) {
  // RFC 9293 §3.10.4 / §3.10.7.4 fifth: the FIN's ACK moves to FIN-WAIT-2, the close is done.
  TcpScript s;
  auto e = s.establish(kPort);
  std::optional<Result<void>> closed;
  s.v.reactor.spawn(close_task(&e.conn, &closed));
  s.settle();
  auto fin = s.next_sent();
  ASSERT_TRUE(fin);
  EXPECT_TRUE(fin->has(flag::kFin));
  EXPECT_FALSE(closed);
  s.send(ack_seg(kIrs + 1, e.our_iss + 2), kPort);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->has_value());
  EXPECT_EQ(s.tcp.connection_count(), 1u);  // FIN-WAIT-2 goes on, the peer may still send
}

TEST(TcpFinWait1, FinThatAcksOurFinLeadsStraightToTimeWait) {
  // RFC 9293 §3.10.7.4 eighth, FIN-WAIT-1: "If our FIN has been ACKed (perhaps in this
  // segment), then enter TIME-WAIT".
  TcpScript s;
  auto e = reach(s, State::kFinWait1);
  s.send(fin_seg(kIrs + 1, e.our_iss + 2), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 2);
  EXPECT_EQ(a->ack.raw(), kIrs + 2);
  EXPECT_EQ(e.conn.state(), State::kTimeWait);
}

TEST(TcpFinWait1, PeerDataIsStillDelivered) {
  // RFC 9293 §3.10.7.4 seventh: FIN-WAIT-1 still receives text (half close).
  TcpScript s;
  auto e = reach(s, State::kFinWait1);
  s.send(ack_seg(kIrs + 1, e.our_iss + 1, "more"), kPort);
  EXPECT_EQ(read_all(s, e.conn), "more");
  auto a = wait_segment(s, 100ms);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->h.ack.raw(), kIrs + 5);
  EXPECT_EQ(a->h.seq.raw(), e.our_iss + 2);
}

TEST(TcpFinWait1, SynIsChallenged) {
  // RFC 5961 §4.2 in FIN-WAIT-1.
  expect_challenge_ack_for_syn(State::kFinWait1, kIrs + 1, 2, kIrs + 1);
}

TEST(TcpFinWait1, SendAfterCloseIsRefused) {
  // RFC 9293 §3.10.2 SEND in FIN-WAIT-1: "error: connection closing"; nothing goes out.
  TcpScript s;
  auto e = reach(s, State::kFinWait1);
  auto r = s.v.reactor.block_on(e.conn.write(bytes_of("x")));
  EXPECT_FALSE(r.has_value());
  s.settle();
  EXPECT_EQ(payload_bytes(drain_sent(s)), 0u);
}

// found a stack bug (fixed)
TEST(TcpFinWait1, CloseBehindAClosedWindowEntersFinWait1AtOnce) {
  // RFC 9293 §3.10.4 CLOSE in ESTABLISHED: queue the FIN after the data, "In any case, enter
  // FIN-WAIT-1 state". So the peer's FIN then leads to CLOSING (and TIME-WAIT), not CLOSE-WAIT.
  TcpScript s;
  Active a;
  open_active(s, a, {.mss = 1460}, /*window=*/0);
  ASSERT_TRUE(a.conn.has_value());
  write_now(s, *a.conn, bytes_of("data"));
  ASSERT_TRUE(a.conn->shutdown().has_value());
  s.settle();
  EXPECT_EQ(a.conn->state(), State::kFinWait1);
  s.send(fin_seg(kPeerIss + 1, a.iss + 1), kLocal);
  EXPECT_EQ(a.conn->state(), State::kClosing);
}

// FIN-WAIT-2.

TEST(TcpFinWait2, PeerDataIsStillDeliveredAndAcked) {
  // RFC 9293 §3.10.7.4 seventh: FIN-WAIT-2 receives text.
  TcpScript s;
  auto e = reach(s, State::kFinWait2);
  s.send(ack_seg(kIrs + 1, e.our_iss + 2, "tail"), kPort);
  EXPECT_EQ(read_all(s, e.conn), "tail");
  auto a = wait_segment(s, 100ms);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->h.flags, flag::kAck);
  EXPECT_EQ(a->h.seq.raw(), e.our_iss + 2);
  EXPECT_EQ(a->h.ack.raw(), kIrs + 5);
}

TEST(TcpFinWait2, FinIsAckedAndTimeWaitBegins) {
  // RFC 9293 §3.10.7.4 eighth, FIN-WAIT-2: enter TIME-WAIT, start the 2 MSL timer, ACK the FIN.
  TcpScript s;
  auto e = reach(s, State::kFinWait2);
  s.send(fin_seg(kIrs + 1, e.our_iss + 2), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 2);
  EXPECT_EQ(a->ack.raw(), kIrs + 2);
  EXPECT_EQ(e.conn.state(), State::kTimeWait);
  EXPECT_EQ(s.tcp.stats().time_wait, 1u);
}

TEST(TcpFinWait2, NothingIsRetransmittedOnceTheFinIsAcked) {
  // RFC 6298 §5.2: nothing outstanding, no retransmission timer.
  TcpScript s;
  auto e = reach(s, State::kFinWait2);
  run_for(s, 10s);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(e.conn.state(), State::kFinWait2);
}

TEST(TcpFinWait2, SynIsChallenged) {
  // RFC 5961 §4.2 in FIN-WAIT-2.
  expect_challenge_ack_for_syn(State::kFinWait2, kIrs + 1, 2, kIrs + 1);
}

// CLOSE-WAIT.

TEST(TcpCloseWait, DataCanStillBeSent) {
  // RFC 9293 §3.10.2 SEND in CLOSE-WAIT: "Queue the data for transmission" (half close).
  TcpScript s;
  auto e = reach(s, State::kCloseWait);
  write_now(s, e.conn, bytes_of("reply"));
  auto segs = drain_sent(s);
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(str(segs[0].data), "reply");
  EXPECT_EQ(segs[0].h.seq.raw(), e.our_iss + 1);
  EXPECT_EQ(segs[0].h.ack.raw(), kIrs + 2);
  EXPECT_TRUE(segs[0].h.has(flag::kAck));
}

TEST(TcpCloseWait, RetransmittedFinIsAckedAgain) {
  // RFC 9293 §3.10.7.4 first (the repeated FIN is old: ACK it) and eighth (stay in CLOSE-WAIT).
  TcpScript s;
  auto e = reach(s, State::kCloseWait);
  s.send(fin_seg(kIrs + 1, e.our_iss + 1), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 1);
  EXPECT_EQ(a->ack.raw(), kIrs + 2);
  EXPECT_EQ(e.conn.state(), State::kCloseWait);
}

TEST(TcpCloseWait, TextAfterTheFinIsIgnored) {
  // RFC 9293 §3.10.7.4 seventh, CLOSE-WAIT: "This should not occur ... Ignore the segment text."
  TcpScript s;
  auto e = reach(s, State::kCloseWait);
  s.send(ack_seg(kIrs + 2, e.our_iss + 1, "late"), kPort);
  bool eof = false;
  EXPECT_EQ(read_all(s, e.conn, &eof), "");
  EXPECT_TRUE(eof);
  EXPECT_EQ(e.conn.state(), State::kCloseWait);
}

TEST(TcpCloseWait, CloseSendsFinAndItsAckEndsLastAck) {
  // RFC 9293 §3.10.4 CLOSE in CLOSE-WAIT: send FIN, LAST-ACK; §3.10.7.4 fifth, LAST-ACK: the
  // FIN's ACK deletes the TCB.
  TcpScript s;
  auto e = reach(s, State::kCloseWait);
  ASSERT_TRUE(e.conn.shutdown().has_value());
  s.settle();
  auto fin = s.next_sent();
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->flags, flag::kAck | flag::kFin);
  EXPECT_EQ(fin->seq.raw(), e.our_iss + 1);
  EXPECT_EQ(fin->ack.raw(), kIrs + 2);
  EXPECT_EQ(e.conn.state(), State::kLastAck);
  s.send(ack_seg(kIrs + 2, e.our_iss + 2), kPort);
  EXPECT_EQ(e.conn.state(), State::kClosed);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  EXPECT_FALSE(s.next_sent());
}

TEST(TcpCloseWait, SynIsChallenged) {
  // RFC 5961 §4.2 in CLOSE-WAIT.
  expect_challenge_ack_for_syn(State::kCloseWait, kIrs + 2, 1, kIrs + 2);
}

// CLOSING (simultaneous close).

TEST(TcpClosing, OurFinIsRetransmittedWithTheAckOfTheirs) {
  // RFC 9293 §3.10.7.4 and RFC 6298 §5.4: our FIN is still unacknowledged; it goes again, now
  // acknowledging the peer's FIN.
  TcpScript s;
  auto e = reach(s, State::kClosing);
  auto r = wait_segment(s, 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(ms(r->after), 200);
  EXPECT_EQ(r->h.flags, flag::kAck | flag::kFin);
  EXPECT_EQ(r->h.seq.raw(), e.our_iss + 1);
  EXPECT_EQ(r->h.ack.raw(), kIrs + 2);
  EXPECT_EQ(e.conn.state(), State::kClosing);
}

TEST(TcpClosing, RetransmittedPeerFinIsAckedAgain) {
  // RFC 9293 §3.10.7.4 first and eighth (CLOSING: remain in CLOSING).
  TcpScript s;
  auto e = reach(s, State::kClosing);
  s.send(fin_seg(kIrs + 1, e.our_iss + 1), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 2);
  EXPECT_EQ(a->ack.raw(), kIrs + 2);
  EXPECT_EQ(e.conn.state(), State::kClosing);
}

TEST(TcpClosing, SynIsChallenged) {
  // RFC 5961 §4.2 in CLOSING.
  expect_challenge_ack_for_syn(State::kClosing, kIrs + 2, 2, kIrs + 2);
}

// LAST-ACK.

TEST(TcpLastAck, FinIsRetransmittedOnTimeout) {
  // RFC 9293 §3.10.4 / RFC 6298 §5.4-5.5: our FIN is resent until acknowledged, backing off.
  TcpScript s;
  auto e = reach(s, State::kLastAck);
  for (std::int64_t want : {200, 400}) {
    auto r = wait_segment(s, 5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(ms(r->after), want);
    EXPECT_EQ(r->h.flags, flag::kAck | flag::kFin);
    EXPECT_EQ(r->h.seq.raw(), e.our_iss + 1);
    EXPECT_EQ(r->h.ack.raw(), kIrs + 2);
  }
  EXPECT_EQ(e.conn.state(), State::kLastAck);
}

TEST(TcpLastAck, AckNotCoveringTheFinKeepsLastAck) {
  // RFC 9293 §3.10.7.4 fifth, LAST-ACK: only the acknowledgment of our FIN closes.
  TcpScript s;
  auto e = reach(s, State::kLastAck);
  s.send(ack_seg(kIrs + 2, e.our_iss + 1), kPort);
  EXPECT_EQ(e.conn.state(), State::kLastAck);
  EXPECT_EQ(s.tcp.connection_count(), 1u);
}

TEST(TcpLastAck, RetransmittedPeerFinIsAckedAgain) {
  // RFC 9293 §3.10.7.4 first and eighth (LAST-ACK: remain in LAST-ACK).
  TcpScript s;
  auto e = reach(s, State::kLastAck);
  s.send(fin_seg(kIrs + 1, e.our_iss + 1), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 2);
  EXPECT_EQ(a->ack.raw(), kIrs + 2);
  EXPECT_EQ(e.conn.state(), State::kLastAck);
}

TEST(TcpLastAck, SynIsChallenged) {
  // RFC 5961 §4.2 in LAST-ACK.
  expect_challenge_ack_for_syn(State::kLastAck, kIrs + 2, 2, kIrs + 2);
}

TEST(TcpLastAck, AbortSendsNoRst) {
  // RFC 9293 §3.10.5 ABORT in CLOSING, LAST-ACK, TIME-WAIT: just delete the TCB.
  TcpScript s;
  auto e = reach(s, State::kLastAck);
  e.conn.abort();
  s.settle();
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.connection_count(), 0u);
}

// TIME-WAIT.

TEST(TcpTimeWait, LastsExactlyTwoMsl) {
  // RFC 9293 §3.10.7.4 eighth / §3.4.2: TIME-WAIT for 2*MSL (MSL configurable; 2 s here).
  TcpConfig cfg;
  cfg.msl = 2s;
  TcpScript s(cfg);
  auto e = reach(s, State::kTimeWait);
  run_for(s, 3999ms);
  EXPECT_EQ(e.conn.state(), State::kTimeWait);
  run_for(s, 1ms);
  EXPECT_EQ(e.conn.state(), State::kClosed);
  EXPECT_EQ(s.tcp.stats().time_wait, 0u);
  EXPECT_FALSE(s.next_sent());
}

TEST(TcpTimeWait, RetransmittedFinIsAckedAgain) {
  // RFC 9293 §3.10.7.4 (TIME-WAIT: "The only thing that can arrive in this state is a
  // retransmission of the remote FIN. Acknowledge it").
  TcpScript s;
  auto e = reach(s, State::kTimeWait);
  s.send(fin_seg(kIrs + 1, e.our_iss + 2), kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 2);
  EXPECT_EQ(a->ack.raw(), kIrs + 2);
  EXPECT_EQ(e.conn.state(), State::kTimeWait);
}

// found a stack bug (fixed)
TEST(TcpTimeWait, RetransmittedFinRestartsTheTwoMslTimer) {
  // RFC 9293 §3.10.7.4 eighth, TIME-WAIT: "Remain in the TIME-WAIT state. Restart the 2 MSL
  // time-out." (fifth: "Acknowledge it, and restart the 2 MSL timeout").
  TcpScript s;
  auto e = reach(s, State::kTimeWait);
  run_for(s, 50s);
  s.send(fin_seg(kIrs + 1, e.our_iss + 2), kPort);
  EXPECT_TRUE(s.next_sent());
  run_for(s, 10s);  // 60 s after entering TIME-WAIT, 10 s after the repeated FIN
  EXPECT_EQ(e.conn.state(), State::kTimeWait);
  run_for(s, 50s);  // 2*MSL after the repeated FIN
  EXPECT_EQ(e.conn.state(), State::kClosed);
}

TEST(TcpTimeWait, OldSynIsAnsweredWithAck) {
  // RFC 9293 §3.10.7.4 first/fourth and RFC 5961 §4.2: a SYN at or below RCV.NXT (an old
  // duplicate of the peer's first SYN) cannot start a new incarnation (RFC 1122 §4.2.2.13 wants
  // a greater sequence number): it gets an ACK and TIME-WAIT goes on.
  TcpScript s;
  auto e = reach(s, State::kTimeWait);
  s.send(Seg{.flags = flag::kSyn, .seq = kIrs}, kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->seq.raw(), e.our_iss + 2);
  EXPECT_EQ(a->ack.raw(), kIrs + 2);
  EXPECT_EQ(e.conn.state(), State::kTimeWait);
}

TEST(TcpTimeWait, NewerSynIsChallengedOrReopensTheConnection) {
  // RFC 9293 §3.10.7.4 fourth / RFC 5961 §4.2: a SYN in TIME-WAIT earns a challenge ACK; RFC
  // 1122 §4.2.2.13 (and RFC 6191) also let a SYN beyond the old RCV.NXT end TIME-WAIT and open
  // a new connection. Either is right; nothing else is.
  TcpScript s;
  auto e = reach(s, State::kTimeWait);
  s.send(Seg{.flags = flag::kSyn, .seq = kIrs + 5000, .options = {.mss = 1460}}, kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  if (a->flags == (flag::kSyn | flag::kAck)) {  // reopened
    EXPECT_EQ(a->ack.raw(), kIrs + 5001);
    EXPECT_EQ(e.conn.state(), State::kClosed);  // the old incarnation is gone
    s.send(ack_seg(kIrs + 5001, a->seq.raw() + 1), kPort);
    auto c = accept_now(s);
    ASSERT_TRUE(c.valid());
    EXPECT_EQ(c.state(), State::kEstablished);
  } else {  // challenged
    EXPECT_EQ(a->flags, flag::kAck);
    EXPECT_EQ(a->seq.raw(), e.our_iss + 2);
    EXPECT_EQ(a->ack.raw(), kIrs + 2);
    EXPECT_EQ(e.conn.state(), State::kTimeWait);
  }
}

TEST(TcpTimeWait, AbortSendsNoRst) {
  // RFC 9293 §3.10.5 ABORT in TIME-WAIT: delete the TCB, nothing sent.
  TcpScript s;
  auto e = reach(s, State::kTimeWait);
  e.conn.abort();
  s.settle();
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  EXPECT_EQ(s.tcp.stats().time_wait, 0u);
}

}  // namespace
}  // namespace coronet::testing
