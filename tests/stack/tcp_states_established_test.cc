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
// This file: ESTABLISHED. Shared helpers: tcp_states_helpers.h.
#include "tests/stack/tcp_states_helpers.h"

namespace coronet::testing::states {
namespace {

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

}  // namespace
}  // namespace coronet::testing::states
