// Hostile input against one coronet endpoint (the scripted bench of tcp_script.h): malformed
// Ethernet/IPv4/TCP headers, bogus TCP options, RFC 5961 blind in-window attacks, ACKs for data
// never sent, out-of-order floods aimed at memory, tiny-window (slow reader) peers and forged ICMP
// errors. Every test checks three things: the input is dropped or handled as the cited RFC says,
// a counter records it, and a victim connection established before the attack still carries
// data both ways, byte-exact and in order, afterwards.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"
#include "tests/stack/tcp_script.h"

namespace coronet::testing {
namespace {

using namespace std::chrono_literals;
using stack::tcp::Connection;
using stack::tcp::SackBlock;
using stack::tcp::SeqNum;
using stack::tcp::State;
using stack::tcp::TcpConfig;
using stack::tcp::TcpOptions;
namespace flag = stack::tcp::flag;

constexpr std::uint16_t kPort = 80;
constexpr std::size_t kEth = 14;  // Ethernet header
constexpr std::size_t kIp = 14;   // offset of the IPv4 header in a frame

// Byte i of a test stream: a pattern that shows any shift, loss or duplication.
std::byte pattern(std::size_t i) { return static_cast<std::byte>((i * 7 + i / 251) & 0xff); }
std::vector<std::byte> pattern_bytes(std::size_t n, std::size_t from = 0) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = pattern(from + i);
  return v;
}

// --- raw frames -------------------------------------------------------------------------------

// A TCP segment from the peer to kPort: header (+ `raw_options`, a multiple of 4 bytes, written
// as given, or else s.options) + payload, with a correct checksum.
std::vector<std::byte> tcp_bytes(const Seg& s, std::span<const std::byte> raw_options = {}) {
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

// Ethernet + IPv4 (20 bytes, correct checksum) around `l4`.
std::vector<std::byte> ip_frame(std::span<const std::byte> l4, std::uint8_t protocol = 6) {
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

// Recomputes the IPv4 header checksum over `ihl_bytes` (after the test changed the header).
void fix_ip_checksum(std::vector<std::byte>& f, std::size_t ihl_bytes = 20) {
  std::byte* ip = f.data() + kIp;
  stack::store_be16(ip + 10, 0);
  stack::store_be16(ip + 10, stack::internet_checksum({ip, ihl_bytes}));
}

void inject(TcpScript& s, const std::vector<std::byte>& frame) {
  s.dev.inject(frame);
  s.settle();
}

// An ICMP error from a router near the peer quoting the IPv4 header and first 8 bytes of a TCP
// segment we sent from kPort to `peer_port` with sequence number `seq` (RFC 792, RFC 1191 §4).
std::vector<std::byte> icmp_error_frame(std::uint8_t type, std::uint8_t code, std::uint16_t mtu,
                                        std::uint32_t seq,
                                        std::uint16_t peer_port = TcpScript::kPeerPort) {
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

struct ReadState {
  std::vector<std::byte> data;
  std::optional<Errc> error;
  bool eof = false;
};

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

struct WriteState {
  std::optional<Result<std::size_t>> result;
};

coro::Task<void> write_task(Connection& c, std::vector<std::byte> data,
                            std::shared_ptr<WriteState> st) {
  auto r = co_await c.write(data);
  st->result = std::move(r);
}

// --- the victim -------------------------------------------------------------------------------

// A connection accepted on kPort from the peer (ISN 1000), established before the attack. The
// peer side is scripted here: its next sequence number, ours, and its timestamps when the SYN
// offered them.
class Victim {
 public:
  explicit Victim(TcpConfig cfg = {}, TcpOptions syn = TcpOptions{.mss = 1460}) : s(cfg) {
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
  // Coroutines still waiting on the connection go before it does.
  ~Victim() { s.v.reactor.shutdown(); }

  // Options on every peer segment: a fresh timestamp when they were negotiated.
  TcpOptions opts() {
    TcpOptions o;
    if (ts_on) {
      o.ts_val = ++peer_ts;
      o.ts_ecr = our_ts;
    }
    return o;
  }
  // A pure ACK of everything we sent, offering `wnd`.
  void ack(std::uint16_t wnd = 65535) {
    s.send(
        Seg{.flags = flag::kAck, .seq = peer_nxt, .ack = our_nxt, .window = wnd, .options = opts()},
        kPort);
  }
  // The app writes `data` with Nagle off and it leaves at once; returns whether the write went
  // in. The segments stay in the device's sent list (drain() them to "lose" them).
  bool write_now(std::span<const std::byte> data) {
    if (!conn.set_no_delay(true).has_value()) return false;
    if (!s.v.reactor.block_on(conn.write(data)).has_value()) return false;
    s.settle();
    return true;
  }

  void drain() {
    while (s.next_sent()) {
    }
  }
  // Reads what the application has been given within the current instant (at most n bytes).
  std::shared_ptr<ReadState> read(std::size_t n) {
    auto st = std::make_shared<ReadState>();
    s.v.reactor.spawn(read_task(conn, n, st));
    s.settle();
    return st;
  }
  // The peer acknowledges everything coronet sends (offering `wnd`), and advances time when it
  // sends nothing, until `n` new bytes from our_nxt have arrived; returns them in order. Copies
  // (retransmissions, probes) count once. *max_seg / *min_seg: the largest and smallest data
  // payload seen.
  std::vector<std::byte> receive(std::size_t n, std::uint16_t wnd = 65535,
                                 std::size_t* max_seg = nullptr, std::size_t* min_seg = nullptr) {
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

  // The survival check: a payload from the peer reaches the application exactly, a write by the
  // application leaves exactly once in one segment at SND.NXT, and the connection stays
  // ESTABLISHED.
  void check_alive(const std::string& tag) {
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

  TcpScript s;
  Connection conn;
  std::uint32_t peer_nxt = 1001;
  std::uint32_t our_nxt = 0;
  bool ts_on = false;
  std::uint32_t peer_ts = 100;
  std::uint32_t our_ts = 0;
};

// =============================================================================================
// Malformed Ethernet / IPv4 / TCP headers. RFC 1122 §3.2.1 (and RFC 791 §3.1): a datagram whose
// header fails a check is silently discarded; RFC 9293 §3.1/§3.10.7 (MUST-2, MUST-3): so is a
// TCP segment with a bad checksum or a header that does not parse. "EVIL" data in these frames
// sits at RCV.NXT: had it been taken, the victim's next read would start with it.
// =============================================================================================

const std::vector<std::byte>& evil() {
  static const std::vector<std::byte> e = bytes_of("EVIL");
  return e;
}

std::vector<std::byte> evil_segment(const Victim& v) {
  return tcp_bytes(Seg{
      .flags = flag::kAck | flag::kPsh, .seq = v.peer_nxt, .ack = v.our_nxt, .payload = evil()});
}

TEST(TcpHostile, BadIpv4HeaderChecksumIsDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  f[kIp + 10] ^= std::byte{0x5a};
  const auto before = v.s.tcp.stats().rx_segments;
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_checksum, 1u);
  EXPECT_EQ(v.s.tcp.stats().rx_segments, before);  // never reached TCP
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("bad IPv4 checksum");
}

// RFC 1122 §4.2.3.10: TCP is unicast only; a segment to a broadcast or multicast address is
// silently discarded: no SYN-ACK and no RST to a whole subnet. (Found by tests/fuzz/frame_fuzz:
// a segment to the subnet's broadcast address was answered with a RST.)
TEST(TcpHostile, SegmentsToABroadcastOrMulticastAddressAreDropped) {
  Victim v;
  for (const stack::Ipv4Address dst :
       {stack::Ipv4Address(198, 18, 0, 255), stack::Ipv4Address(255, 255, 255, 255),
        stack::Ipv4Address(224, 0, 0, 1)}) {
    // The victim's own 4-tuple (data at RCV.NXT), a SYN to the listening port, and a segment to
    // a closed port (which would otherwise get a RST).
    using Probe = std::pair<std::uint8_t, std::uint16_t>;  // flags, destination port
    for (const auto& [flags, port] : {Probe{flag::kAck | flag::kPsh, kPort}, Probe{flag::kSyn, kPort},
                                      Probe{flag::kAck, 81}}) {
      auto t = tcp_bytes(Seg{.flags = flags,
                             .seq = v.peer_nxt,
                             .ack = v.our_nxt,
                             .payload = flags == flag::kSyn ? std::vector<std::byte>{} : evil()});
      stack::store_be16(t.data() + 2, port);
      stack::store_be16(t.data() + 16, 0);
      stack::store_be16(t.data() + 16,
                        stack::tcp::tcp_checksum(TcpScript::kPeerAddr.raw(), dst.raw(), t));
      auto f = ip_frame(t);
      stack::store_be32(f.data() + kIp + 16, dst.raw());
      fix_ip_checksum(f);
      inject(v.s, f);
      EXPECT_EQ(v.s.pending_sent(), 0u) << dst.to_string() << " flags " << int{flags};
    }
  }
  // Multicast stops at IPv4 (no group joined, RFC 1112 level 0); the broadcasts reach TCP.
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_not_for_us, 3u);
  EXPECT_EQ(v.s.tcp.stats().rx_not_unicast, 6u);
  EXPECT_EQ(v.s.tcp.stats().tx_rst, 0u);
  v.check_alive("segments to broadcast addresses");
}

TEST(TcpHostile, BadTcpChecksumIsDropped) {
  Victim v;
  v.s.send(Seg{.flags = flag::kAck | flag::kPsh,
               .seq = v.peer_nxt,
               .ack = v.our_nxt,
               .payload = evil(),
               .corrupt_checksum = true},
           kPort);
  EXPECT_EQ(v.s.tcp.stats().rx_bad_checksum, 1u);
  EXPECT_EQ(v.s.pending_sent(), 0u);  // no ACK for a segment we cannot trust
  // A RST with a bad checksum at exactly RCV.NXT must not reset either.
  v.s.send(Seg{.flags = flag::kRst, .seq = v.peer_nxt, .corrupt_checksum = true}, kPort);
  EXPECT_EQ(v.s.tcp.stats().rx_bad_checksum, 2u);
  v.check_alive("bad TCP checksum");
}

TEST(TcpHostile, Ipv4TotalLengthBeyondTheFrameIsDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  stack::store_be16(f.data() + kIp + 2, static_cast<std::uint16_t>(f.size() - kEth + 100));
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_length, 1u);
  stack::store_be16(f.data() + kIp + 2, 0xffff);
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_length, 2u);
  v.check_alive("IPv4 total length > frame");
}

TEST(TcpHostile, Ipv4TotalLengthBelowTheHeaderIsDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  for (std::uint16_t len : {0, 1, 19}) {
    stack::store_be16(f.data() + kIp + 2, len);
    fix_ip_checksum(f);
    inject(v.s, f);
  }
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_length, 3u);
  v.check_alive("IPv4 total length < header");
}

// The total length governs, not the frame: bytes past it are padding (RFC 1122 §3.2.1 / the
// Ethernet minimum). A total length that cuts into the TCP header leaves a segment too short to
// parse; one that cuts the payload leaves a checksum that no longer matches.
TEST(TcpHostile, Ipv4TotalLengthCuttingTheSegmentIsCaughtByTcp) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  stack::store_be16(f.data() + kIp + 2, 20 + 12);  // 12 of the 20 TCP header bytes
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.tcp.stats().rx_malformed, 1u);
  stack::store_be16(f.data() + kIp + 2, 20 + 20 + 2);  // "EV" of "EVIL"
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.tcp.stats().rx_bad_checksum, 1u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("IPv4 total length cutting the segment");
}

