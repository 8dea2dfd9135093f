// Scripted tests for the TCP robustness features: RFC 7323 timestamps and PAWS, RFC 2018 SACK
// generation, RFC 6675 SACK-driven retransmission, RFC 4987 SYN cookies, RFC 6191 TIME-WAIT
// reuse, RFC 5961 §7 challenge-ACK rate limit, RFC 9293 §3.8.4 user timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <vector>

#include "stack/net/bytes.h"
#include "stack/net/checksum.h"

#include "tests/stack/tcp_hostile_helpers.h"
#include "tests/stack/tcp_script.h"
#include "tests/stack/tcp_states_helpers.h"

namespace coronet::testing {
namespace {

using namespace std::chrono_literals;
using stack::tcp::SackBlock;
using stack::tcp::SeqNum;
using stack::tcp::State;
using stack::tcp::TcpOptions;
namespace flag = stack::tcp::flag;

constexpr std::uint16_t kPort = 80;

// RFC 7323 §3.2 / RFC 2018 §2: both options are answered on the SYN-ACK, which echoes the
// peer's TSval; afterwards every segment carries a timestamp that echoes TS.Recent.
TEST(TcpRobustness, TimestampsAndSackAreNegotiatedAndEchoed) {
  NegotiatedConnection n;
  ASSERT_TRUE(n.synack.has_value());
  EXPECT_TRUE(n.synack->options.sack_permitted);
  ASSERT_TRUE(n.synack->options.ts_val.has_value());
  EXPECT_EQ(n.synack->options.ts_ecr, 100u);
  n.s.send(Seg{.flags = flag::kAck | flag::kPsh, .seq = 1001, .ack = n.iss + 1,
               .payload = bytes_of("hello"), .options = ts(150, n.our_ts)},
           kPort);
  n.s.advance(200ms);  // the delayed ACK
  auto ack = n.s.next_sent();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->ack.raw(), 1006u);
  EXPECT_EQ(ack->options.ts_ecr, 150u);  // RFC 7323 §4.3: TS.Recent moved to 150
  EXPECT_GE(*ack->options.ts_val, n.our_ts);  // our clock never runs backwards
}

// RFC 7323 §5.3: a segment whose timestamp is older than TS.Recent is an old duplicate:
// acknowledged and dropped, its data never delivered.
TEST(TcpRobustness, PawsDropsSegmentsWithOldTimestamps) {
  NegotiatedConnection n;
  n.s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = n.iss + 1, .payload = bytes_of("old"),
               .options = ts(50, n.our_ts)},
           kPort);
  EXPECT_EQ(n.s.tcp.stats().paws_rejected, 1u);
  auto ack = n.s.next_sent();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->ack.raw(), 1001u);  // nothing taken
  EXPECT_EQ(n.s.tcp.stats().rx_direct_bytes + n.s.tcp.stats().rx_ring_bytes, 0u);
}

// RFC 7323 §3.2: once timestamps are agreed, a non-RST segment without one is dropped.
TEST(TcpRobustness, SegmentWithoutTimestampIsDroppedOnceNegotiated) {
  NegotiatedConnection n;
  n.s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = n.iss + 1, .payload = bytes_of("x")},
           kPort);
  EXPECT_EQ(n.s.tcp.stats().ts_missing, 1u);
  EXPECT_EQ(n.s.pending_sent(), 0u);
}

// RFC 2018 §4: out-of-order data is reported in SACK blocks on the duplicate ACK, the block of
// the most recent arrival first.
TEST(TcpRobustness, SackBlocksReportIslandsNewestFirst) {
  NegotiatedConnection n;
  auto data = std::vector<std::byte>(100, std::byte{7});
  n.s.send(Seg{.flags = flag::kAck, .seq = 1101, .ack = n.iss + 1, .payload = data,
               .options = ts(101, n.our_ts)},
           kPort);
  auto a1 = n.s.next_sent();
  ASSERT_TRUE(a1.has_value());
  EXPECT_EQ(a1->ack.raw(), 1001u);
  ASSERT_EQ(a1->options.sack_count, 1u);
  EXPECT_EQ(a1->options.sack[0].left.raw(), 1101u);
  EXPECT_EQ(a1->options.sack[0].right.raw(), 1201u);
  n.s.send(Seg{.flags = flag::kAck, .seq = 1301, .ack = n.iss + 1, .payload = data,
               .options = ts(102, n.our_ts)},
           kPort);
  auto a2 = n.s.next_sent();
  ASSERT_TRUE(a2.has_value());
  ASSERT_EQ(a2->options.sack_count, 2u);
  EXPECT_EQ(a2->options.sack[0].left.raw(), 1301u);  // newest first
  EXPECT_EQ(a2->options.sack[1].left.raw(), 1101u);
}

