// TCP edge cases with hand-built segments against one coronet endpoint (RFC 9293 §3.10.7 and
// RFC 5961), each test a few segments in and the exact segments out.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/stack/tcp_script.h"

namespace coronet::testing {
namespace {

using namespace std::chrono_literals;
using stack::tcp::State;
namespace flag = stack::tcp::flag;

constexpr std::uint16_t kPort = 80;

TEST(TcpSegments, SynToClosedPortGetsRstAck) {
  TcpScript s;
  s.send(Seg{.flags = flag::kSyn, .seq = 5000}, 9);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  // RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
  EXPECT_EQ(r->flags, flag::kRst | flag::kAck);
  EXPECT_EQ(r->seq.raw(), 0u);
  EXPECT_EQ(r->ack.raw(), 5001u);
  EXPECT_EQ(r->src_port, 9);
  EXPECT_EQ(r->dst_port, TcpScript::kPeerPort);
}

TEST(TcpSegments, AckToClosedPortGetsRstWithItsAckAsSeq) {
  TcpScript s;
  s.send(Seg{.flags = flag::kAck, .seq = 5000, .ack = 777}, 9);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst);
  EXPECT_EQ(r->seq.raw(), 777u);
}

TEST(TcpSegments, RstToClosedPortIsIgnored) {
  TcpScript s;
  s.send(Seg{.flags = flag::kRst, .seq = 5000}, 9);
  EXPECT_FALSE(s.next_sent());
}

TEST(TcpSegments, BadChecksumIsDroppedAndCounted) {
  TcpScript s;
  s.send(Seg{.flags = flag::kSyn, .seq = 1, .corrupt_checksum = true}, 9);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.stats().rx_bad_checksum, 1u);
}

TEST(TcpSegments, TruncatedHeaderIsDroppedAndCounted) {
  TcpScript s;
  std::vector<std::byte> tiny(12);
  s.send_raw_tcp(tiny);
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.stats().rx_malformed, 1u);
}

TEST(TcpSegments, DataOffsetBeyondTheSegmentIsMalformed) {
  TcpScript s;
  std::vector<std::byte> t(20);
  t[12] = std::byte{0xf0};  // claims a 60-byte header in 20 bytes
  s.send_raw_tcp(t);
  EXPECT_EQ(s.tcp.stats().rx_malformed, 1u);
}

TEST(TcpSegments, ListenAnswersSynWithSynAckAndOurMss) {
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kSyn, .seq = 1000, .options = {.mss = 1200}}, kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kSyn | flag::kAck);
  EXPECT_EQ(r->ack.raw(), 1001u);
  ASSERT_TRUE(r->options.mss);
  EXPECT_EQ(*r->options.mss, 1460);  // MTU 1500 - 40 (RFC 6691)
  EXPECT_FALSE(r->options.window_scale);  // the SYN offered no scaling (RFC 7323 §2.2)
}

TEST(TcpSegments, WindowScaleIsEchoedWhenOffered) {
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kSyn, .seq = 1000, .options = {.mss = 1460, .window_scale = 7}},
         kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->options.window_scale);
  EXPECT_EQ(*r->options.window_scale, 3);  // 256 KiB needs 65536 << 2 > 0xffff: shift 3
}

TEST(TcpSegments, AckToListenerGetsRst) {
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kAck, .seq = 1, .ack = 99}, kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kRst);
  EXPECT_EQ(r->seq.raw(), 99u);
}

TEST(TcpSegments, DuplicateSynInSynReceivedRepeatsTheSynAck) {
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kSyn, .seq = 1000}, kPort);
  auto first = s.next_sent();
  s.send(Seg{.flags = flag::kSyn, .seq = 1000}, kPort);
  auto second = s.next_sent();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(second->flags, flag::kSyn | flag::kAck);
  EXPECT_EQ(second->seq, first->seq);
}