TEST(TcpHostile, Ipv4HeaderLengthBelowFiveOrBeyondTheFrameIsDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  for (std::uint8_t ihl = 0; ihl < 5; ++ihl) {
    f[kIp] = static_cast<std::byte>(0x40 | ihl);
    fix_ip_checksum(f);
    inject(v.s, f);
  }
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_header_len, 5u);
  // IHL 15 (60 bytes) in a datagram of 20 + 24 bytes: the header would run past the data.
  f[kIp] = std::byte{0x4f};
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_truncated, 1u);
  // Version 6 in an IPv4 ethertype.
  f[kIp] = std::byte{0x65};
  fix_ip_checksum(f);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_bad_version, 1u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("bad IHL");
}

// RFC 1122 §3.2.1.8: IP options a host does not implement are skipped by the IHL; 40 bytes of
// nonsense options do not hide or corrupt the TCP segment behind them (a positive control for
// the IHL handling: the data arrives, counted as a datagram with options).
TEST(TcpHostile, Ipv4HeaderWithGarbageOptionsIsParsedByItsLength) {
  Victim v;
  const std::vector<std::byte> data = bytes_of("behind 40 bytes of IP options");
  auto seg = tcp_bytes(
      Seg{.flags = flag::kAck | flag::kPsh, .seq = v.peer_nxt, .ack = v.our_nxt, .payload = data});
  auto plain = ip_frame(seg);
  std::vector<std::byte> f(plain.size() + 40);
  std::memcpy(f.data(), plain.data(), kEth + 20);
  for (std::size_t i = 0; i < 40; ++i) f[kEth + 20 + i] = static_cast<std::byte>(0x80 + i);
  std::memcpy(f.data() + kEth + 60, seg.data(), seg.size());
  f[kIp] = std::byte{0x4f};
  stack::store_be16(f.data() + kIp + 2, static_cast<std::uint16_t>(60 + seg.size()));
  fix_ip_checksum(f, 60);
  inject(v.s, f);
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_with_options, 1u);
  v.peer_nxt += static_cast<std::uint32_t>(data.size());
  auto r = v.read(data.size());
  EXPECT_EQ(r->data, data);
  v.check_alive("IP options");
}