// RFC 6675 §5: SACK blocks showing more than 2*SMSS above SND.UNA mark the first segment lost;
// exactly that segment is resent at once (no RTO, no go-back-N), and the SACKed ones are not.
TEST(TcpRobustness, SackShowsTheHoleAndOnlyTheHoleIsResent) {
  NegotiatedConnection n;
  ASSERT_TRUE(n.conn.set_no_delay(true).has_value());
  std::vector<std::byte> data(5 * 1000, std::byte{1});
  auto w = n.s.v.reactor.block_on(n.conn.write(data));
  ASSERT_TRUE(w.has_value());
  n.s.settle();
  std::vector<stack::tcp::TcpHeader> segs;
  while (auto h = n.s.next_sent()) segs.push_back(*h);
  ASSERT_GE(segs.size(), 4u);
  const std::uint32_t first = n.iss + 1;
  ASSERT_EQ(segs[0].seq.raw(), first);
  ASSERT_EQ(segs[1].seq.raw(), first + 1448);  // 1460 less 12 bytes of timestamp option
  const std::uint32_t mss = 1448;
  // The peer got everything but the first segment.
  TcpOptions o = ts(110, n.our_ts);
  o.sack_count = 1;
  o.sack[0] = SackBlock{SeqNum(first + mss), SeqNum(first + 5000)};
  n.s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = first, .options = o}, kPort);
  auto rx = n.s.next_sent();
  ASSERT_TRUE(rx.has_value());
  EXPECT_EQ(rx->seq.raw(), first);
  EXPECT_EQ(n.s.tcp.stats().fast_retransmits, 1u);
  EXPECT_EQ(n.s.pending_sent(), 0u);  // nothing SACKed went again
  // The cumulative ACK for everything ends recovery.
  n.s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = first + 5000, .options = ts(111, n.our_ts)},
           kPort);
  EXPECT_EQ(n.s.tcp.stats().rto_expiries, 0u);
}

// RFC 4987 §3.6: with the SYN queue full, a SYN is answered statelessly; the ACK that returns
// the cookie opens a connection that accept() hands out, with the MSS and (through the
// timestamp) window scale and SACK the SYN asked for.
TEST(TcpRobustness, SynCookieOpensAConnectionWhenTheQueueIsFull) {
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort, {.backlog = 2}));
  // Fill the SYN queue with two half-open connections from other ports.
  s.send(Seg{.flags = flag::kSyn, .seq = 5000, .src_port = 41000}, kPort);
  s.send(Seg{.flags = flag::kSyn, .seq = 6000, .src_port = 41001}, kPort);
  while (s.next_sent()) {
  }
  TcpOptions o = ts_sack_options(300);
  o.window_scale = 7;
  s.send(Seg{.flags = flag::kSyn, .seq = 1000, .options = o}, kPort);
  EXPECT_EQ(s.tcp.stats().syn_cookies_sent, 1u);
  auto synack = s.next_sent();
  ASSERT_TRUE(synack.has_value());
  EXPECT_EQ(synack->flags, flag::kSyn | flag::kAck);
  EXPECT_EQ(synack->ack.raw(), 1001u);
  EXPECT_TRUE(synack->options.sack_permitted);
  EXPECT_TRUE(synack->options.window_scale.has_value());
  const std::uint32_t cookie = synack->seq.raw();
  // A forged ACK with a wrong cookie is answered like any stray ACK (RST), opens nothing.
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = cookie + 2, .options = ts(301, 0),
             .src_port = 41002},
         kPort);
  EXPECT_EQ(s.tcp.stats().syn_cookies_accepted, 0u);
  while (s.next_sent()) {
  }
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = cookie + 1, .payload = bytes_of("hi"),
             .options = ts(301, *synack->options.ts_val)},
         kPort);
  EXPECT_EQ(s.tcp.stats().syn_cookies_accepted, 1u);
  auto c = s.v.reactor.block_on(s.listener->accept());
  ASSERT_TRUE(c.has_value()) << c.error().message();
  std::byte buf[8];
  auto r = s.v.reactor.block_on(c->read(buf));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 2u);  // the data on the cookie ACK was kept
}

