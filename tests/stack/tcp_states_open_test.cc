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
//
// This file: CLOSED, LISTEN, SYN-SENT and SYN-RECEIVED. Shared helpers: tcp_states_helpers.h.
#include "tests/stack/tcp_states_helpers.h"

namespace coronet::testing::states {
namespace {

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

TEST(TcpSynReceived, ClosingTheListenerResetsItsHalfOpenChildren) {
  // RFC 9293 §3.10.4 CLOSE of a LISTEN: nobody will accept the SYN-RECEIVED child any more; it is
  // reset and forgotten, while an unrelated established connection carries on.
  TcpScript s;
  auto e = s.establish(kPort + 1);  // another listener's established connection
  std::optional<stack::tcp::Listener> other = std::move(s.listener);
  s.listener.reset();
  auto sa = syn_to_listener(s);  // a listener on kPort and its SYN-RECEIVED child
  ASSERT_TRUE(sa);
  (void)drain_sent(s);
  ASSERT_EQ(s.tcp.connection_count(), 2u);
  s.listener.reset();  // closes kPort's listener
  s.settle();
  auto rst = s.next_sent();
  ASSERT_TRUE(rst);
  EXPECT_TRUE(rst->flags & flag::kRst);
  EXPECT_EQ(s.tcp.connection_count(), 1u);
  EXPECT_EQ(e.conn.state(), State::kEstablished);
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

}  // namespace
}  // namespace coronet::testing::states