TEST(TcpHostile, TruncatedFramesAreDropped) {
  Victim v;
  auto f = ip_frame(evil_segment(v));
  // An Ethernet runt: shorter than the 14-byte header.
  inject(v.s, std::vector<std::byte>(f.begin(), f.begin() + 10));
  EXPECT_EQ(v.s.engine.stats().rx_bad_ether, 1u);
  // The Ethernet header alone, and an IPv4 header cut at 12 bytes.
  inject(v.s, std::vector<std::byte>(f.begin(), f.begin() + kEth));
  inject(v.s, std::vector<std::byte>(f.begin(), f.begin() + kEth + 12));
  EXPECT_EQ(v.s.engine.ipv4().stats().rx_truncated, 2u);
  // A datagram that ends inside the TCP header (total length consistent with the frame).
  const auto whole = evil_segment(v);
  auto g = ip_frame(std::span(whole).first(10));
  inject(v.s, g);
  EXPECT_EQ(v.s.tcp.stats().rx_malformed, 1u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("truncated frames");
}

// RFC 9293 §3.1: the data offset counts 32-bit words and is at least 5; one that points past the
// segment leaves nothing to parse. Both are dropped before any state is touched.
TEST(TcpHostile, TcpDataOffsetBelowFiveOrBeyondTheSegmentIsDropped) {
  Victim v;
  for (std::uint8_t off : {0, 1, 4, 6, 10, 15}) {
    auto seg = tcp_bytes(Seg{.flags = flag::kAck, .seq = v.peer_nxt, .ack = v.our_nxt});
    seg[12] = static_cast<std::byte>(off << 4);  // a 20-byte segment
    fix_tcp_checksum(seg);
    inject(v.s, ip_frame(seg));
  }
  // Offset 15 (60 bytes) over a 20-byte header with 4 bytes of data.
  auto seg = evil_segment(v);
  seg[12] = std::byte{0xf0};
  fix_tcp_checksum(seg);
  inject(v.s, ip_frame(seg));
  EXPECT_EQ(v.s.tcp.stats().rx_malformed, 7u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  v.check_alive("bad data offset");
}

// =============================================================================================
// Bogus TCP options. RFC 9293 §3.1 (MUST-7) / RFC 1122 §4.2.2.5: "TCP MUST be prepared to handle
// an illegal option length (e.g., zero)". Parsing stops at the broken option (no loop, no read
// past the header), the segment itself is processed, and it is counted in rx_bad_options.
// =============================================================================================

struct OptionCase {
  const char* name;
  std::vector<std::uint8_t> options;  // a multiple of 4 bytes
  bool malformed;
};

TEST(TcpHostile, BrokenOptionListsEndParsingAndAreCounted) {
  const std::vector<OptionCase> cases = {
      {"zero-length unknown option", {0x42, 0, 1, 1}, true},
      {"zero-length MSS", {2, 0, 1, 1}, true},
      {"length 1", {0x42, 1, 0x42, 1}, true},
      {"length past the header", {8, 40, 1, 1}, true},
      {"length 255", {0x42, 255, 0, 0, 0, 0, 0, 0}, true},
      {"kind without a length byte", {1, 1, 1, 5}, true},
      {"MSS of length 3", {2, 3, 5, 0}, true},
      {"timestamp of length 6", {8, 6, 0, 0, 0, 1, 0, 0}, true},
      {"SACK of length 6", {5, 6, 0, 0, 0, 1, 0, 0}, true},
      // 40 bytes: NOP, NOP and an unknown option of 38 bytes, skipped by its length.
      {"40 bytes of unknown option",
       [] {
         std::vector<std::uint8_t> o(40, 0x77);
         o[0] = 1;
         o[1] = 1;
         o[2] = 0xfe;
         o[3] = 38;
         return o;
       }(),
       false},
      // 40 bytes of NOPs: legal, just long.
      {"40 NOPs", std::vector<std::uint8_t>(40, 1), false},
  };
  Victim v;
  std::uint64_t bad = 0;
  for (const OptionCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::byte> raw(c.options.size());
    std::transform(c.options.begin(), c.options.end(), raw.begin(),
                   [](std::uint8_t b) { return static_cast<std::byte>(b); });
    const std::vector<std::byte> data = bytes_of(std::string("data with ") + c.name);
    inject(v.s, ip_frame(tcp_bytes(Seg{.flags = flag::kAck | flag::kPsh,
                                       .seq = v.peer_nxt,
                                       .ack = v.our_nxt,
                                       .payload = data},
                                   raw)));
    if (c.malformed) ++bad;
    EXPECT_EQ(v.s.tcp.stats().rx_bad_options, bad);
    v.peer_nxt += static_cast<std::uint32_t>(data.size());
    auto r = v.read(data.size());
    EXPECT_EQ(r->data, data);  // the segment itself is good: its data arrives exactly
  }
  v.check_alive("broken option lists");
}

// RFC 7323 §2.3: a shift above 14 "SHOULD log the error but MUST use 14 instead". A peer window
// field of 1 then means 16384 bytes: what coronet puts in flight shows the shift used (200 taken
// literally would be undefined; 200 mod 32 = 8 would give 256 bytes; no scaling, 1 byte).
TEST(TcpHostile, WindowScale200IsClampedTo14AndTheConnectionWorks) {
  Victim v(TcpConfig{}, TcpOptions{.mss = 1460, .window_scale = 200});
  EXPECT_EQ(v.s.tcp.stats().rx_bad_options, 1u);
  ASSERT_TRUE(v.conn.set_no_delay(true).has_value());
  v.ack(1);  // 1 << 14 = 16384 bytes
  const auto data = pattern_bytes(40000);
  auto w = std::make_shared<WriteState>();
  v.s.v.reactor.spawn(write_task(v.conn, data, w));
  v.s.settle();
  // The first flight is cwnd-bound (10 segments); after its ACK, window-bound.
  std::vector<std::byte> first = v.receive(14600, 1);
  std::uint32_t in_flight = 0;
  std::vector<std::byte> p;
  while (auto h = v.s.next_sent(&p)) {
    EXPECT_EQ(h->seq.raw(), v.our_nxt + in_flight);
    in_flight += static_cast<std::uint32_t>(p.size());
    first.insert(first.end(), p.begin(), p.end());
  }
  EXPECT_LE(in_flight, 16384u);
  EXPECT_GT(in_flight, 16384u - 1460u);
  v.our_nxt += in_flight;
  // The rest, still through a 16 KiB window: 40000 bytes exactly.
  v.ack(1);
  std::vector<std::byte> rest = v.receive(40000 - first.size(), 1);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(first, data);
  ASSERT_TRUE(w->result.has_value());
  v.ack();
  v.check_alive("window scale 200");
}

// An MSS option of 0 or a few bytes: no division by zero, no empty segments, no 1-byte
// segments; coronet floors the MSS at 64 (counted) and the stream arrives exactly.
TEST(TcpHostile, TinyMssOnTheSynIsFlooredAndDataStillFlows) {
  for (std::uint16_t mss : {0, 1, 40}) {
    SCOPED_TRACE("MSS " + std::to_string(mss));
    Victim v(TcpConfig{}, TcpOptions{.mss = mss});
    EXPECT_EQ(v.s.tcp.stats().rx_bad_options, 1u);
    const auto data = pattern_bytes(1000);
    ASSERT_TRUE(v.write_now(data));
    std::size_t max_seg = 0;
    std::size_t min_seg = ~std::size_t{0};
    EXPECT_EQ(v.receive(data.size(), 65535, &max_seg, &min_seg), data);
    EXPECT_EQ(max_seg, 64u);
    EXPECT_GE(min_seg, 1000u % 64u);  // only the last segment is short
    v.check_alive("tiny MSS");
  }
}

// RFC 2018 §3 SACK blocks name data the receiver holds. Blocks that are empty, inverted, or that
// reach beyond SND.MAX (data never sent) cannot come from an honest peer: they are ignored whole
// (counted), so they neither mark data as delivered nor trigger a retransmission. Overlapping
// valid blocks merge, and a hole they prove lost is resent exactly once.
TEST(TcpHostile, BogusSackBlocksAreIgnoredAndValidOnesStillWork) {
  Victim v(TcpConfig{}, ts_sack_options(100));
  ASSERT_TRUE(v.ts_on);
  ASSERT_TRUE(v.conn.set_no_delay(true).has_value());
  const std::uint32_t mss = 1448;
  const auto data = pattern_bytes(5 * mss);
  ASSERT_TRUE(v.s.v.reactor.block_on(v.conn.write(data)).has_value());
  v.s.settle();
  v.drain();
  const std::uint32_t first = v.our_nxt;
  const std::uint32_t max = first + 5 * mss;
  auto sack_ack = [&](std::vector<SackBlock> blocks) {
    TcpOptions o = v.opts();
    o.sack_count = static_cast<std::uint8_t>(blocks.size());
    std::copy(blocks.begin(), blocks.end(), o.sack.begin());
    v.s.send(Seg{.flags = flag::kAck, .seq = v.peer_nxt, .ack = first, .options = o}, kPort);
  };
  // (With the timestamp option, at most three blocks fit the 40 option bytes.)
  sack_ack({{SeqNum(max + 1000), SeqNum(max + 5000)},        // unsent data
            {SeqNum(first + 2 * mss), SeqNum(first + mss)},  // inverted
            {SeqNum(first + mss), SeqNum(max + 1)}});        // runs past SND.MAX
  EXPECT_EQ(v.s.tcp.stats().sack_blocks_invalid, 3u);
  sack_ack({{SeqNum(first + mss), SeqNum(first + mss)},              // empty
            {SeqNum(max + 0x40000000u), SeqNum(max + 0x40001000u)},  // a quarter-space away
            {SeqNum(first + mss), SeqNum(first + 0x80000000u)}});    // half the space
  EXPECT_EQ(v.s.tcp.stats().sack_blocks_invalid, 6u);
  EXPECT_EQ(v.s.pending_sent(), 0u);  // nothing resent on the strength of lies
  EXPECT_EQ(v.s.tcp.stats().fast_retransmits, 0u);
  EXPECT_EQ(v.s.tcp.stats().rack_losses, 0u);
  // Overlapping valid blocks: the peer holds segments 2-4 (three blocks that overlap).
  // (A first block inside the second would be a D-SACK, RFC 2883 §4: not first here.)
  sack_ack({{SeqNum(first + mss), SeqNum(first + 3 * mss)},
            {SeqNum(first + 2 * mss), SeqNum(first + 4 * mss)},
            {SeqNum(first + mss + 100), SeqNum(first + 2 * mss)}});
  EXPECT_EQ(v.s.tcp.stats().sack_blocks_invalid, 6u);
  std::vector<std::byte> p;
  auto rx = v.s.next_sent(&p);
  ASSERT_TRUE(rx.has_value());
  EXPECT_EQ(rx->seq.raw(), first);  // the hole, and only the hole
  EXPECT_EQ(p, std::vector<std::byte>(data.begin(), data.begin() + mss));
  EXPECT_EQ(v.s.pending_sent(), 0u);  // nothing SACKed goes again
  EXPECT_EQ(v.s.tcp.stats().tx_retransmits, 1u);
  // The cumulative ACK for everything ends it.
  v.our_nxt = max;
  v.ack();
  v.check_alive("bogus SACK blocks");
}

// =============================================================================================
// RFC 5961 blind in-window attacks (adopted by RFC 9293 §3.10.7.4).
// =============================================================================================

// §3.2: a RST in the window but not at RCV.NXT earns a challenge ACK; the connection lives.
TEST(TcpHostile, InWindowRstGetsAChallengeAck) {
  Victim v;
  for (std::uint32_t d : {1u, 100u, 60000u}) {
    v.s.send(Seg{.flags = flag::kRst, .seq = v.peer_nxt + d}, kPort);
    auto a = v.s.next_sent();
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->flags, flag::kAck);
    EXPECT_EQ(a->seq.raw(), v.our_nxt);
    EXPECT_EQ(a->ack.raw(), v.peer_nxt);
  }
  v.s.send(Seg{.flags = flag::kRst | flag::kAck, .seq = v.peer_nxt + 7, .ack = v.our_nxt}, kPort);
  EXPECT_EQ(v.s.tcp.stats().challenge_acks, 4u);
  EXPECT_EQ(v.s.tcp.stats().connections_reset, 0u);
  v.check_alive("in-window RST");
}

// RFC 9293 §3.10.7.4 first check: a RST outside the window is dropped without an answer.
TEST(TcpHostile, OutOfWindowRstIsIgnored) {
  Victim v;
  for (std::uint32_t seq : {v.peer_nxt - 1, v.peer_nxt + 70000, v.peer_nxt + 0x80000000u}) {
    v.s.send(Seg{.flags = flag::kRst, .seq = seq}, kPort);
  }
  EXPECT_EQ(v.s.tcp.stats().rx_out_of_window, 3u);
  EXPECT_EQ(v.s.pending_sent(), 0u);  // RFC 9293: a RST is never answered
  EXPECT_EQ(v.s.tcp.stats().challenge_acks, 0u);
  v.check_alive("out-of-window RST");
}

// §3.2 positive control: a RST at exactly RCV.NXT resets the connection.
TEST(TcpHostile, RstAtExactlyRcvNxtResets) {
  Victim v;
  v.check_alive("nothing");
  v.s.send(Seg{.flags = flag::kRst, .seq = v.peer_nxt}, kPort);
  EXPECT_EQ(v.conn.state(), State::kClosed);
  EXPECT_EQ(v.s.tcp.stats().connections_reset, 1u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  auto r = v.read(1);
  ASSERT_TRUE(r->error.has_value());
  EXPECT_EQ(*r->error, Errc::kConnectionReset);
}

// §4.2: a SYN in a synchronized state, whatever its sequence number, is answered with a
// (challenge) ACK and otherwise ignored.
TEST(TcpHostile, SynInEstablishedGetsAChallengeAck) {
  Victim v;
  v.s.send(Seg{.flags = flag::kSyn, .seq = v.peer_nxt + 10}, kPort);  // in the window
  auto a = v.s.next_sent();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->ack.raw(), v.peer_nxt);
  EXPECT_EQ(v.s.tcp.stats().challenge_acks, 1u);
  v.s.send(Seg{.flags = flag::kSyn, .seq = v.peer_nxt}, kPort);  // at RCV.NXT
  EXPECT_EQ(v.s.tcp.stats().challenge_acks, 2u);
  v.s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = v.peer_nxt, .ack = v.our_nxt}, kPort);
  EXPECT_EQ(v.s.tcp.stats().challenge_acks, 3u);
  v.s.send(Seg{.flags = flag::kSyn, .seq = 5}, kPort);  // outside: the plain unacceptable ACK
  EXPECT_EQ(v.s.tcp.stats().rx_out_of_window, 1u);
  std::size_t acks = 0;
  while (auto h = v.s.next_sent()) {
    EXPECT_EQ(h->flags, flag::kAck);  // never a SYN-ACK or a RST
    ++acks;
  }
  EXPECT_EQ(acks, 3u);
  v.check_alive("SYN in ESTABLISHED");
}

