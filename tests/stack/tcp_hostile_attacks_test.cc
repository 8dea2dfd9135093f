// Hostile input against one coronet endpoint (the scripted bench of tcp_script.h), part two:
// RFC 5961 blind in-window attacks, ACKs for data never sent, out-of-order floods aimed at memory,
// tiny-window (slow reader) peers and forged ICMP errors. Every test checks three things: the
// input is dropped or handled as the cited RFC says, a counter records it, and a victim connection
// established before the attack still carries data both ways, byte-exact and in order, afterwards.
// Part one (malformed headers, bogus options): tcp_hostile_headers_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "tests/stack/tcp_hostile_helpers.h"

namespace coronet::testing::hostile {
namespace {

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
}  // namespace coronet::testing::hostile