TEST(TcpSegments, HandshakeCompletesAndAcceptReturnsTheConnection) {
  TcpScript s;
  auto e = s.establish(kPort);
  ASSERT_TRUE(e.conn.valid());
  EXPECT_EQ(e.conn.state(), State::kEstablished);
  EXPECT_EQ(e.conn.remote().port, TcpScript::kPeerPort);
}

TEST(TcpSegments, InOrderDataIsAckedAfterTwoSegmentsOrTheDelayedAckTimer) {
  TcpScript s;
  auto e = s.establish(kPort);
  std::uint32_t iss = e.our_iss;
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = iss + 1, .payload = bytes_of("hello")},
         kPort);
  EXPECT_FALSE(s.next_sent());  // one segment: the ACK is delayed (RFC 1122 §4.2.3.2)
  s.advance(40ms);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ack.raw(), 1006u);
  s.send(Seg{.flags = flag::kAck, .seq = 1006, .ack = iss + 1, .payload = bytes_of("ab")}, kPort);
  s.send(Seg{.flags = flag::kAck, .seq = 1008, .ack = iss + 1, .payload = bytes_of("cd")}, kPort);
  auto b = s.next_sent();
  ASSERT_TRUE(b);  // every second segment is acknowledged at once
  EXPECT_EQ(b->ack.raw(), 1010u);
  std::byte buf[32];
  auto n = s.v.reactor.block_on(e.conn.read(buf));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), *n), "helloabcd");
}

TEST(TcpSegments, DataForAWaitingReaderIsCopiedStraightIntoItsBuffer) {
  TcpScript s;
  auto e = s.establish(kPort);
  std::byte buf[64];
  Result<std::size_t> got = Error(Errc::kCancelled);
  auto reader = [&]() -> coro::Task<void> { got = co_await e.conn.read(buf); };
  s.v.reactor.spawn(reader());
  s.settle();  // the reader now waits with its buffer lent to the connection
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = e.our_iss + 1,
             .payload = bytes_of("zero-ring")},
         kPort);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), *got), "zero-ring");
  EXPECT_EQ(s.tcp.stats().rx_direct_bytes, 9u);
  // The next segment, with nobody waiting, goes through the receive ring as usual.
  s.send(Seg{.flags = flag::kAck, .seq = 1010, .ack = e.our_iss + 1, .payload = bytes_of("ring")},
         kPort);
  auto n = s.v.reactor.block_on(e.conn.read(buf));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), *n), "ring");
  EXPECT_EQ(s.tcp.stats().rx_direct_bytes, 9u);
  auto ack = s.next_sent();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->ack.raw(), 1014u);
}

TEST(TcpSegments, OutOfOrderThenFill) {
  TcpScript s;
  auto e = s.establish(kPort);
  std::uint32_t iss = e.our_iss;
  s.send(Seg{.flags = flag::kAck, .seq = 1004, .ack = iss + 1, .payload = bytes_of("def")},
         kPort);
  auto dup = s.next_sent();
  ASSERT_TRUE(dup);  // RFC 5681 §4.2: an immediate duplicate ACK
  EXPECT_EQ(dup->ack.raw(), 1001u);
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = iss + 1, .payload = bytes_of("abc")},
         kPort);
  auto filled = s.next_sent();
  ASSERT_TRUE(filled);
  EXPECT_EQ(filled->ack.raw(), 1007u);
  std::byte buf[16];
  auto n = s.v.reactor.block_on(e.conn.read(buf));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), *n), "abcdef");
}

TEST(TcpSegments, DataBeyondTheWindowIsAckedAndDropped) {
  stack::tcp::TcpConfig cfg;
  cfg.recv_buffer = 4096;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  s.send(Seg{.flags = flag::kAck, .seq = 1001 + 10000, .ack = e.our_iss + 1,
             .payload = bytes_of("far away")},
         kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->ack.raw(), 1001u);
  EXPECT_EQ(s.tcp.stats().rx_out_of_window, 1u);
}