// RFC 4987 §3.6 keeps window scale and SACK in the low bits of the cookie SYN-ACK's TSval; RFC
// 7323 §5.3: the peer takes that TSval as TS.Recent, so our first data segment must not carry a
// smaller one, or PAWS drops it (Linux did: 1 s stalls under a SYN flood). Per-connection clock
// offsets put every phase of the 64 ms the bits span in reach of these 64 handshakes.
TEST(TcpRobustness, SynCookieTimestampNeverRunsAheadOfTheConnectionClock) {
  TcpScript s;
  s.listener.emplace(*stack::tcp::listen(s.tcp, kPort, {.backlog = 2}));
  s.send(Seg{.flags = flag::kSyn, .seq = 5000, .src_port = 41000}, kPort);
  s.send(Seg{.flags = flag::kSyn, .seq = 6000, .src_port = 41001}, kPort);
  std::vector<stack::tcp::Connection> conns;
  for (std::uint16_t i = 0; i < 64; ++i) {
    s.advance(1ms);
    while (s.next_sent()) {
    }
    const auto port = static_cast<std::uint16_t>(42000 + i);
    TcpOptions o = ts_sack_options(300 + i);
    o.window_scale = 7;  // with SACK: 0x17 in the option bits, ahead in 23 phases of 64
    s.send(Seg{.flags = flag::kSyn, .seq = 1000, .options = o, .src_port = port}, kPort);
    auto synack = s.next_sent();
    ASSERT_TRUE(synack.has_value() && synack->options.ts_val.has_value());
    const std::uint32_t cookie_ts = *synack->options.ts_val;
    s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = synack->seq.raw() + 1,
               .options = ts(301 + i, cookie_ts), .src_port = port},
           kPort);
    auto c = s.v.reactor.block_on(s.listener->accept());
    ASSERT_TRUE(c.has_value()) << c.error().message();
    auto w = s.v.reactor.block_on(c->write(bytes_of("x")));
    ASSERT_TRUE(w.has_value());
    s.settle();
    auto data = s.next_sent();
    ASSERT_TRUE(data.has_value() && data->options.ts_val.has_value());
    EXPECT_GE(static_cast<std::int32_t>(*data->options.ts_val - cookie_ts), 0)
        << "handshake " << i << ": SYN-ACK TSval " << cookie_ts << ", data TSval "
        << *data->options.ts_val;
    conns.push_back(std::move(*c));
  }
  EXPECT_EQ(s.tcp.stats().syn_cookies_accepted, 64u);
}

// We close first (FIN-WAIT), the peer ACKs and closes with TSval 120: we end in TIME-WAIT, with
// TS.Recent 120 and RCV.NXT 1002.
void reach_time_wait(NegotiatedConnection& n) {
  ASSERT_TRUE(n.conn.shutdown().has_value());
  n.s.settle();
  auto fin = n.s.next_sent();
  ASSERT_TRUE(fin.has_value());
  ASSERT_TRUE(fin->has(flag::kFin));
  n.s.send(Seg{.flags = flag::kAck | flag::kFin, .seq = 1001, .ack = n.iss + 2,
               .options = ts(120, n.our_ts)},
           kPort);
  while (n.s.next_sent()) {
  }
  ASSERT_EQ(n.s.tcp.stats().time_wait, 1u);
}

// RFC 6191 §2: a SYN whose timestamp is newer than the TIME-WAIT connection's TS.Recent starts a
// new incarnation at once instead of earning an ACK.
TEST(TcpRobustness, NewerSynReusesTimeWait) {
  NegotiatedConnection n;
  reach_time_wait(n);
  if (::testing::Test::HasFatalFailure()) return;
  n.s.send(Seg{.flags = flag::kSyn, .seq = 900, .options = ts_sack_options(90)}, kPort);
  auto old = n.s.next_sent();  // older timestamp: still TIME-WAIT, answered with an ACK
  ASSERT_TRUE(old.has_value());
  EXPECT_FALSE(old->has(flag::kSyn));
  EXPECT_EQ(n.s.tcp.stats().time_wait_reused, 0u);
  n.s.send(Seg{.flags = flag::kSyn, .seq = 900, .options = ts_sack_options(500)}, kPort);
  auto synack = n.s.next_sent();
  ASSERT_TRUE(synack.has_value());
  EXPECT_EQ(synack->flags, flag::kSyn | flag::kAck);
  EXPECT_EQ(synack->ack.raw(), 901u);
  EXPECT_EQ(n.s.tcp.stats().time_wait_reused, 1u);
}

