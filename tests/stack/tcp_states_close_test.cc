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
// This file: FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT, CLOSING, LAST-ACK and TIME-WAIT. Shared helpers: tcp_states_helpers.h.
#include "tests/stack/tcp_states_helpers.h"

namespace coronet::testing::states {
namespace {

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

TEST(TcpLastAck, RstWhenOnlyTheFinIsOutstandingEndsCloseWithoutError) {
  // RFC 9293 §3.10.7.4 second, LAST-ACK: a RST deletes the TCB, no "connection reset" for the
  // user. Found by tests/soak: the peer's TIME-WAIT ran out while our FIN kept being lost, and
  // close() failed although every byte had been delivered.
  TcpScript s;
  auto e = reach(s, State::kCloseWait);
  std::optional<Result<void>> closed;
  s.v.reactor.spawn(close_task(&e.conn, &closed));
  s.settle();
  (void)drain_sent(s);
  EXPECT_FALSE(closed);
  s.send(Seg{.flags = flag::kRst, .seq = kIrs + 2}, kPort);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->has_value()) << closed->error().message();
  EXPECT_EQ(s.tcp.connection_count(), 0u);
  EXPECT_EQ(s.tcp.stats().connections_reset, 0u);
}

TEST(TcpLastAck, RstWithDataOutstandingIsStillReported) {
  // The peer may not have our data: close() must not claim success.
  TcpScript s;
  auto e = reach(s, State::kCloseWait);
  write_now(s, e.conn, bytes_of("unacknowledged"));
  std::optional<Result<void>> closed;
  s.v.reactor.spawn(close_task(&e.conn, &closed));
  s.settle();
  (void)drain_sent(s);
  s.send(Seg{.flags = flag::kRst, .seq = kIrs + 2}, kPort);
  ASSERT_TRUE(closed);
  ASSERT_FALSE(closed->has_value());
  EXPECT_EQ(closed->error().code(), Errc::kConnectionReset);
  EXPECT_EQ(s.tcp.connection_count(), 0u);
}

TEST(TcpClosing, RstWhenOnlyTheFinIsOutstandingEndsCloseWithoutError) {
  // RFC 9293 §3.10.7.4 second, CLOSING: as in LAST-ACK.
  TcpScript s;
  auto e = reach(s, State::kClosing);
  std::optional<Result<void>> closed;
  s.v.reactor.spawn(close_task(&e.conn, &closed));
  s.settle();
  EXPECT_FALSE(closed);
  s.send(Seg{.flags = flag::kRst, .seq = kIrs + 2}, kPort);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->has_value()) << closed->error().message();
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
}  // namespace coronet::testing::states