TEST(TcpSegments, FinWithDataDeliversDataThenEndOfStream) {
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(Seg{.flags = flag::kAck | flag::kFin, .seq = 1001, .ack = e.our_iss + 1,
             .payload = bytes_of("bye")},
         kPort);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ack.raw(), 1005u);  // 3 bytes + FIN
  EXPECT_EQ(e.conn.state(), State::kCloseWait);
  std::byte buf[16];
  auto n = s.v.reactor.block_on(e.conn.read(buf));
  EXPECT_EQ(*n, 3u);
  n = s.v.reactor.block_on(e.conn.read(buf));
  EXPECT_EQ(*n, 0u);
}

TEST(TcpSegments, RstWithExactSequenceResetsAnEstablishedConnection) {
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(Seg{.flags = flag::kRst, .seq = 1001}, kPort);
  EXPECT_EQ(e.conn.state(), State::kClosed);
  std::byte buf[4];
  auto n = s.v.reactor.block_on(e.conn.read(buf));
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().code(), Errc::kConnectionReset);
}

TEST(TcpSegments, InWindowRstWithWrongSequenceEarnsAChallengeAck) {
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(Seg{.flags = flag::kRst, .seq = 1500}, kPort);  // in window, not RCV.NXT (RFC 5961 §3.2)
  EXPECT_EQ(e.conn.state(), State::kEstablished);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
  EXPECT_EQ(a->ack.raw(), 1001u);
  EXPECT_EQ(s.tcp.stats().challenge_acks, 1u);
}

TEST(TcpSegments, SynOnAnEstablishedConnectionEarnsAChallengeAck) {
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(Seg{.flags = flag::kSyn, .seq = 1001}, kPort);  // RFC 5961 §4.2
  EXPECT_EQ(e.conn.state(), State::kEstablished);
  auto a = s.next_sent();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->flags, flag::kAck);
}

TEST(TcpSegments, RstInSynReceivedReturnsToListen) {
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kSyn, .seq = 1000}, kPort);
  (void)s.next_sent();
  s.send(Seg{.flags = flag::kRst, .seq = 1001}, kPort);
  s.settle();
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  // The listener still answers new SYNs.
  s.send(Seg{.flags = flag::kSyn, .seq = 7000}, kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kSyn | flag::kAck);
}

// RST in the closing states: each ends the connection at once.
void rst_after(std::function<void(TcpScript&, TcpScript::Established&)> reach, State expect) {
  TcpScript s;
  auto e = s.establish(kPort);
  reach(s, e);
  ASSERT_EQ(e.conn.state(), expect) << stack::tcp::state_name(e.conn.state());
  s.send(Seg{.flags = flag::kRst, .seq = 1001 + (expect == State::kCloseWait ||
                                                 expect == State::kLastAck ||
                                                 expect == State::kClosing
                                             ? 1u
                                             : 0u)},
         kPort);
  EXPECT_EQ(e.conn.state(), State::kClosed);
}

TEST(TcpSegments, RstInFinWait1) {
  rst_after([](TcpScript& s, TcpScript::Established& e) {
    (void)e.conn.shutdown();
    s.settle();
  }, State::kFinWait1);
}

TEST(TcpSegments, RstInFinWait2) {
  rst_after([](TcpScript& s, TcpScript::Established& e) {
    (void)e.conn.shutdown();
    s.settle();
    auto fin = s.next_sent();
    s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = fin->seq.raw() + 1}, kPort);
  }, State::kFinWait2);
}

TEST(TcpSegments, RstInCloseWait) {
  rst_after([](TcpScript& s, TcpScript::Established& e) {
    s.send(Seg{.flags = flag::kAck | flag::kFin, .seq = 1001, .ack = e.our_iss + 1}, kPort);
  }, State::kCloseWait);
}