// RFC 6191 §2, second rule: a SYN whose TSval equals TS.Recent (a reconnect within one tick of
// the peer's timestamp clock) reuses TIME-WAIT when its sequence number is beyond the old
// incarnation's; at or below it the SYN is refused. A fast client reconnecting from the same port
// within a millisecond otherwise waited a whole SYN timeout.
TEST(TcpRobustness, SynWithTheSameTimestampReusesTimeWaitOnlyWithANewerSequenceNumber) {
  NegotiatedConnection n;
  reach_time_wait(n);
  if (::testing::Test::HasFatalFailure()) return;
  // RCV.NXT is 1002 (after the peer's FIN). Same TSval, sequence number not beyond: refused.
  n.s.send(Seg{.flags = flag::kSyn, .seq = 1002, .options = ts_sack_options(120)}, kPort);
  auto old = n.s.next_sent();
  ASSERT_TRUE(old.has_value());
  EXPECT_FALSE(old->has(flag::kSyn));
  EXPECT_EQ(n.s.tcp.stats().time_wait_reused, 0u);
  // Same TSval, sequence number beyond: a new incarnation.
  n.s.send(Seg{.flags = flag::kSyn, .seq = 7000, .options = ts_sack_options(120)}, kPort);
  auto synack = n.s.next_sent();
  ASSERT_TRUE(synack.has_value());
  EXPECT_EQ(synack->flags, flag::kSyn | flag::kAck);
  EXPECT_EQ(synack->ack.raw(), 7001u);
  EXPECT_EQ(n.s.tcp.stats().time_wait_reused, 1u);
}

// RFC 5961 §7: challenge ACKs are limited per second; the rest are counted, not sent.
TEST(TcpRobustness, ChallengeAcksAreRateLimited) {
  stack::tcp::TcpConfig cfg;
  cfg.challenge_ack_limit = 5;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  for (int i = 0; i < 20; ++i) {
    s.send(Seg{.flags = flag::kRst, .seq = 1001 + 10 + static_cast<std::uint32_t>(i)}, kPort);
  }
  // This second's budget lies in [limit/2, 3*limit/2] = [2, 7].
  const std::uint64_t first = s.tcp.stats().challenge_acks;
  EXPECT_GE(first, 2u);
  EXPECT_LE(first, 7u);
  EXPECT_EQ(first + s.tcp.stats().challenge_acks_suppressed, 20u);
  s.advance(1100ms);
  s.send(Seg{.flags = flag::kRst, .seq = 1050}, kPort);
  EXPECT_EQ(s.tcp.stats().challenge_acks, first + 1);  // a new second, a new budget
  EXPECT_EQ(e.conn.state(), State::kEstablished);
}

// RFC 5961 §10 / CVE-2016-5696: with the same budget every second, an off-path attacker could
// exhaust it and count the challenge ACKs left to tell whether a forged segment hit the window.
// The budget differs from second to second (and cannot be predicted without the layer's key).
TEST(TcpRobustness, ChallengeAckBudgetChangesFromSecondToSecond) {
  stack::tcp::TcpConfig cfg;
  cfg.challenge_ack_limit = 20;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  std::set<std::uint64_t> budgets;
  for (int second = 0; second < 30; ++second) {
    const std::uint64_t before = s.tcp.stats().challenge_acks;
    for (int i = 0; i < 40; ++i) {
      s.send(Seg{.flags = flag::kRst, .seq = 1001 + 10 + static_cast<std::uint32_t>(i)}, kPort);
    }
    const std::uint64_t sent = s.tcp.stats().challenge_acks - before;
    EXPECT_GE(sent, 10u);
    EXPECT_LE(sent, 30u);
    budgets.insert(sent);
    s.dev.sent.clear();
    s.advance(1001ms);
  }
  // 30 draws from 21 values: all equal with probability 21^-29.
  EXPECT_GT(budgets.size(), 1u);
  EXPECT_EQ(e.conn.state(), State::kEstablished);
}