// §5.2: data whose ACK is below SND.UNA - MAX.SND.WND is dropped with a (challenge) ACK, its data
// never delivered.
TEST(TcpHostile, BlindDataInjectionWithAnOldAckIsDropped) {
  Victim v;
  for (std::uint32_t back : {65536u, 70000u, 0x7fff0000u}) {
    v.s.send(Seg{.flags = flag::kAck | flag::kPsh,
                 .seq = v.peer_nxt,
                 .ack = v.our_nxt - back,
                 .payload = evil()},
             kPort);
    auto a = v.s.next_sent();
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->ack.raw(), v.peer_nxt);  // nothing taken
  }
  EXPECT_EQ(v.s.tcp.stats().challenge_acks, 3u);
  const auto& st = v.s.tcp.stats();
  EXPECT_EQ(st.rx_direct_bytes + st.rx_held_bytes + st.rx_ring_bytes, 0u);
  v.check_alive("blind data injection");  // its read would start with "EVIL" otherwise
}

// RFC 9293 §3.10.7.4 (ESTABLISHED, fifth): "If the ACK acks something not yet sent (SEG.ACK >
// SND.NXT), then send an ACK, drop the segment, and return." SND.UNA stays: the data is resent.
TEST(TcpHostile, AckForUnsentDataIsAnsweredAndDropped) {
  Victim v;
  const auto data = bytes_of("abc");
  ASSERT_TRUE(v.write_now(data));
  v.drain();
  for (std::uint32_t ahead : {4u, 1000u, 0x40000000u}) {
    v.s.send(Seg{.flags = flag::kAck | flag::kPsh,
                 .seq = v.peer_nxt,
                 .ack = v.our_nxt + ahead,
                 .payload = evil()},
             kPort);
    auto a = v.s.next_sent();
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->flags, flag::kAck);
    EXPECT_EQ(a->seq.raw(), v.our_nxt + 3);  // SND.NXT
    EXPECT_EQ(a->ack.raw(), v.peer_nxt);     // the data on it was not taken
  }
  EXPECT_EQ(v.s.tcp.stats().rx_ack_unsent, 3u);
  // SND.UNA did not move: the RTO resends "abc" from the start.
  v.s.advance(1100ms);
  std::vector<std::byte> p;
  auto rx = v.s.next_sent(&p);
  ASSERT_TRUE(rx.has_value());
  EXPECT_EQ(rx->seq.raw(), v.our_nxt);
  EXPECT_EQ(p, data);
  v.our_nxt += 3;
  v.ack();
  v.check_alive("ACK for unsent data");
}