TEST(TcpSegments, RstInLastAck) {
  rst_after([](TcpScript& s, TcpScript::Established& e) {
    s.send(Seg{.flags = flag::kAck | flag::kFin, .seq = 1001, .ack = e.our_iss + 1}, kPort);
    (void)e.conn.shutdown();
    s.settle();
  }, State::kLastAck);
}

TEST(TcpSegments, RstInClosing) {
  rst_after([](TcpScript& s, TcpScript::Established& e) {
    (void)e.conn.shutdown();
    s.settle();
    // The peer's FIN crosses ours without acknowledging it: simultaneous close.
    s.send(Seg{.flags = flag::kAck | flag::kFin, .seq = 1001, .ack = e.our_iss + 1}, kPort);
  }, State::kClosing);
}

TEST(TcpSegments, RstToAListenerIsIgnored) {
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort));
  s.send(Seg{.flags = flag::kRst, .seq = 1}, kPort);  // RFC 9293 §3.10.7.2 first
  EXPECT_FALSE(s.next_sent());
  s.send(Seg{.flags = flag::kSyn, .seq = 50}, kPort);
  auto r = s.next_sent();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->flags, flag::kSyn | flag::kAck);
}

TEST(TcpSegments, RstInTimeWaitIsIgnoredByDefault) {
  // RFC 1337 §4: TIME-WAIT is not assassinated by a RST.
  TcpScript s;
  auto e = s.establish(kPort);
  (void)e.conn.shutdown();
  s.settle();
  auto fin = s.next_sent();
  ASSERT_TRUE(fin);
  s.send(Seg{.flags = flag::kAck | flag::kFin, .seq = 1001, .ack = fin->seq.raw() + 1}, kPort);
  ASSERT_EQ(e.conn.state(), State::kTimeWait);
  s.send(Seg{.flags = flag::kRst, .seq = 1002}, kPort);
  EXPECT_EQ(e.conn.state(), State::kTimeWait);
  EXPECT_EQ(s.tcp.stats().rst_in_time_wait_ignored, 1u);
}

TEST(TcpSegments, RstInTimeWaitClosesItWhenAssassinationIsAllowed) {
  // RFC 9293 §3.10.7.4 second, with rfc1337 off: the connection ends, without an error.
  stack::tcp::TcpConfig cfg;
  cfg.rfc1337 = false;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  (void)e.conn.shutdown();
  s.settle();
  auto fin = s.next_sent();
  ASSERT_TRUE(fin);
  s.send(Seg{.flags = flag::kAck | flag::kFin, .seq = 1001, .ack = fin->seq.raw() + 1}, kPort);
  ASSERT_EQ(e.conn.state(), State::kTimeWait);
  s.send(Seg{.flags = flag::kRst, .seq = 1002}, kPort);  // RFC 9293 §3.10.7.4 second
  EXPECT_EQ(e.conn.state(), State::kClosed);
  EXPECT_EQ(s.tcp.stats().time_wait, 0u);
  std::byte b[4];
  auto r = s.v.reactor.block_on(e.conn.read(b));
  ASSERT_TRUE(r.has_value());  // EOF, not "reset": the stream was complete
  EXPECT_EQ(*r, 0u);
}

TEST(TcpSegments, SimultaneousCloseReachesTimeWaitThenClosed) {
  TcpScript s;
  auto e = s.establish(kPort);
  (void)e.conn.shutdown();
  s.settle();
  auto fin = s.next_sent();
  ASSERT_TRUE(fin);
  EXPECT_TRUE(fin->has(flag::kFin));
  s.send(Seg{.flags = flag::kAck | flag::kFin, .seq = 1001, .ack = e.our_iss + 1}, kPort);
  EXPECT_EQ(e.conn.state(), State::kClosing);
  s.send(Seg{.flags = flag::kAck, .seq = 1002, .ack = e.our_iss + 2}, kPort);
  EXPECT_EQ(e.conn.state(), State::kTimeWait);
  s.advance(60s);  // 2*MSL with MSL = 30 s
  EXPECT_EQ(e.conn.state(), State::kClosed);
}