// RFC 9293 §3.8.4 / RFC 5482: data unacknowledged for the user timeout ends the connection
// with "timed out", well before max_retries would.
TEST(TcpRobustness, UserTimeoutEndsAConnectionWhoseDataIsNeverAcked) {
  TcpScript s;
  auto e = s.establish(kPort);
  ASSERT_TRUE(e.conn.set_user_timeout(3s).has_value());
  EXPECT_FALSE(e.conn.set_user_timeout(-1s).has_value());
  auto w = s.v.reactor.block_on(e.conn.write(bytes_of("unanswered")));
  ASSERT_TRUE(w.has_value());
  for (int i = 0; i < 10 && e.conn.state() != State::kClosed; ++i) s.advance(1s);
  EXPECT_EQ(e.conn.state(), State::kClosed);
  EXPECT_EQ(s.tcp.stats().user_timeouts, 1u);
  std::byte b[4];
  auto r = s.v.reactor.block_on(e.conn.read(b));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
}

// An ICMP error from a router on the path, quoting the IP header and first 8 bytes of one of
// our segments (RFC 792 / RFC 1191 for type 3 code 4).
void send_icmp_error(TcpScript& s, std::uint8_t type, std::uint8_t code, std::uint16_t mtu,
                     std::uint32_t quoted_seq) {
  s.dev.inject(hostile::icmp_error_frame(type, code, mtu, quoted_seq));
  s.settle();
}

// RFC 1191 §6.4: "fragmentation needed" quoting a segment in flight lowers the MSS to the next
// hop's MTU less the headers; RFC 5927 §4.1: one quoting a sequence number not in flight is
// ignored.
TEST(TcpRobustness, FragmentationNeededLowersTheMssOnlyForSegmentsInFlight) {
  TcpScript s;
  auto e = s.establish(kPort, TcpOptions{.mss = 1460});
  ASSERT_TRUE(e.conn.set_no_delay(true).has_value());
  std::vector<std::byte> data(3000, std::byte{3});
  ASSERT_TRUE(s.v.reactor.block_on(e.conn.write(data)).has_value());
  s.settle();
  while (s.next_sent()) {
  }
  send_icmp_error(s, 3, 4, 1000, e.our_iss + 1 + 50000);  // stale: not in flight
  EXPECT_EQ(s.tcp.stats().pmtu_reductions, 0u);
  send_icmp_error(s, 3, 4, 1000, e.our_iss + 1);
  EXPECT_EQ(s.tcp.stats().pmtu_reductions, 1u);
  s.advance(1100ms);  // the retransmission uses the smaller size
  std::vector<std::byte> payload;
  auto rx = s.next_sent(&payload);
  ASSERT_TRUE(rx.has_value());
  EXPECT_EQ(rx->seq.raw(), e.our_iss + 1);
  EXPECT_EQ(payload.size(), 960u);  // 1000 - 20 (IP) - 20 (TCP)
}

// RFC 1122 §4.2.3.9: an unreachable for an established connection is soft: the connection
// lives on, and if it later times out the error says what the network reported.
TEST(TcpRobustness, SoftIcmpErrorExplainsALaterTimeout) {
  stack::tcp::TcpConfig cfg;
  cfg.max_retries = 2;
  TcpScript s(cfg);
  auto e = s.establish(kPort);
  ASSERT_TRUE(s.v.reactor.block_on(e.conn.write(bytes_of("lost"))).has_value());
  s.settle();
  send_icmp_error(s, 3, 1, 0, e.our_iss + 1);
  EXPECT_EQ(e.conn.state(), State::kEstablished);
  EXPECT_EQ(s.tcp.stats().icmp_soft_errors, 1u);
  for (int i = 0; i < 30 && e.conn.state() != State::kClosed; ++i) s.advance(1s);
  ASSERT_EQ(e.conn.state(), State::kClosed);
  std::byte b[4];
  auto r = s.v.reactor.block_on(e.conn.read(b));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kTimedOut);
  EXPECT_NE(r.error().message().find("type 3 code 1"), std::string::npos) << r.error().message();
}

