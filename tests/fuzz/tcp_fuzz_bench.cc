#include "tests/fuzz/tcp_fuzz_bench.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "coro/timeout.h"
#include "stack/net/bytes.h"
#include "tests/fuzz/tcp_invariants.h"

namespace coronet::testing::fuzz {

using namespace std::chrono_literals;
using stack::load_be16;
using stack::tcp::Connection;
using stack::tcp::SeqNum;
namespace flag = stack::tcp::flag;

namespace {

coro::Task<void> sleep_task(coro::Duration d) { (void)co_await coro::sleep_for(d); }

coro::Task<void> connect_task(stack::tcp::TcpLayer* tcp, Result<Connection>* out, bool* done) {
  *out = co_await stack::tcp::connect(*tcp, {TcpScript::kPeerAddr, TcpScript::kPeerPort},
                                      {.local_port = Bench::kActivePort});
  *done = true;
}

coro::Task<void> write_task(Connection* c, std::vector<std::byte> data) {
  (void)co_await c->write(data);
}

std::uint32_t seg_len(const stack::tcp::TcpHeader& h, std::size_t payload) {
  return static_cast<std::uint32_t>(payload) + (h.has(flag::kSyn) ? 1 : 0) +
         (h.has(flag::kFin) ? 1 : 0);
}

}  // namespace

const char* scenario_name(Scenario s) {
  static constexpr const char* kNames[] = {
      "LISTEN",      "SYN-SENT",   "SYN-RECEIVED", "ESTABLISHED", "ESTABLISHED-BUSY",
      "FIN-WAIT-1",  "FIN-WAIT-2", "CLOSE-WAIT",   "CLOSING",     "LAST-ACK",
      "TIME-WAIT"};
  auto i = static_cast<std::size_t>(s);
  return i < std::size(kNames) ? kNames[i] : "?";
}

stack::tcp::TcpConfig fuzz_tcp_config() {
  stack::tcp::TcpConfig c;
  c.send_buffer = 16 * 1024;
  c.recv_buffer = 16 * 1024;
  c.send_chunk_size = 2048;
  c.send_chunks = 128;
  c.send_views = 256;
  c.max_time_wait = 64;
  c.deterministic_keys = 0x636f726f6e6574;
  return c;
}

void fail(const std::string& what) {
  std::fprintf(stderr, "FUZZ FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

Bench::Bench(Scenario scenario) : s(fuzz_tcp_config(), 512) { setup(scenario); }

Bench::~Bench() {
  conn = Connection();
  active = Error(Errc::kCancelled);
  s.v.reactor.shutdown();
}

void Bench::absorb_sent() {
  while (!s.dev.sent.empty()) {
    std::vector<std::byte> f = std::move(s.dev.sent.front());
    s.dev.sent.pop_front();
    if (f.size() < 34 || load_be16(f.data() + 12) != 0x0800) continue;
    const std::size_t ihl = (static_cast<std::size_t>(f[14]) & 0xf) * 4;
    const std::size_t total = load_be16(f.data() + 16);
    if (f[23] != std::byte{6}) continue;  // ICMP (e.g. port unreachable): not TCP
    if (ihl < 20 || total < ihl || 14 + total > f.size()) fail("coronet sent a malformed IPv4 frame");
    std::span<const std::byte> seg(f.data() + 14 + ihl, total - ihl);
    auto h = stack::tcp::parse_header(seg, nullptr);
    if (!h) fail("coronet sent a TCP header it cannot parse itself");
    const std::uint32_t src = stack::load_be32(f.data() + 14 + 12);
    const std::uint32_t dst = stack::load_be32(f.data() + 14 + 16);
    if (stack::tcp::tcp_checksum(src, dst, seg) != 0) {
      fail("coronet sent a segment with a bad checksum");
    }
    // Only what goes to the peer's port updates the model (a RST may answer anyone).
    if (dst != TcpScript::kPeerAddr.raw() || h->dst_port != TcpScript::kPeerPort) continue;
    if (h->has(flag::kRst)) continue;
    if (h->has(flag::kSyn)) our_iss = h->seq.raw();
    const SeqNum end = h->seq + seg_len(*h, seg.size() - h->header_len());
    if (our_max == 0 || SeqNum(our_max) < end) our_max = end.raw();
    if (h->options.ts_val) our_ts = *h->options.ts_val;
  }
}

void Bench::peer_send(std::uint8_t flags, std::uint32_t seq, std::uint32_t ack,
                      std::span<const std::byte> payload, std::uint16_t window,
                      const stack::tcp::TcpOptions* options) {
  Seg seg{.flags = flags, .seq = seq, .ack = ack, .window = window,
          .payload = std::vector<std::byte>(payload.begin(), payload.end())};
  if (options != nullptr) {
    seg.options = *options;
  } else if (ts_on) {
    seg.options = ts(++peer_ts, our_ts);
  }
  const SeqNum end = SeqNum(seq) + static_cast<std::uint32_t>(payload.size()) +
                     ((flags & flag::kSyn) ? 1 : 0) + ((flags & flag::kFin) ? 1 : 0);
  if (SeqNum(peer_sent_max) < end) peer_sent_max = end.raw();
  s.send(seg, our_port);
  absorb_sent();
}

std::vector<std::byte> Bench::peer_data(std::uint32_t offset, std::size_t n) const {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = peer_byte(offset + i);
  return v;
}

void Bench::inject_frame(std::span<const std::byte> frame) {
  if (frame.size() > 2048) frame = frame.first(2048);
  s.dev.inject(frame);
  s.settle();
  absorb_sent();
}

void Bench::run_for(coro::Duration d) {
  s.v.reactor.block_on(sleep_task(d));
  s.settle();
  absorb_sent();
}

void Bench::check(const char* after) {
  std::string v = tcp_invariant_violation(s.tcp);
  if (!v.empty()) fail(std::string(after) + ": " + v);
}

void Bench::finish() {
  conn = Connection();
  active = Error(Errc::kCancelled);
  s.listener.reset();
  run_for(std::chrono::minutes(30));
  check("after the end");
  std::string left;
  s.tcp.for_each_connection([&](const stack::tcp::Tcb& t) {
    left += std::string(" ") + state_name(t.state);
  });
  if (!left.empty()) fail("connections left 30 minutes after the app let go:" + left);
  if (s.tcp.recv_memory().used != 0) {
    fail("receive memory still charged: " + std::to_string(s.tcp.recv_memory().used) + " bytes");
  }
  const auto& chunks = s.tcp.send_chunks().stats();
  if (chunks.in_use != 0 || chunks.views_in_use != 0) {
    fail("send chunks still in use: " + std::to_string(chunks.in_use) + " chunks, " +
         std::to_string(chunks.views_in_use) + " views");
  }
  if (s.dev.pool(0).stats().in_use != 0) {
    fail("device packets not returned: " + std::to_string(s.dev.pool(0).stats().in_use));
  }
}

void Bench::read_now(bool verify) {
  if (!conn.valid()) return;
  std::byte buf[4096];
  for (int i = 0; i < 64; ++i) {
    auto r = s.v.reactor.block_on(coro::with_timeout(conn.read(buf), 0ms));
    s.settle();
    if (!r || *r == 0) break;
    for (std::size_t k = 0; k < *r; ++k) {
      if (verify && buf[k] != peer_byte(app_read + k)) {
        fail("the app read byte " + std::to_string(app_read + k) +
             " of the peer's stream wrong: data corrupted on the way");
      }
    }
    app_read += *r;
  }
  absorb_sent();
}

void Bench::setup(Scenario scenario) {
  if (scenario == Scenario::kSynSent) {
    our_port = kActivePort;
    s.v.reactor.spawn(connect_task(&s.tcp, &active, &active_done));
    s.settle();
    absorb_sent();
    return;
  }
  s.listener.emplace(*stack::tcp::listen(s.tcp, kListenPort));
  if (scenario == Scenario::kListen) return;
  const stack::tcp::TcpOptions syn_opts = ts_sack_options(peer_ts);
  peer_send(flag::kSyn, peer_isn, 0, {}, 65535, &syn_opts);
  ts_on = true;
  if (scenario == Scenario::kSynReceived) return;
  peer_send(flag::kAck, peer_nxt, our_iss + 1, {});
  auto c = s.v.reactor.block_on(coro::with_timeout(s.listener->accept(), 0ms));
  if (!c) fail("fuzz bench: the handshake did not complete");
  conn = std::move(*c);
  const std::uint32_t fin = our_iss + 1;  // our FIN's sequence number (no data sent)
  switch (scenario) {
    case Scenario::kEstablishedBusy: {
      std::vector<std::byte> data(6000);
      for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7);
      s.v.reactor.spawn(write_task(&conn, std::move(data)));
      s.settle();
      absorb_sent();
      // An island 100 bytes ahead, and an ACK of our first segment SACKing the third.
      peer_send(flag::kAck, peer_nxt + 100, our_iss + 1, peer_data(100, 200));
      stack::tcp::TcpOptions o = ts(++peer_ts, our_ts);
      o.sack_count = 1;
      o.sack[0] = {SeqNum(our_iss + 1 + 2 * 1460), SeqNum(our_iss + 1 + 3 * 1460)};
      peer_send(flag::kAck, peer_nxt, our_iss + 1 + 1460, {}, 65535, &o);
      break;
    }
    case Scenario::kFinWait1:
      (void)conn.shutdown();
      s.settle();
      absorb_sent();
      break;
    case Scenario::kFinWait2:
      (void)conn.shutdown();
      s.settle();
      absorb_sent();
      peer_send(flag::kAck, peer_nxt, fin + 1, {});
      break;
    case Scenario::kCloseWait:
      peer_send(flag::kAck | flag::kFin, peer_nxt, fin, {});
      ++peer_nxt;
      break;
    case Scenario::kClosing:
      (void)conn.shutdown();
      s.settle();
      absorb_sent();
      peer_send(flag::kAck | flag::kFin, peer_nxt, fin, {});  // crosses our FIN
      ++peer_nxt;
      break;
    case Scenario::kLastAck:
      peer_send(flag::kAck | flag::kFin, peer_nxt, fin, {});
      ++peer_nxt;
      (void)conn.shutdown();
      s.settle();
      absorb_sent();
      break;
    case Scenario::kTimeWait:
      (void)conn.shutdown();
      s.settle();
      absorb_sent();
      peer_send(flag::kAck, peer_nxt, fin + 1, {});
      peer_send(flag::kAck | flag::kFin, peer_nxt, fin + 1, {});
      ++peer_nxt;
      break;
    default:
      break;
  }
  check("setting up the scenario");
}

}  // namespace coronet::testing::fuzz