// =============================================================================================
// Memory: out-of-order floods and slow readers.
// =============================================================================================

// RFC 9293 §3.10.7.4 keeps out-of-order data inside the window; coronet stores it in the
// connection's receive ring (one allocation, the window's size) and tracks at most
// RecvBuffer::kMaxRanges islands; data that would need more is dropped (counted in rx_no_room)
// and resent by the peer. Segments beyond the window are unacceptable (rx_out_of_window).
TEST(TcpHostile, OutOfOrderFloodStaysWithinTheWindowAndTheHoleFillsExactly) {
  Victim v;
  const std::size_t pool_free = v.s.dev.pool(0).available();
  constexpr std::size_t kSpan = 60000;  // inside the 64 KiB window
  const auto stream = pattern_bytes(kSpan);
  std::size_t sent = 0;
  for (std::size_t i = 0; i < 5000; ++i) {
    const std::size_t off = 1 + (i * 7919) % (kSpan - 1);  // byte 0 stays a hole
    v.s.send(Seg{.flags = flag::kAck,
                 .seq = v.peer_nxt + static_cast<std::uint32_t>(off),
                 .ack = v.our_nxt,
                 .payload = {stream[off]}},
             kPort);
    ++sent;
    v.drain();
  }
  const auto& st = v.s.tcp.stats();
  EXPECT_GT(st.rx_out_of_order, 0u);
  EXPECT_GT(st.rx_no_room, 0u);
  EXPECT_EQ(st.rx_out_of_order + st.rx_no_room + st.rx_duplicate, sent);
  // Beyond the window, and half the sequence space away.
  for (std::uint32_t i = 0; i < 100; ++i) {
    v.s.send(Seg{.flags = flag::kAck,
                 .seq = v.peer_nxt + 300000 + i * 1000,
                 .ack = v.our_nxt,
                 .payload = evil()},
             kPort);
    v.s.send(Seg{.flags = flag::kAck,
                 .seq = v.peer_nxt + 0x80000000u + i,
                 .ack = v.our_nxt,
                 .payload = evil()},
             kPort);
  }
  EXPECT_EQ(st.rx_out_of_window, 200u);
  v.drain();
  // Memory: one receive ring of the connection's buffer size, and no packet kept.
  EXPECT_LE(v.s.tcp.recv_memory().used, TcpConfig{}.recv_buffer);
  EXPECT_EQ(v.s.dev.pool(0).available(), pool_free);
  // The real sender fills the hole and resends the rest: exactly the stream arrives.
  for (std::size_t off = 0; off < kSpan; off += 1000) {
    const std::size_t n = std::min<std::size_t>(1000, kSpan - off);
    v.s.send(Seg{.flags = flag::kAck,
                 .seq = v.peer_nxt + static_cast<std::uint32_t>(off),
                 .ack = v.our_nxt,
                 .payload =
                     std::vector<std::byte>(stream.begin() + static_cast<std::ptrdiff_t>(off),
                                            stream.begin() + static_cast<std::ptrdiff_t>(off + n))},
             kPort);
    v.drain();
  }
  v.peer_nxt += kSpan;
  auto r = v.read(kSpan);
  EXPECT_EQ(r->data, stream);
  v.check_alive("out-of-order flood");
}

