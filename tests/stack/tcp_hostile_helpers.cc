// Definitions for tcp_hostile_helpers.h.
#include "tests/stack/tcp_hostile_helpers.h"

#include <algorithm>
#include <cstring>

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"

namespace coronet::testing::hostile {
namespace {

// Byte i of a test stream.
std::byte pattern(std::size_t i) { return static_cast<std::byte>((i * 7 + i / 251) & 0xff); }

}  // namespace

std::vector<std::byte> pattern_bytes(std::size_t n, std::size_t from) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = pattern(from + i);
  return v;
}

// --- raw frames -------------------------------------------------------------------------------

std::vector<std::byte> tcp_bytes(const Seg& s, std::span<const std::byte> raw_options) {
  stack::tcp::TcpHeader h;
  h.src_port = s.src_port != 0 ? s.src_port : TcpScript::kPeerPort;
  h.dst_port = kPort;
  h.seq = SeqNum(s.seq);
  h.ack = SeqNum(s.ack);
  h.flags = s.flags;
  h.window = s.window;
  if (raw_options.empty()) h.options = s.options;
  const std::uint32_t olen = raw_options.empty() ? stack::tcp::options_length(h.options)
                                                 : static_cast<std::uint32_t>(raw_options.size());
  std::vector<std::byte> t(stack::tcp::kMinHeader + olen + s.payload.size());
  stack::tcp::write_header(
      h, std::span(t).first(stack::tcp::kMinHeader + (raw_options.empty() ? olen : 0)));
  if (!raw_options.empty()) {
    t[12] = static_cast<std::byte>(((stack::tcp::kMinHeader + olen) / 4) << 4);
    std::memcpy(t.data() + stack::tcp::kMinHeader, raw_options.data(), olen);
  }
  if (!s.payload.empty()) {
    std::memcpy(t.data() + stack::tcp::kMinHeader + olen, s.payload.data(), s.payload.size());
  }
  stack::store_be16(t.data() + 16, 0);
  stack::store_be16(t.data() + 16, stack::tcp::tcp_checksum(TcpScript::kPeerAddr.raw(),
                                                            TcpScript::kOurAddr.raw(), t));
  return t;
}

void fix_tcp_checksum(std::vector<std::byte>& t) {
  stack::store_be16(t.data() + 16, 0);
  stack::store_be16(t.data() + 16, stack::tcp::tcp_checksum(TcpScript::kPeerAddr.raw(),
                                                            TcpScript::kOurAddr.raw(), t));
}

std::vector<std::byte> ip_frame(std::span<const std::byte> l4, std::uint8_t protocol) {
  std::vector<std::byte> f(kEth + 20 + l4.size());
  std::memcpy(f.data(), ScriptDevice::kOurMac.bytes().data(), 6);
  std::memcpy(f.data() + 6, ScriptDevice::kPeerMac.bytes().data(), 6);
  stack::store_be16(f.data() + 12, 0x0800);
  std::byte* ip = f.data() + kIp;
  ip[0] = std::byte{0x45};
  stack::store_be16(ip + 2, static_cast<std::uint16_t>(20 + l4.size()));
  ip[8] = std::byte{64};
  ip[9] = std::byte{protocol};
  stack::store_be32(ip + 12, TcpScript::kPeerAddr.raw());
  stack::store_be32(ip + 16, TcpScript::kOurAddr.raw());
  stack::store_be16(ip + 10, stack::internet_checksum({ip, 20}));
  std::memcpy(f.data() + kEth + 20, l4.data(), l4.size());
  return f;
}

void fix_ip_checksum(std::vector<std::byte>& f, std::size_t ihl_bytes) {
  std::byte* ip = f.data() + kIp;
  stack::store_be16(ip + 10, 0);
  stack::store_be16(ip + 10, stack::internet_checksum({ip, ihl_bytes}));
}

void inject(TcpScript& s, const std::vector<std::byte>& frame) {
  s.dev.inject(frame);
  s.settle();
}

std::vector<std::byte> icmp_error_frame(std::uint8_t type, std::uint8_t code, std::uint16_t mtu,
                                        std::uint32_t seq, std::uint16_t peer_port) {
  std::vector<std::byte> m(8 + 20 + 8);
  m[0] = std::byte{type};
  m[1] = std::byte{code};
  stack::store_be16(m.data() + 6, mtu);
  std::byte* q = m.data() + 8;
  q[0] = std::byte{0x45};
  stack::store_be16(q + 2, 1500);
  q[8] = std::byte{64};
  q[9] = std::byte{6};
  stack::store_be32(q + 12, TcpScript::kOurAddr.raw());
  stack::store_be32(q + 16, TcpScript::kPeerAddr.raw());
  stack::store_be16(q + 10, stack::internet_checksum({q, 20}));
  stack::store_be16(q + 20, kPort);
  stack::store_be16(q + 22, peer_port);
  stack::store_be32(q + 24, seq);
  stack::store_be16(m.data() + 2, stack::internet_checksum(m));
  return ip_frame(m, 1);
}

// --- the application side ---------------------------------------------------------------------