TEST(TcpSegments, RetransmitsUnackedDataWithExponentialBackoff) {
  TcpScript s;
  auto e = s.establish(kPort);
  auto data = bytes_of("payload");
  (void)s.v.reactor.block_on(e.conn.write(data));
  s.settle();
  auto first = s.next_sent();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->seq.raw(), e.our_iss + 1);
  // The handshake measured an RTT of ~0 on virtual time, so RTO is the 200 ms floor.
  s.advance(199ms);
  EXPECT_FALSE(s.next_sent());
  s.advance(1ms);
  auto again = s.next_sent();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->seq.raw(), e.our_iss + 1);
  EXPECT_EQ(s.tcp.stats().rto_expiries, 1u);
  s.advance(399ms);
  EXPECT_FALSE(s.next_sent()) << "the second RTO must be doubled (RFC 6298 §5.5)";
  s.advance(1ms);
  EXPECT_TRUE(s.next_sent());
}

}  // namespace
}  // namespace coronet::testing

namespace coronet::testing {
namespace {

// Opens a connection from coronet to the scripted peer (port 5000) and completes the handshake
// with the peer's ISN 9000; returns the connection and coronet's ISS.
struct Opened {
  stack::tcp::Connection conn;
  std::uint32_t iss = 0;
};
Opened open_active(TcpScript& s, std::uint16_t window = 65535) {
  Opened o;
  Result<stack::tcp::Connection> c = Error(Errc::kCancelled);
  auto opener = [&]() -> coro::Task<void> {
    c = co_await stack::tcp::connect(s.tcp, {TcpScript::kPeerAddr, TcpScript::kPeerPort},
                                     {.local_port = 5000});
  };
  s.v.reactor.spawn(opener());
  s.settle();
  auto syn = s.next_sent();
  if (!syn) {
    ADD_FAILURE() << "no SYN";
    return o;
  }
  o.iss = syn->seq.raw();
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = 9000, .ack = o.iss + 1, .window = window,
             .options = {.mss = 1000}},
         5000);
  if (!c) {
    ADD_FAILURE() << c.error().message();
    return o;
  }
  o.conn = std::move(*c);
  (void)s.next_sent();  // the handshake's final ACK
  return o;
}

TEST(TcpSegmentsActive, SimultaneousOpenGoesThroughSynReceived) {
  TcpScript s;
  Result<stack::tcp::Connection> c = Error(Errc::kCancelled);
  auto opener = [&]() -> coro::Task<void> {
    c = co_await stack::tcp::connect(s.tcp, {TcpScript::kPeerAddr, TcpScript::kPeerPort},
                                     {.local_port = 5000});
  };
  s.v.reactor.spawn(opener());
  s.settle();
  auto syn = s.next_sent();
  ASSERT_TRUE(syn);
  // The peer's own SYN crosses ours (RFC 9293 §3.5, figure 7): answer with SYN-ACK.
  s.send(Seg{.flags = flag::kSyn, .seq = 9000}, 5000);
  auto synack = s.next_sent();
  ASSERT_TRUE(synack);
  EXPECT_EQ(synack->flags, flag::kSyn | flag::kAck);
  EXPECT_EQ(synack->seq, syn->seq);
  EXPECT_EQ(synack->ack.raw(), 9001u);
  // The peer's SYN-ACK for our SYN completes it.
  s.send(Seg{.flags = flag::kSyn | flag::kAck, .seq = 9000, .ack = syn->seq.raw() + 1}, 5000);
  s.send(Seg{.flags = flag::kAck, .seq = 9001, .ack = syn->seq.raw() + 1}, 5000);
  ASSERT_TRUE(c.has_value()) << c.error().message();
  EXPECT_EQ(c->state(), stack::tcp::State::kEstablished);
}