// TcpConfig::recv_memory_limit caps the receive rings of the whole core: an attacker connection
// whose out-of-order data needs a ring when the cap is reached gets its data dropped (counted in
// rx_memory_drops), while a victim whose ring already exists keeps working.
TEST(TcpHostile, OutOfOrderFloodFromASecondConnectionHitsTheCoreMemoryCap) {
  TcpConfig cfg;
  cfg.recv_memory_limit = cfg.recv_buffer + cfg.recv_buffer / 2;  // room for one ring
  Victim v(cfg);
  // The victim's ring exists: unread data (small, so copied into the ring rather than held).
  const auto unread = bytes_of("unread for now");
  v.s.send(
      Seg{.flags = flag::kAck | flag::kPsh, .seq = v.peer_nxt, .ack = v.our_nxt, .payload = unread},
      kPort);
  v.peer_nxt += static_cast<std::uint32_t>(unread.size());
  ASSERT_EQ(v.s.tcp.recv_memory().used, cfg.recv_buffer);
  // The attacker: another connection from the peer's address.
  constexpr std::uint16_t kAttacker = 41000;
  v.s.send(Seg{.flags = flag::kSyn, .seq = 5000, .options = {.mss = 1460}, .src_port = kAttacker},
           kPort);
  auto synack = v.s.next_sent();
  ASSERT_TRUE(synack.has_value());
  const std::uint32_t a_ack = synack->seq.raw() + 1;
  v.s.send(Seg{.flags = flag::kAck, .seq = 5001, .ack = a_ack, .src_port = kAttacker}, kPort);
  for (std::uint32_t i = 0; i < 1000; ++i) {
    v.s.send(Seg{.flags = flag::kAck,
                 .seq = 5001 + 10 + i * 50,
                 .ack = a_ack,
                 .payload = evil(),
                 .src_port = kAttacker},
             kPort);
  }
  v.drain();
  EXPECT_EQ(v.s.tcp.stats().rx_memory_drops, 1000u);
  EXPECT_EQ(v.s.tcp.recv_memory().used, cfg.recv_buffer);
  auto r = v.read(unread.size());
  EXPECT_EQ(r->data, unread);
  v.check_alive("memory-cap flood");
}