coro::Task<void> read_task(Connection& c, std::size_t n, std::shared_ptr<ReadState> st) {
  while (st->data.size() < n) {
    std::vector<std::byte> buf(n - st->data.size());
    auto r = co_await c.read(buf);
    if (!r) {
      st->error = r.error().code();
      co_return;
    }
    if (*r == 0) {
      st->eof = true;
      co_return;
    }
    st->data.insert(st->data.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
  }
}

coro::Task<void> write_task(Connection& c, std::vector<std::byte> data,
                            std::shared_ptr<WriteState> st) {
  auto r = co_await c.write(data);
  st->result = std::move(r);
}

// --- the victim -------------------------------------------------------------------------------

Victim::Victim(TcpConfig cfg, TcpOptions syn) : s(cfg) {
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kSyn, .seq = 1000, .options = syn}, kPort);
  auto synack = s.next_sent();
  if (!synack) {
    ADD_FAILURE() << "no SYN-ACK";
    return;
  }
  our_nxt = synack->seq.raw() + 1;
  ts_on = syn.ts_val.has_value() && synack->options.ts_val.has_value();
  our_ts = synack->options.ts_val.value_or(0);
  s.send(Seg{.flags = flag::kAck, .seq = peer_nxt, .ack = our_nxt, .options = opts()}, kPort);
  auto c = s.v.reactor.block_on(s.listener->accept());
  if (!c) {
    ADD_FAILURE() << c.error().message();
    return;
  }
  conn = std::move(*c);
}

TcpOptions Victim::opts() {
  TcpOptions o;
  if (ts_on) {
    o.ts_val = ++peer_ts;
    o.ts_ecr = our_ts;
  }
  return o;
}

void Victim::ack(std::uint16_t wnd) {
  s.send(
      Seg{.flags = flag::kAck, .seq = peer_nxt, .ack = our_nxt, .window = wnd, .options = opts()},
      kPort);
}

bool Victim::write_now(std::span<const std::byte> data) {
  if (!conn.set_no_delay(true).has_value()) return false;
  if (!s.v.reactor.block_on(conn.write(data)).has_value()) return false;
  s.settle();
  return true;
}

std::shared_ptr<ReadState> Victim::read(std::size_t n) {
  auto st = std::make_shared<ReadState>();
  s.v.reactor.spawn(read_task(conn, n, st));
  s.settle();
  return st;
}

std::vector<std::byte> Victim::receive(std::size_t n, std::uint16_t wnd, std::size_t* max_seg,
                                       std::size_t* min_seg) {
  std::vector<std::byte> got;
  for (int round = 0; round < 20000 && got.size() < n; ++round) {
    bool any = false;
    std::vector<std::byte> p;
    while (auto h = s.next_sent(&p)) {
      if (p.empty()) continue;
      any = true;
      if (max_seg != nullptr) *max_seg = std::max(*max_seg, p.size());
      if (min_seg != nullptr) *min_seg = std::min(*min_seg, p.size());
      const std::uint32_t at = our_nxt + static_cast<std::uint32_t>(got.size());
      const auto off = static_cast<std::int32_t>(h->seq.raw() - at);
      if (off > 0) continue;  // beyond what we hold: the cumulative ACK brings it again
      const auto skip = static_cast<std::size_t>(-off);
      if (skip < p.size())
        got.insert(got.end(), p.begin() + static_cast<std::ptrdiff_t>(skip), p.end());
    }
    if (any) {
      s.send(Seg{.flags = flag::kAck,
                 .seq = peer_nxt,
                 .ack = our_nxt + static_cast<std::uint32_t>(got.size()),
                 .window = wnd,
                 .options = opts()},
             kPort);
    } else {
      s.advance(250ms);
    }
  }
  EXPECT_EQ(got.size(), n) << "coronet stopped sending";
  our_nxt += static_cast<std::uint32_t>(got.size());
  return got;
}

void Victim::check_alive(const std::string& tag) {
  SCOPED_TRACE("victim after " + tag);
  ASSERT_EQ(conn.state(), State::kEstablished);
  drain();
  const std::vector<std::byte> in = bytes_of("peer->app after " + tag);
  s.send(Seg{.flags = flag::kAck | flag::kPsh,
             .seq = peer_nxt,
             .ack = our_nxt,
             .payload = in,
             .options = opts()},
         kPort);
  peer_nxt += static_cast<std::uint32_t>(in.size());
  auto r = read(in.size());
  EXPECT_FALSE(r->error.has_value());
  EXPECT_EQ(r->data, in);
  const std::vector<std::byte> out = bytes_of("app->peer after " + tag);
  auto w = s.v.reactor.block_on(conn.write(out));
  ASSERT_TRUE(w.has_value());
  s.settle();
  std::vector<std::byte> p;
  std::optional<stack::tcp::TcpHeader> h;
  while ((h = s.next_sent(&p)) && p.empty()) {
  }
  ASSERT_TRUE(h.has_value()) << "the write was not sent";
  EXPECT_EQ(h->seq.raw(), our_nxt);
  EXPECT_EQ(h->ack.raw(), peer_nxt);
  EXPECT_EQ(p, out);
  our_nxt += static_cast<std::uint32_t>(out.size());
  ack();
  drain();
  EXPECT_EQ(conn.state(), State::kEstablished);
}

// --- evil data --------------------------------------------------------------------------------

const std::vector<std::byte>& evil() {
  static const std::vector<std::byte> e = bytes_of("EVIL");
  return e;
}

std::vector<std::byte> evil_segment(const Victim& v) {
  return tcp_bytes(Seg{
      .flags = flag::kAck | flag::kPsh, .seq = v.peer_nxt, .ack = v.our_nxt, .payload = evil()});
}

}  // namespace coronet::testing::hostile