TEST(TcpSegmentsActive, SegmentsRespectThePeersMssAndNagleHoldsTheSmallTail) {
  TcpScript s;
  auto o = open_active(s);
  std::vector<std::byte> data(2500, std::byte{1});
  (void)s.v.reactor.block_on(o.conn.write(data));
  s.settle();
  std::vector<std::byte> p1, p2, p3;
  auto a = s.next_sent(&p1);
  auto b = s.next_sent(&p2);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(p1.size(), 1000u);  // the SYN-ACK's MSS option (RFC 6691)
  EXPECT_EQ(p2.size(), 1000u);
  // RFC 896: the 500-byte tail waits while full segments are unacknowledged.
  EXPECT_FALSE(s.next_sent());
  EXPECT_EQ(s.tcp.stats().nagle_delays, 1u);
  s.send(Seg{.flags = flag::kAck, .seq = 9001, .ack = o.iss + 2001}, 5000);
  auto c = s.next_sent(&p3);
  ASSERT_TRUE(c);
  EXPECT_EQ(p3.size(), 500u);
  EXPECT_TRUE(c->has(flag::kPsh));
}

TEST(TcpSegmentsActive, NoDelaySendsSmallWritesAtOnce) {
  TcpScript s;
  auto o = open_active(s);
  ASSERT_TRUE(o.conn.set_no_delay(true).has_value());
  (void)s.v.reactor.block_on(o.conn.write(bytes_of("one")));
  s.settle();
  (void)s.v.reactor.block_on(o.conn.write(bytes_of("two")));
  s.settle();
  std::vector<std::byte> p1, p2;
  ASSERT_TRUE(s.next_sent(&p1));
  ASSERT_TRUE(s.next_sent(&p2));  // the second small write did not wait for an ACK
  EXPECT_EQ(p1, bytes_of("one"));
  EXPECT_EQ(p2, bytes_of("two"));
  EXPECT_EQ(s.tcp.stats().nagle_delays, 0u);
}

TEST(TcpSegmentsActive, KeepaliveProbesAnIdlePeerAndGivesUp) {
  TcpScript s;
  auto o = open_active(s);
  ASSERT_TRUE(o.conn.set_keepalive(10s, 1s, 3).has_value());
  s.advance(9s);
  EXPECT_FALSE(s.next_sent());
  s.advance(1s);  // idle for 10 s: probe <SEQ=SND.UNA-1> (RFC 1122 §4.2.3.6)
  auto probe = s.next_sent();
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->seq.raw(), o.iss);  // SND.UNA - 1
  EXPECT_EQ(probe->flags, flag::kAck);
  // An answer resets the count; then silence: 3 probes a second apart, then the connection dies.
  s.send(Seg{.flags = flag::kAck, .seq = 9001, .ack = o.iss + 1}, 5000);
  s.advance(10s);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(s.next_sent()) << "probe " << i;
    s.advance(1s);
  }
  EXPECT_EQ(o.conn.state(), stack::tcp::State::kClosed);
  EXPECT_EQ(s.tcp.stats().keepalive_timeouts, 1u);
  std::byte buf[4];
  auto r = s.v.reactor.block_on(o.conn.read(buf));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
  EXPECT_FALSE(o.conn.set_keepalive(1s, 0s, 3).has_value());  // bad options are refused
}

TEST(TcpSegmentsActive, ThreeDuplicateAcksTriggerFastRetransmit) {
  TcpScript s;
  auto o = open_active(s);
  std::vector<std::byte> data(6000, std::byte{2});
  (void)s.v.reactor.block_on(o.conn.write(data));
  s.settle();
  while (s.next_sent()) {
  }
  std::uint32_t first = o.iss + 1;
  // The first segment was lost: the peer acknowledges only up to it, three times.
  for (int i = 0; i < 3; ++i) {
    s.send(Seg{.flags = flag::kAck, .seq = 9001, .ack = first}, 5000);
  }
  auto r = s.next_sent();
  ASSERT_TRUE(r);  // RFC 5681 §3.2: retransmit at once, no timeout
  EXPECT_EQ(r->seq.raw(), first);
  EXPECT_EQ(s.tcp.stats().fast_retransmits, 1u);
  EXPECT_EQ(s.tcp.stats().rto_expiries, 0u);
}