// A peer that offers a zero window forever and never reads (RFC 9293 §3.8.6.1): coronet keeps
// probing (one byte beyond the window, backed off, without limit while the peer answers: RFC
// 1122 §4.2.2.17), the writer blocks once the send buffer is full (memory bounded), and once the
// window opens every byte arrives exactly.
TEST(TcpHostile, ZeroWindowForeverIsProbedWithBoundedMemory) {
  Victim v;
  v.ack(0);
  const std::uint32_t chunks_free = v.s.tcp.send_chunks().available();
  const auto data = pattern_bytes(1 << 20);
  auto w = std::make_shared<WriteState>();
  v.s.v.reactor.spawn(write_task(v.conn, data, w));
  v.s.settle();
  EXPECT_FALSE(w->result.has_value());  // blocked: 1 MiB does not fit the 256 KiB buffer
  const std::uint32_t chunk = TcpConfig{}.send_chunk_size;
  EXPECT_LE(chunks_free - v.s.tcp.send_chunks().available(),
            (TcpConfig{}.send_buffer + chunk - 1) / chunk + 1);
  std::size_t probes = 0;
  for (int i = 0; i < 600; ++i) {  // ten minutes
    v.s.advance(1s);
    std::vector<std::byte> p;
    while (auto h = v.s.next_sent(&p)) {
      ASSERT_EQ(p.size(), 1u) << "only window probes may go";
      EXPECT_EQ(h->seq.raw(), v.our_nxt);
      EXPECT_EQ(p[0], data[0]);
      ++probes;
      v.ack(0);  // answered: still closed
    }
  }
  EXPECT_GE(probes, 10u);
  EXPECT_EQ(v.s.tcp.stats().persist_probes, probes);
  EXPECT_EQ(v.conn.state(), State::kEstablished);
  EXPECT_FALSE(w->result.has_value());
  // The reader wakes up.
  EXPECT_EQ(v.receive(data.size()), data);
  ASSERT_TRUE(w->result.has_value());
  ASSERT_TRUE(w->result->has_value());
  EXPECT_EQ(**w->result, data.size());
  v.check_alive("zero window");
}

// The same attack against a connection with a user timeout (RFC 9293 §3.8.4, RFC 5482): data that
// cannot be delivered for that long ends the connection ("timed out", with a RST), measured from
// when the data was written, not from an earlier idle period.
TEST(TcpHostile, ZeroWindowForeverEndsAtTheUserTimeout) {
  Victim v;
  v.check_alive("nothing");
  ASSERT_TRUE(v.conn.set_user_timeout(20s).has_value());
  v.s.advance(60s);  // idle: nothing unacknowledged
  v.ack(0);
  const coro::TimePoint start = v.s.v.reactor.now();
  auto w = std::make_shared<WriteState>();
  v.s.v.reactor.spawn(write_task(v.conn, pattern_bytes(10000), w));
  v.s.settle();
  std::optional<coro::Duration> ended;
  for (int i = 0; i < 400 && !ended; ++i) {
    v.s.advance(500ms);
    while (auto h = v.s.next_sent()) {
      if (!h->has(flag::kRst)) v.ack(0);
    }
    if (v.conn.state() == State::kClosed) ended = v.s.v.reactor.now() - start;
  }
  ASSERT_TRUE(ended.has_value()) << "the user timeout never fired";
  EXPECT_GE(*ended, 20s);
  EXPECT_LE(*ended, 20s + TcpConfig{}.max_rto);
  EXPECT_EQ(v.s.tcp.stats().user_timeouts, 1u);
  EXPECT_GT(v.s.tcp.stats().persist_probes, 0u);
  auto r = v.read(1);
  ASSERT_TRUE(r->error.has_value());
  EXPECT_EQ(*r->error, Errc::kTimedOut);
}

// A peer that offers a 1-byte window and takes one byte at a time. RFC 1122 §4.2.3.4 sender SWS
// avoidance: coronet does not answer every window update with a 1-byte segment; only the
// override (persist) timeout sends what fits, so the trickle costs one segment per timeout. The
// writer blocks at the send buffer size; the bytes that trickle through, then the rest once the
// window opens, arrive exactly.
TEST(TcpHostile, OneByteWindowSlowReaderIsServedByTheSwsOverrideOnly) {
  Victim v;
  v.ack(1);
  const auto data = pattern_bytes(300 * 1024);
  auto w = std::make_shared<WriteState>();
  v.s.v.reactor.spawn(write_task(v.conn, data, w));
  v.s.settle();
  EXPECT_FALSE(w->result.has_value());
  std::vector<std::byte> got;
  std::size_t segments = 0;
  for (int i = 0; i < 120; ++i) {  // one minute
    v.s.advance(500ms);
    std::vector<std::byte> p;
    while (auto h = v.s.next_sent(&p)) {
      if (p.empty()) continue;
      ++segments;
      ASSERT_EQ(p.size(), 1u);
      ASSERT_EQ(h->seq.raw(), v.our_nxt);
      got.push_back(p[0]);
      ++v.our_nxt;
      v.ack(1);
    }
  }
  EXPECT_GT(v.s.tcp.stats().sws_delays, 0u);
  EXPECT_GT(segments, 5u);
  EXPECT_LT(segments, 130u);  // not one per window update
  EXPECT_FALSE(w->result.has_value());
  std::vector<std::byte> rest = v.receive(data.size() - got.size());
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, data);
  ASSERT_TRUE(w->result.has_value());
  v.check_alive("1-byte window");
}

