// Helpers shared by the per-state scripted TCP tests (tcp_states_*_test.cc): a fresh connection
// driven into a state on virtual time, segments in and out, timing of replies. See
// tcp_states_open_test.cc for what the suites cover.
#pragma once

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

namespace coronet::testing::states {

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

inline std::int64_t ms(coro::Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

inline std::string str(const std::vector<std::byte>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

inline std::vector<std::byte> filler(std::size_t n) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>('a' + i % 26);
  return v;
}

// bytes_of() for any text, the empty one included (no memcpy from a null pointer).
inline std::vector<std::byte> payload_of(std::string_view data) {
  return data.empty() ? std::vector<std::byte>{} : bytes_of(data);
}

inline coro::Task<void> sleep_task(coro::Duration d) { (void)co_await coro::sleep_for(d); }

// Lets `d` of virtual time pass. The reactor jumps from one deadline to the next, so every timer
// fires at its exact time and re-arms from there.
inline void run_for(TcpScript& s, coro::Duration d) {
  s.v.reactor.block_on(sleep_task(d));
  s.settle();
}

struct Sent {
  TcpHeader h;
  std::vector<std::byte> data;
  coro::Duration after{};  // virtual time waited for it (wait_segment)
};

inline std::optional<Sent> next(TcpScript& s) {
  Sent o;
  auto h = s.next_sent(&o.data);
  if (!h) return std::nullopt;
  o.h = *h;
  return o;
}

// Lets virtual time pass in `step`s until coronet sends a segment; nullopt after `limit`.
inline std::optional<Sent> wait_segment(TcpScript& s, coro::Duration limit,
                                        coro::Duration step = 1ms) {
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
inline std::vector<Sent> drain_sent(TcpScript& s) {
  std::vector<Sent> all;
  while (auto o = next(s)) all.push_back(std::move(*o));
  return all;
}

inline std::size_t payload_bytes(const std::vector<Sent>& segs) {
  std::size_t n = 0;
  for (const Sent& o : segs) n += o.data.size();
  return n;
}

inline Seg ack_seg(std::uint32_t seq, std::uint32_t ack, std::string_view data = {},
            std::uint16_t window = 65535) {
  return Seg{.flags = flag::kAck, .seq = seq, .ack = ack, .window = window,
             .payload = payload_of(data)};
}

inline Seg fin_seg(std::uint32_t seq, std::uint32_t ack, std::string_view data = {}) {
  return Seg{.flags = flag::kAck | flag::kFin, .seq = seq, .ack = ack,
             .payload = payload_of(data)};
}

// Sends any header (urgent pointer, other ports) from the peer's address, checksum filled in.
inline void send_header(TcpScript& s, TcpHeader h, std::string_view data = {}) {
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
inline std::optional<std::string> read_now(TcpScript& s, Connection& c) {
  std::vector<std::byte> buf(1 << 16);
  auto r = s.v.reactor.block_on(coro::with_timeout(c.read(buf), 0ms));
  s.settle();
  if (!r) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(buf.data()), *r);
}

// Everything readable now, concatenated; *eof tells whether the end of the stream was reached.
inline std::string read_all(TcpScript& s, Connection& c, bool* eof = nullptr) {
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

inline void write_now(TcpScript& s, Connection& c, std::span<const std::byte> data) {
  auto r = s.v.reactor.block_on(c.write(data));
  ASSERT_TRUE(r.has_value()) << r.error().message();
  s.settle();
}

inline coro::Task<void> write_then_shutdown(Connection* c, std::vector<std::byte> data) {
  (void)co_await c->write(data);
  (void)c->shutdown();
}

inline coro::Task<void> close_task(Connection* c, std::optional<Result<void>>* out) {
  *out = co_await c->close();
}

// Opens the listener (if needed) and sends the peer's SYN (ISN 1000); returns our SYN-ACK.
inline std::optional<TcpHeader> syn_to_listener(TcpScript& s, TcpOptions opts = {},
                                         std::uint16_t window = 65535, std::string_view data = {}) {
  if (!s.listener) s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kSyn, .seq = kIrs, .window = window, .payload = payload_of(data),
             .options = opts},
         kPort);
  return s.next_sent();
}

// accept() for a connection already in the accept queue (never lets time pass).
inline Connection accept_now(TcpScript& s) {
  auto c = s.v.reactor.block_on(coro::with_timeout(s.listener->accept(), 0ms));
  if (!c) {
    ADD_FAILURE() << "nothing to accept: " << c.error().message();
    return Connection();
  }
  return std::move(*c);
}

// A passive connection driven into `want`, every segment sent on the way consumed. The peer's
// ISN is 1000 (RCV.NXT 1001, 1002 once its FIN is in); ours is e.our_iss (our FIN at iss+1).
inline TcpScript::Established reach(TcpScript& s, State want) {
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

inline std::string text(std::size_t n) { return str(filler(n)); }

// An active open from our port 5000 to the peer. Declare it after the TcpScript it uses.
struct Active {
  Result<Connection> conn = Error(Errc::kCancelled);
  bool done = false;
  std::uint32_t iss = 0;
};

inline coro::Task<void> connect_task(stack::tcp::TcpLayer* tcp, Active* a) {
  a->conn = co_await stack::tcp::connect(*tcp, {TcpScript::kPeerAddr, TcpScript::kPeerPort},
                                         {.local_port = kLocal});
  a->done = true;
}

// connect() that the caller abandons after `limit` (with_timeout cancels it).
inline coro::Task<void> connect_with_timeout(stack::tcp::TcpLayer* tcp, coro::Duration limit,
                                      Result<Connection>* out, bool* done) {
  *out = co_await coro::with_timeout(
      stack::tcp::connect(*tcp, {TcpScript::kPeerAddr, TcpScript::kPeerPort},
                          {.local_port = kLocal}),
      limit);
  *done = true;
}

// Starts connect(); returns our SYN (connect() keeps waiting).
inline std::optional<TcpHeader> start_connect(TcpScript& s, Active& a) {
  s.v.reactor.spawn(connect_task(&s.tcp, &a));
  s.settle();
  auto syn = s.next_sent();
  if (syn) a.iss = syn->seq.raw();
  return syn;
}

// A complete active open: the peer answers our SYN with a SYN-ACK (ISN 9000) carrying `opts`
// and `window`; our ACK is consumed.
inline void open_active(TcpScript& s, Active& a, TcpOptions opts = {.mss = 1460},
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

}  // namespace coronet::testing::states