// RFC 1122 §4.2.3.4 sender SWS avoidance: a small window (below half the largest offered) does
// not draw out a tiny segment; once the window opens, full segments go.
TEST(TcpRobustness, SenderWaitsOutASillyWindow) {
  TcpScript s;
  auto e = s.establish(kPort, TcpOptions{.mss = 1460});
  ASSERT_TRUE(e.conn.set_no_delay(true).has_value());
  std::vector<std::byte> data(4000, std::byte{4});
  // The peer offers 65535, then acknowledges the first segment shrinking its window to 100.
  ASSERT_TRUE(s.v.reactor.block_on(e.conn.write(std::span(data).first(1460))).has_value());
  s.settle();
  ASSERT_TRUE(s.next_sent().has_value());
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = e.our_iss + 1 + 1460, .window = 100},
         kPort);
  ASSERT_TRUE(s.v.reactor.block_on(e.conn.write(std::span(data).subspan(1460))).has_value());
  s.settle();
  EXPECT_EQ(s.pending_sent(), 0u);  // 100 bytes would be a silly segment
  EXPECT_GT(s.tcp.stats().sws_delays, 0u);
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = e.our_iss + 1 + 1460, .window = 30000},
         kPort);
  std::vector<std::byte> payload;
  auto seg = s.next_sent(&payload);
  ASSERT_TRUE(seg.has_value());
  EXPECT_EQ(payload.size(), 1460u);
}

// RFC 2525 §2.17 / RFC 1122 §4.2.2.13: close() with received data never read resets the
// connection (the peer must not believe it was consumed) and says so.
TEST(TcpRobustness, CloseWithUnreadDataResetsAndReportsIt) {
  TcpScript s;
  auto e = s.establish(kPort);
  s.send(Seg{.flags = flag::kAck | flag::kPsh, .seq = 1001, .ack = e.our_iss + 1,
             .payload = bytes_of("unread")},
         kPort);
  while (s.next_sent()) {
  }
  auto r = s.v.reactor.block_on(e.conn.close());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::kConnectionAborted);
  EXPECT_NE(r.error().message().find("6 received bytes"), std::string::npos);
  s.settle();
  auto rst = s.next_sent();
  ASSERT_TRUE(rst.has_value());
  EXPECT_TRUE(rst->has(flag::kRst));
}

// Data arriving while close() waits for its FIN to be acknowledged has no reader: the
// connection is reset instead of offering a window nobody drains, and close() reports it.
TEST(TcpRobustness, DataDuringCloseResetsInsteadOfStalling) {
  TcpScript s;
  auto e = s.establish(kPort);
  std::optional<Result<void>> closed;
  s.v.reactor.spawn(states::close_task(&e.conn, &closed));
  s.settle();
  auto fin = s.next_sent();
  ASSERT_TRUE(fin.has_value());
  ASSERT_TRUE(fin->has(flag::kFin));
  // The peer has not seen the FIN yet and sends data.
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = e.our_iss + 1, .payload = bytes_of("late")},
         kPort);
  auto rst = s.next_sent();
  ASSERT_TRUE(rst.has_value());
  EXPECT_TRUE(rst->has(flag::kRst));
  EXPECT_EQ(rst->seq.raw(), e.our_iss + 2);  // SND.MAX: after our FIN
  EXPECT_EQ(s.tcp.stats().rx_after_close, 1u);
  ASSERT_TRUE(closed.has_value());
  ASSERT_FALSE(closed->has_value());
  EXPECT_EQ(closed->error().code(), Errc::kConnectionAborted);
}

// A peer that acknowledges our FIN and never sends its own must not pin a closed connection's
// TCB forever (TcpConfig::fin_wait_2_timeout, Linux's tcp_fin_timeout): after the timeout the
// connection goes away silently. A half-closed connection whose user still holds the handle
// (shutdown(), still reading) is left alone: RFC 9293 lets FIN-WAIT-2 last as long as the user
// wants.
TEST(TcpRobustness, ClosedConnectionLeavesFinWait2AfterTheTimeout) {
  TcpScript s;
  auto e = s.establish(kPort);
  std::optional<Result<void>> closed;
  s.v.reactor.spawn(states::close_task(&e.conn, &closed));
  s.settle();
  auto fin = s.next_sent();
  ASSERT_TRUE(fin.has_value());
  ASSERT_TRUE(fin->has(flag::kFin));
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = e.our_iss + 2}, kPort);  // FIN acked
  ASSERT_TRUE(closed.has_value());
  EXPECT_TRUE(closed->has_value());
  EXPECT_EQ(s.tcp.connection_count(), 1u);  // FIN-WAIT-2, waiting for the peer's FIN
  s.advance(59s);
  EXPECT_EQ(s.tcp.connection_count(), 1u);
  s.advance(2s);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  EXPECT_EQ(s.tcp.stats().fin_wait_2_timeouts, 1u);
  EXPECT_EQ(s.pending_sent(), 0u);  // silently: no RST
}