// =============================================================================================
// Forged ICMP errors (RFC 5927, RFC 1122 §4.2.3.9).
// =============================================================================================

// RFC 5927 §4.1: an error quoting a sequence number outside SND.UNA..SND.NXT is stale or forged
// and is ignored (counted); so is one for a connection that does not exist.
TEST(TcpHostile, IcmpErrorsQuotingSequenceNumbersNotInFlightAreIgnored) {
  Victim v;
  ASSERT_TRUE(v.write_now(bytes_of("in flight")));
  v.drain();
  const std::uint32_t una = v.our_nxt;
  const std::uint32_t nxt = una + 9;
  int n = 0;
  for (std::uint32_t seq : {una - 1, nxt + 1, una + 100000, una - 0x80000000u}) {
    inject(v.s, icmp_error_frame(3, 3, 0, seq));    // port unreachable
    inject(v.s, icmp_error_frame(3, 1, 0, seq));    // host unreachable
    inject(v.s, icmp_error_frame(3, 4, 576, seq));  // fragmentation needed
    inject(v.s, icmp_error_frame(11, 0, 0, seq));   // time exceeded
    n += 4;
  }
  inject(v.s, icmp_error_frame(3, 3, 0, una, 40001));  // no such connection
  ++n;
  EXPECT_EQ(v.s.tcp.stats().icmp_errors, static_cast<std::uint64_t>(n));
  EXPECT_EQ(v.s.tcp.stats().icmp_errors_ignored, static_cast<std::uint64_t>(n));
  EXPECT_EQ(v.s.tcp.stats().icmp_soft_errors, 0u);
  EXPECT_EQ(v.s.tcp.stats().pmtu_reductions, 0u);
  EXPECT_EQ(v.s.pending_sent(), 0u);
  EXPECT_EQ(v.receive(9), bytes_of("in flight"));
  v.check_alive("stale ICMP errors");
}

// RFC 1191 §3 lets the path MTU go as low as 68, which would leave a few bytes per segment: the
// throughput-reduction attack of RFC 5927 §7. coronet uses at least 576 (the datagram every host
// accepts, RFC 1122 §3.3.2; RFC 9293 §3.7.1's default MSS 536): a forged MTU of 68 lowers the MSS
// to 536, no further. Below 68 the report is not a usable MTU and changes nothing.
TEST(TcpHostile, FragmentationNeededWithATinyMtuStopsAtTheFloor) {
  Victim v;
  const auto data = pattern_bytes(3000);
  ASSERT_TRUE(v.write_now(data));
  v.drain();  // "lost" at the router
  inject(v.s, icmp_error_frame(3, 4, 20, v.our_nxt));
  EXPECT_EQ(v.s.tcp.stats().pmtu_reductions, 0u);
  inject(v.s, icmp_error_frame(3, 4, 68, v.our_nxt));
  EXPECT_EQ(v.s.tcp.stats().pmtu_reductions, 1u);
  inject(v.s, icmp_error_frame(3, 4, 300, v.our_nxt));
  EXPECT_EQ(v.s.tcp.stats().pmtu_reductions, 1u);  // already at the floor
  EXPECT_EQ(v.conn.state(), State::kEstablished);
  std::size_t max_seg = 0;
  std::size_t min_seg = ~std::size_t{0};
  EXPECT_EQ(v.receive(data.size(), 65535, &max_seg, &min_seg), data);
  EXPECT_EQ(max_seg, 536u);  // 576 - 20 (IP) - 20 (TCP)
  EXPECT_GE(min_seg, 3000u % 536u);
  v.check_alive("tiny PMTU");
}

// RFC 5927 §5.2 / RFC 1122 §4.2.3.9: in a synchronized state even the "hard" errors (protocol or
// port unreachable) are treated as soft: remembered for a later timeout's message, never a reset.
// Parameter problem and other types change nothing.
TEST(TcpHostile, HardIcmpErrorsOnAnEstablishedConnectionAreSoft) {
  Victim v;
  ASSERT_TRUE(v.write_now(bytes_of("in flight")));
  v.drain();
  const std::uint32_t seq = v.our_nxt;
  inject(v.s, icmp_error_frame(3, 2, 0, seq));   // protocol unreachable
  inject(v.s, icmp_error_frame(3, 3, 0, seq));   // port unreachable
  inject(v.s, icmp_error_frame(3, 0, 0, seq));   // net unreachable
  inject(v.s, icmp_error_frame(3, 13, 0, seq));  // administratively prohibited
  inject(v.s, icmp_error_frame(11, 0, 0, seq));  // time exceeded
  inject(v.s, icmp_error_frame(12, 0, 0, seq));  // parameter problem
  EXPECT_EQ(v.conn.state(), State::kEstablished);
  EXPECT_EQ(v.s.tcp.stats().icmp_soft_errors, 5u);
  EXPECT_EQ(v.s.tcp.stats().icmp_errors_ignored, 0u);
  EXPECT_EQ(v.s.tcp.stats().connections_reset, 0u);
  EXPECT_EQ(v.s.tcp.stats().tx_rst, 0u);
  EXPECT_EQ(v.receive(9), bytes_of("in flight"));
  v.check_alive("hard ICMP errors");
}

}  // namespace
}  // namespace coronet::testing
