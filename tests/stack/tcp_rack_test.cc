// Scripted tests for RACK-TLP (RFC 8985) and D-SACK (RFC 2883) against one coronet endpoint on
// virtual time: tail loss probes, the reordering window, lost retransmissions found without a
// timeout, the RTO's loss marking, and the duplicate reports coronet sends as a receiver.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "tests/stack/tcp_script.h"

namespace coronet::testing {
namespace {

using namespace std::chrono_literals;
using stack::tcp::SackBlock;
using stack::tcp::SeqNum;
using stack::tcp::TcpHeader;
using stack::tcp::TcpOptions;
namespace flag = stack::tcp::flag;

constexpr std::uint16_t kPort = 80;
constexpr std::uint32_t kMss = 1448;  // 1460 less the timestamp option

// A connection whose RTT estimate is 20 ms (SRTT 20 ms, RTO 200 ms, RACK.min_RTT 20 ms): one
// small segment is sent and acknowledged 20 ms later. `next` is the next sequence number we
// send; `ts_peer` the peer's TSval to use next.
struct Timed {
  explicit Timed(stack::tcp::TcpConfig cfg = {}) : n(cfg, kPort, 20ms) {
    (void)n.conn.set_no_delay(true);
    echo = n.our_ts;
    write(100);
    if (drain().size() != 1) {
      ADD_FAILURE() << "expected one segment";
      return;
    }
    next = n.iss + 1 + 100;
    n.s.advance(20ms);
    ack(next, {});
  }
  void write(std::size_t bytes) {
    std::vector<std::byte> data(bytes, std::byte{7});
    auto w = n.s.v.reactor.block_on(n.conn.write(data));
    EXPECT_TRUE(w.has_value());
    n.s.settle();
  }
  // The peer acknowledges `ack` with SACK blocks, echoing the newest timestamp it has seen
  // (RFC 7323 §4.3).
  void ack(std::uint32_t a, std::vector<SackBlock> blocks) {
    TcpOptions o = ts(++ts_peer, echo);
    o.sack_count = static_cast<std::uint8_t>(blocks.size());
    for (std::size_t i = 0; i < blocks.size(); ++i) o.sack[i] = blocks[i];
    n.s.send(Seg{.flags = flag::kAck, .seq = 1001, .ack = a, .options = o}, kPort);
  }
  std::vector<TcpHeader> drain() {
    std::vector<TcpHeader> out;
    while (auto h = n.s.next_sent()) {
      if (h->options.ts_val) echo = *h->options.ts_val;
      out.push_back(*h);
    }
    return out;
  }
  const stack::tcp::TcpStats& stats() const { return n.s.tcp.stats(); }