TEST(TcpSegmentsActive, ZeroWindowIsProbedThenDataFlowsWhenItOpens) {
  TcpScript s;
  auto o = open_active(s, /*window=*/0);
  auto data = bytes_of("waiting for a window");
  (void)s.v.reactor.block_on(o.conn.write(data));
  s.settle();
  EXPECT_FALSE(s.next_sent()) << "no data into a zero window";
  s.advance(250ms);  // the persist timer (RTO) fires: one byte beyond the window (RFC 9293 §3.8.6.1)
  std::vector<std::byte> probe;
  auto p = s.next_sent(&probe);
  ASSERT_TRUE(p);
  EXPECT_EQ(probe.size(), 1u);
  EXPECT_EQ(p->seq.raw(), o.iss + 1);
  // The peer still has no room: it acknowledges nothing; the next probe backs off.
  s.send(Seg{.flags = flag::kAck, .seq = 9001, .ack = o.iss + 1, .window = 0}, 5000);
  // Then the window opens: everything goes out.
  s.send(Seg{.flags = flag::kAck, .seq = 9001, .ack = o.iss + 1, .window = 4096}, 5000);
  s.settle();
  std::vector<std::byte> payload;
  auto d = s.next_sent(&payload);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->seq.raw(), o.iss + 1);
  EXPECT_EQ(payload.size(), data.size());
}

TEST(TcpSegmentsActive, TimeWaitCountIsBounded) {
  stack::tcp::TcpConfig cfg;
  cfg.max_time_wait = 2;
  TcpScript s(cfg);
  s.listener.emplace(*stack::tcp::listen(s.tcp, 80));
  for (std::uint32_t i = 0; i < 3; ++i) {
    std::uint16_t port = static_cast<std::uint16_t>(41000 + i);
    // Handshake from peer port `port`, then we close first and the peer closes: TIME-WAIT.
    Seg syn{.flags = flag::kSyn, .seq = 100};
    // Segments from a different source port, built by hand.
    auto send_from = [&](const Seg& seg) {
      stack::tcp::TcpHeader th;
      th.src_port = port;
      th.dst_port = 80;
      th.seq = stack::tcp::SeqNum(seg.seq);
      th.ack = stack::tcp::SeqNum(seg.ack);
      th.flags = seg.flags;
      th.window = seg.window;
      std::vector<std::byte> t(20);
      stack::tcp::write_header(th, t);
      std::uint16_t c = stack::tcp::tcp_checksum(TcpScript::kPeerAddr.raw(),
                                                 TcpScript::kOurAddr.raw(), t);
      t[16] = static_cast<std::byte>(c >> 8);
      t[17] = static_cast<std::byte>(c & 0xff);
      s.send_raw_tcp(t);
    };
    send_from(syn);
    auto synack = s.next_sent();
    ASSERT_TRUE(synack);
    std::uint32_t iss = synack->seq.raw();
    send_from(Seg{.flags = flag::kAck, .seq = 101, .ack = iss + 1});
    auto c = s.v.reactor.block_on(s.listener->accept());
    ASSERT_TRUE(c);
    (void)c->shutdown();
    s.settle();
    (void)s.next_sent();  // our FIN
    send_from(Seg{.flags = flag::kAck | flag::kFin, .seq = 101, .ack = iss + 2});
    (void)s.next_sent();  // our ACK of their FIN
    EXPECT_EQ(c->state(), stack::tcp::State::kTimeWait);
  }
  EXPECT_EQ(s.tcp.stats().time_wait, 2u);
  EXPECT_EQ(s.tcp.stats().time_wait_recycled, 1u);
}

}  // namespace
}  // namespace coronet::testing
