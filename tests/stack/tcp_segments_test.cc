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