  NegotiatedConnection n;
  std::uint32_t echo = 0;
  std::uint32_t next = 0;
  std::uint32_t ts_peer = 200;
};

SackBlock block(std::uint32_t l, std::uint32_t r) { return SackBlock{SeqNum(l), SeqNum(r)}; }

// RFC 8985 §7.2-7.3: a tail of three segments goes unanswered; 2*SRTT + a tick later (42 ms,
// well before the 200 ms RTO) the last segment goes again as a probe, and nothing earlier.
TEST(TcpRack, TailLossProbeResendsTheLastSegmentBeforeTheRto) {
  Timed c;
  c.write(3 * kMss);
  auto sent = c.drain();
  ASSERT_EQ(sent.size(), 3u);
  c.n.s.advance(41ms);
  EXPECT_EQ(c.n.s.pending_sent(), 0u);
  c.n.s.advance(2ms);
  auto probe = c.drain();
  ASSERT_EQ(probe.size(), 1u);
  EXPECT_EQ(probe[0].seq.raw(), c.next + 2 * kMss);
  EXPECT_EQ(c.stats().tlp_probes, 1u);
  EXPECT_EQ(c.stats().tlp_new_data, 0u);
  EXPECT_EQ(c.stats().rto_expiries, 0u);
  // RFC 8985 §7.3: one probe per episode; the RTO (restarted by the probe) comes next.
  c.n.s.advance(150ms);
  EXPECT_EQ(c.n.s.pending_sent(), 0u);
  c.n.s.advance(60ms);
  EXPECT_EQ(c.stats().rto_expiries, 1u);
}

// RFC 8985 §7.3: with unsent data the window allows (only cwnd holds it back), the probe is
// the next new segment rather than a retransmission.
TEST(TcpRack, TailLossProbeSendsNewDataWhenThereIsSome) {
  Timed c;
  c.write(12 * kMss);
  auto sent = c.drain();
  ASSERT_EQ(sent.size(), 10u);  // the initial window (RFC 6928)
  c.n.s.advance(43ms);
  auto probe = c.drain();
  ASSERT_EQ(probe.size(), 1u);
  EXPECT_EQ(probe[0].seq.raw(), c.next + 10 * kMss);
  EXPECT_EQ(c.stats().tlp_new_data, 1u);
}

// RFC 8985 §6.2: a SACK for a later segment does not make an earlier one lost at once before
// DupThresh segments are SACKed: it waits a reordering window (min_RTT / 4 = 5 ms) and only
// then retransmits (the reordering timer).
TEST(TcpRack, ReorderingWindowDelaysTheRetransmission) {
  Timed c;
  c.write(3 * kMss);
  ASSERT_EQ(c.drain().size(), 3u);
  c.n.s.advance(20ms);
  c.ack(c.next, {block(c.next + kMss, c.next + 2 * kMss)});
  EXPECT_EQ(c.n.s.pending_sent(), 0u);
  c.n.s.advance(4ms);
  EXPECT_EQ(c.n.s.pending_sent(), 0u);
  c.n.s.advance(2ms);
  auto rx = c.drain();
  ASSERT_EQ(rx.size(), 1u);
  EXPECT_EQ(rx[0].seq.raw(), c.next);
  EXPECT_EQ(c.stats().rack_reorder_timeouts, 1u);
  EXPECT_EQ(c.stats().recoveries, 1u);
}

// RFC 8985 §6.2 step 4: with DupThresh segments SACKed and no reordering seen, the first one is
// lost at once (the classic fast retransmit).
TEST(TcpRack, ThreeSackedSegmentsRetransmitAtOnce) {
  Timed c;
  c.write(4 * kMss);
  ASSERT_EQ(c.drain().size(), 4u);
  c.n.s.advance(20ms);
  c.ack(c.next, {block(c.next + kMss, c.next + 4 * kMss)});
  auto rx = c.drain();
  ASSERT_GE(rx.size(), 1u);
  EXPECT_EQ(rx[0].seq.raw(), c.next);
  EXPECT_EQ(c.stats().fast_retransmits, 1u);
  EXPECT_EQ(c.stats().rack_reorder_timeouts, 0u);
}

// RFC 8985 §6.2 (the case DupThresh cannot see): the retransmission itself is lost. A segment
// sent after it is SACKed, so RACK calls the retransmission lost too and sends it a third
// time, with no retransmission timeout.
TEST(TcpRack, LostRetransmissionIsResentWithoutATimeout) {
  Timed c;
  c.write(14 * kMss);
  auto first = c.drain();
  ASSERT_EQ(first.size(), 10u);
  c.n.s.advance(20ms);
  // Segment 0 lost; 1-9 arrive.
  c.ack(c.next, {block(c.next + kMss, c.next + 10 * kMss)});
  auto recovery = c.drain();
  ASSERT_GE(recovery.size(), 2u);
  EXPECT_EQ(recovery[0].seq.raw(), c.next);  // the fast retransmit
  std::uint32_t newest = 0;
  for (const auto& h : recovery) newest = std::max(newest, h.seq.raw() - c.next);
  ASSERT_GE(newest, 10 * kMss);  // new data went after it
  c.n.s.advance(20ms);
  // The retransmission is lost too, the new segment sent after it arrives.
  c.ack(c.next, {block(c.next + kMss, c.next + newest + kMss)});
  auto again = c.drain();
  ASSERT_GE(again.size(), 1u);
  EXPECT_EQ(again[0].seq.raw(), c.next);
  EXPECT_EQ(c.stats().rto_expiries, 0u);
  EXPECT_GE(c.stats().rack_losses, 2u);
  EXPECT_EQ(c.stats().recoveries, 1u);  // still the same recovery episode
}

// RFC 8985 §6.3 with RFC 5681 §3.1: on RTO only the first unacknowledged segment is resent
// (cwnd = 1 segment); the ACK for it lets two more go (slow start over the segments deemed lost).
TEST(TcpRack, TimeoutResendsTheFirstSegmentThenSlowStarts) {
  Timed c;
  c.write(6 * kMss);
  ASSERT_EQ(c.drain().size(), 6u);
  // No answer at all: the probe at 42 ms, then the RTO 200 ms after it.
  c.n.s.advance(43ms);
  ASSERT_EQ(c.drain().size(), 1u);
  c.n.s.advance(200ms);
  EXPECT_EQ(c.stats().rto_expiries, 1u);
  auto rto = c.drain();
  ASSERT_EQ(rto.size(), 1u);
  EXPECT_EQ(rto[0].seq.raw(), c.next);
  c.n.s.advance(20ms);
  c.ack(c.next + kMss, {});
  auto more = c.drain();
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[0].seq.raw(), c.next + kMss);
  EXPECT_EQ(more[1].seq.raw(), c.next + 2 * kMss);
}

// RFC 8985 §7.4: a probe that retransmitted the tail and drew an ACK beyond it, without a
// D-SACK saying the original arrived, repaired a real loss: cwnd is reduced as in fast recovery.
TEST(TcpRack, ProbeThatRepairedALossReducesTheWindow) {
  Timed c;
  c.write(2 * kMss);
  ASSERT_EQ(c.drain().size(), 2u);
  c.n.s.advance(43ms);
  ASSERT_EQ(c.drain().size(), 1u);  // the probe (segment 1 again)
  c.n.s.advance(20ms);
  c.ack(c.next + 2 * kMss, {});  // everything, up to the probe's end
  EXPECT_EQ(c.stats().tlp_loss_repaired, 0u);  // not yet beyond it
  c.write(kMss);
  ASSERT_EQ(c.drain().size(), 1u);
  c.n.s.advance(20ms);
  c.ack(c.next + 3 * kMss, {});
  EXPECT_EQ(c.stats().tlp_loss_repaired, 1u);
}

// RFC 8985 §7.4 with RFC 2883: a D-SACK for the probe shows the original had arrived: no
// window reduction.
TEST(TcpRack, DsackForTheProbeMeansNoLoss) {
  Timed c;
  c.write(2 * kMss);
  ASSERT_EQ(c.drain().size(), 2u);
  c.n.s.advance(43ms);
  ASSERT_EQ(c.drain().size(), 1u);
  c.n.s.advance(20ms);
  const std::uint32_t end = c.next + 2 * kMss;
  c.ack(end, {block(end - kMss, end)});  // first block below the ACK: a D-SACK
  EXPECT_EQ(c.stats().dsacks_received, 1u);
  c.write(kMss);
  c.drain();
  c.n.s.advance(20ms);
  c.ack(end + kMss, {});
  EXPECT_EQ(c.stats().tlp_loss_repaired, 0u);
}

// RFC 2883 §4 as a receiver: a segment that arrives twice is reported in the next ACK's first
// SACK block, below the cumulative ACK, once.
TEST(TcpRack, DuplicateSegmentDrawsADsack) {
  NegotiatedConnection n({}, kPort);
  const std::vector<std::byte> data(100, std::byte{1});
  auto seg = [&](std::uint32_t seq, std::uint32_t tsv) {
    n.s.send(Seg{.flags = flag::kAck, .seq = seq, .ack = n.iss + 1, .payload = data,
                 .options = ts(tsv, n.our_ts)},
             kPort);
  };
  seg(1001, 101);
  n.s.advance(50ms);  // the delayed ACK
  while (n.s.next_sent()) {
  }
  seg(1001, 102);  // again
  auto a = n.s.next_sent();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->ack.raw(), 1101u);
  ASSERT_EQ(a->options.sack_count, 1u);
  EXPECT_EQ(a->options.sack[0].left.raw(), 1001u);
  EXPECT_EQ(a->options.sack[0].right.raw(), 1101u);
  EXPECT_EQ(n.s.tcp.stats().dsacks_sent, 1u);
  // Out of order, twice: the D-SACK comes first, then the island holding it (RFC 2883 §4).
  seg(1201, 103);
  while (n.s.next_sent()) {
  }
  seg(1201, 104);
  auto b = n.s.next_sent();
  ASSERT_TRUE(b.has_value());
  ASSERT_EQ(b->options.sack_count, 2u);
  EXPECT_EQ(b->options.sack[0].left.raw(), 1201u);
  EXPECT_EQ(b->options.sack[0].right.raw(), 1301u);
  EXPECT_EQ(b->options.sack[1].left.raw(), 1201u);
  EXPECT_EQ(b->options.sack[1].right.raw(), 1301u);
  // Reported once: the next ACK carries only the island.
  seg(1101, 105);
  auto c = n.s.next_sent();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->ack.raw(), 1301u);
  EXPECT_EQ(c->options.sack_count, 0u);
}

// With rack off (TcpConfig::rack), the same tail waits for the RTO: RFC 6675 alone.
TEST(TcpRack, WithoutRackATailWaitsForTheTimeout) {
  stack::tcp::TcpConfig cfg;
  cfg.rack = false;
  Timed c(cfg);
  c.write(3 * kMss);
  ASSERT_EQ(c.drain().size(), 3u);
  c.n.s.advance(150ms);
  EXPECT_EQ(c.n.s.pending_sent(), 0u);
  c.n.s.advance(60ms);
  EXPECT_EQ(c.stats().rto_expiries, 1u);
  EXPECT_EQ(c.stats().tlp_probes, 0u);
}

}  // namespace
}  // namespace coronet::testing