TEST(TcpRobustness, HalfClosedConnectionStaysInFinWait2WhileItsUserReads) {
  TcpScript s;
  auto e = s.establish(kPort);
  ASSERT_TRUE(e.conn.shutdown().has_value());
  s.settle();
  auto fin = s.next_sent();
  ASSERT_TRUE(fin.has_value());
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = e.our_iss + 2}, kPort);
  EXPECT_EQ(e.conn.state(), State::kFinWait2);
  s.advance(10min);
  EXPECT_EQ(e.conn.state(), State::kFinWait2);
  EXPECT_EQ(s.tcp.stats().fin_wait_2_timeouts, 0u);
  // Dropping the handle now starts the timeout.
  e.conn = stack::tcp::Connection();
  s.advance(61s);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  EXPECT_EQ(s.tcp.stats().fin_wait_2_timeouts, 1u);
}

// RFC 1122 §4.2.2.17: a zero window is probed for as long as the peer answers the probes, but a
// peer that closes its window and then falls silent is given up after max_retries like any
// unanswered retransmission (found by tests/fuzz/frame_fuzz: it was probed forever, and a FIN
// behind such a window kept a closed connection alive forever).
// A connection (max_retries 5) whose peer closed its window, with bytes waiting behind it.
struct BehindAZeroWindow {
  BehindAZeroWindow() : s(config()), e(s.establish(kPort)) {
    s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = e.our_iss + 1, .window = 0}, kPort);
    EXPECT_TRUE(s.v.reactor.block_on(e.conn.write(bytes_of("waiting for a window"))).has_value());
  }
  static stack::tcp::TcpConfig config() {
    stack::tcp::TcpConfig cfg;
    cfg.max_retries = 5;
    return cfg;
  }
  TcpScript s;
  TcpScript::Established e;
};

TEST(TcpRobustness, SilentPeerBehindAZeroWindowTimesOut) {
  BehindAZeroWindow z;
  TcpScript& s = z.s;
  auto& e = z.e;
  for (int i = 0; i < 3600 && e.conn.state() != State::kClosed; ++i) s.advance(1s);
  EXPECT_EQ(e.conn.state(), State::kClosed);
  EXPECT_EQ(s.tcp.stats().connections_timed_out, 1u);
  EXPECT_GE(s.tcp.stats().persist_probes, 5u);
}

TEST(TcpRobustness, ZeroWindowIsProbedForAsLongAsThePeerAnswers) {
  BehindAZeroWindow z;
  TcpScript& s = z.s;
  auto& e = z.e;
  for (int i = 0; i < 3600; ++i) {
    s.advance(1s);
    while (auto probe = s.next_sent()) {  // each probe answered: still no room
      s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = e.our_iss + 1, .window = 0}, kPort);
    }
  }
  EXPECT_EQ(e.conn.state(), State::kEstablished);
  EXPECT_GT(s.tcp.stats().persist_probes, 5u);
  EXPECT_EQ(s.tcp.stats().connections_timed_out, 0u);
}

// A reader suspended in read() while another coroutine closes the connection is woken with an
// answer, and the TCB outlives it (no use after free under ASan).
TEST(TcpRobustness, ReaderSuspendedDuringCloseIsWokenSafely) {
  TcpScript s;
  auto e = s.establish(kPort);
  std::optional<Result<std::size_t>> got;
  auto reader = [&]() -> coro::Task<void> {
    std::byte b[16];
    got = co_await e.conn.read(b);
  };
  s.v.reactor.spawn(reader());
  s.settle();
  ASSERT_FALSE(got.has_value());
  auto closer = [&]() -> coro::Task<void> { (void)co_await e.conn.close(); };
  s.v.reactor.spawn(closer());
  s.settle();
  // The peer acknowledges our FIN and sends data nobody will read: reset.
  s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = e.our_iss + 2, .payload = bytes_of("x")},
         kPort);
  s.settle();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(s.tcp.stats().live_tcbs, 0u);
}

}  // namespace
}  // namespace coronet::testing
