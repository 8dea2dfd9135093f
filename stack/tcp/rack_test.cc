// SegmentLog, Rack and the RACK-TLP steps against RFC 8985 (§6.2 steps 1-5, §6.3), RFC 6675 §4
// (SetPipe) and RFC 2018 §8. Sequence numbers start just below 2^32 so modular order is exercised.
#include "stack/tcp/rack.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace coronet::stack::tcp {
namespace {

constexpr std::uint32_t kBase = 0xFFFFFF00u;  // offsets >= 256 wrap past 2^32
SeqNum S(std::uint32_t off) { return SeqNum(kBase) + off; }
coro::Duration ms(int n) { return std::chrono::milliseconds(n); }
coro::TimePoint T(int n) { return coro::TimePoint{} + ms(n); }
std::int64_t ns(coro::Duration d) { return d.count(); }

// Appends `count` records of `len` bytes from offset `off`, the i-th sent at t_ms + i.
void append(SegmentLog& log, std::uint32_t off, std::uint32_t len, std::size_t count = 1,
            int t_ms = 0) {
  for (std::size_t i = 0; i < count; ++i) {
    log.on_send(S(off + static_cast<std::uint32_t>(i) * len), len, T(t_ms + static_cast<int>(i)),
                0);
  }
}

struct Collector {
  std::vector<SentSegment> got;
  auto fn() { return [this](const SentSegment& s) { got.push_back(s); }; }
};

using V = std::vector<std::uint32_t>;

// Recomputes every counter from the records and checks the ring's shape.
::testing::AssertionResult consistent(const SegmentLog& log) {
  std::uint64_t out = 0, sacked = 0, lost = 0, retrans = 0, segs = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const SentSegment& s = log[i];
    if (s.len == 0) return ::testing::AssertionFailure() << "empty record " << i;
    if (i + 1 < log.size() && s.end() != log[i + 1].seq)
      return ::testing::AssertionFailure() << "gap/overlap after record " << i;
    out += s.len;
    if (s.has(SentSegment::kSacked)) {
      sacked += s.len;
      ++segs;
      continue;
    }
    if (s.has(SentSegment::kLost)) lost += s.len;
    if (s.has(SentSegment::kRetrans)) retrans += s.len;
  }
  if (out != log.outstanding() || sacked != log.sacked_bytes() || lost != log.lost_bytes() ||
      retrans != log.retrans_bytes() || segs != log.sacked_segments()) {
    return ::testing::AssertionFailure() << "counters disagree with the records";
  }
  if (log.pipe() != out - sacked - lost + retrans) return ::testing::AssertionFailure() << "pipe";
  if (!log.empty() && static_cast<std::uint32_t>(log.end() - log[0].seq) != log.outstanding())
    return ::testing::AssertionFailure() << "end() - first seq != outstanding";
  return ::testing::AssertionSuccess();
}

// {outstanding, SACKed, lost, retransmitted} bytes, after checking them against the records.
std::vector<std::uint32_t> counts(const SegmentLog& log) {
  EXPECT_TRUE(consistent(log));
  return {log.outstanding(), log.sacked_bytes(), log.lost_bytes(), log.retrans_bytes()};
}

// One letter per record: S SACKed, L lost, R retransmission in flight, B lost and resent, . none.
std::string states(const SegmentLog& log) {
  std::string r;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const SentSegment& s = log[i];
    const bool l = s.has(SentSegment::kLost), x = s.has(SentSegment::kRetrans);
    r += s.has(SentSegment::kSacked) ? 'S' : l && x ? 'B' : l ? 'L' : x ? 'R' : '.';
  }
  return r;
}

// Start offsets (from kBase) of the records in a log or a vector.
template <class L>
V offs(const L& log) {
  V r;
  for (std::size_t i = 0; i < log.size(); ++i) r.push_back(log[i].seq.raw() - kBase);
  return r;
}
const auto ignore = [](const SentSegment&) {};

// RFC 6675 §4 SetPipe: with nothing SACKed or lost, every sent byte is in the pipe.
TEST(SegmentLog, AppendSumsOutstandingAndPipeEqualsIt) {
  SegmentLog log;
  log.on_send(S(0), 100, T(0), 1);
  log.on_send(S(100), 250, T(1), 2);
  log.on_send(S(350), 1, T(2), 3);  // a FIN
  EXPECT_EQ(offs(log), (V{0, 100, 350}));
  EXPECT_EQ(counts(log), (V{351, 0, 0, 0}));
  EXPECT_EQ(log.pipe(), 351u);
  EXPECT_EQ(log.end(), S(351));
  EXPECT_EQ(log[1].len, 250u);
  EXPECT_EQ(log[1].ts_val, 2u);
  EXPECT_TRUE(log[1].xmit == T(1));
}

// rack.h: the log is capped; no new segment once full.
TEST(SegmentLog, FullAtConstructorCap) {
  SegmentLog log(5);
  append(log, 0, 10, 4);
  EXPECT_FALSE(log.full());
  append(log, 40, 10);
  EXPECT_TRUE(log.full());
  log.advance(S(10), ignore);
  EXPECT_FALSE(log.full());
}

// rack.h: the ring grows past kInitialCapacity and keeps sequence order across its wrap-around.
TEST(SegmentLog, RingGrowsAndKeepsOrderAcrossWrap) {
  SegmentLog log;
  append(log, 0, 10, 10);
  log.advance(S(60), ignore);  // head moves to slot 6
  append(log, 100, 10, 12);    // 16 records: slots 6..15 then 0..5
  EXPECT_EQ(log.capacity(), SegmentLog::kInitialCapacity);
  for (std::size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].seq, S(60 + 10 * i)) << i;
  append(log, 220, 10, 100);
  ASSERT_EQ(log.size(), 116u);
  EXPECT_GE(log.capacity(), 116u);
  for (std::size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].seq, S(60 + 10 * i)) << i;
  EXPECT_EQ(counts(log), (V{1160, 0, 0, 0}));
}

// RFC 8985 §6.2 step 2: a cumulative ACK newly delivers only the records not SACKed before.
TEST(SegmentLog, AdvanceReportsOnlyRecordsNotSackedBefore) {
  SegmentLog log;
  append(log, 0, 100, 4);
  log.sack(S(100), S(200), ignore);
  Collector c;
  log.advance(S(300), c.fn());
  EXPECT_EQ(offs(c.got), (V{0, 200}));
  EXPECT_EQ(offs(log), (V{300}));
  EXPECT_EQ(counts(log), (V{100, 0, 0, 0}));
  EXPECT_EQ(log.sacked_segments(), 0u);
}

// RFC 8985 §6.2 step 2: a record straddling SND.UNA is trimmed, not delivered.
TEST(SegmentLog, AdvanceTrimsRecordStraddlingUna) {
  SegmentLog log;
  append(log, 0, 100, 3);
  log.mark_lost(0);
  log.sack(S(100), S(200), ignore);
  Collector c;
  log.advance(S(30), c.fn());
  EXPECT_TRUE(c.got.empty());
  EXPECT_EQ(offs(log), (V{30, 100, 200}));
  EXPECT_EQ(log[0].len, 70u);
  EXPECT_EQ(counts(log), (V{270, 100, 70, 0}));
  log.advance(S(150), c.fn());  // into the SACKed record
  EXPECT_EQ(offs(c.got), (V{30}));
  EXPECT_EQ(offs(log), (V{150, 200}));
  EXPECT_EQ(states(log), "S.");
  EXPECT_EQ(counts(log), (V{150, 50, 0, 0}));
  EXPECT_EQ(log.sacked_segments(), 1u);
}

// RFC 8985 §6.2 step 2: each SACKed record is newly delivered once; a repeated block is not.
TEST(SegmentLog, SackReportsEachCoveredRecordOnce) {
  SegmentLog log;
  append(log, 0, 100, 5);
  Collector c;
  log.sack(S(100), S(300), c.fn());
  EXPECT_EQ(offs(c.got), (V{100, 200}));
  EXPECT_EQ(states(log), ".SS..");
  EXPECT_EQ(counts(log), (V{500, 200, 0, 0}));
  EXPECT_EQ(log.sacked_segments(), 2u);
  EXPECT_EQ(log.pipe(), 300u);
  log.sack(S(100), S(300), c.fn());
  log.sack(S(0) - 50, S(200), c.fn());  // starts below the first record: clipped
  EXPECT_EQ(offs(c.got), (V{100, 200, 0}));
  EXPECT_EQ(counts(log), (V{500, 300, 0, 0}));
}

// RFC 2018 §4 blocks need not fall on segment edges: the record is split at them.
TEST(SegmentLog, SackEdgeInsideRecordSplitsIt) {
  SegmentLog log;
  append(log, 0, 300);
  Collector c;
  log.sack(S(100), S(200), c.fn());
  EXPECT_EQ(offs(log), (V{0, 100, 200}));
  EXPECT_EQ(states(log), ".S.");
  EXPECT_EQ(offs(c.got), (V{100}));
  EXPECT_EQ(counts(log), (V{300, 100, 0, 0}));
  EXPECT_EQ(log.sacked_segments(), 1u);
  EXPECT_EQ(log.pipe(), 200u);
  log.sack(S(150), S(250), c.fn());  // splits the SACKed record and the tail
  EXPECT_EQ(offs(log), (V{0, 100, 150, 200, 250}));
  EXPECT_EQ(states(log), ".SSS.");
  EXPECT_EQ(offs(c.got), (V{100, 200}));
  EXPECT_EQ(counts(log), (V{300, 150, 0, 0}));
  EXPECT_EQ(log.sacked_segments(), 3u);
}

// RFC 8985 §6.2: SACKed data is neither lost nor in flight, whatever copy arrived.
TEST(SegmentLog, SackClearsLostAndRetransOfCoveredRecords) {
  SegmentLog log;
  append(log, 0, 100, 4);
  log.mark_lost(0);
  log.on_send(S(100), 100, T(10), 0);
  log.mark_lost(2);
  log.on_send(S(200), 100, T(10), 0);
  EXPECT_EQ(states(log), "LRB.");
  EXPECT_EQ(counts(log), (V{400, 0, 200, 200}));
  log.sack(S(0), S(300), ignore);
  EXPECT_EQ(states(log), "SSS.");
  EXPECT_EQ(counts(log), (V{400, 300, 0, 0}));
  EXPECT_EQ(log.pipe(), 100u);
}

// rack.h: at the cap a split is refused and a partly covered record stays unSACKed.
TEST(SegmentLog, SackAtCapLeavesPartlyCoveredRecordsUnsacked) {
  SegmentLog log(4);
  append(log, 0, 100, 4);
  Collector c;
  log.sack(S(50), S(250), c.fn());
  EXPECT_EQ(states(log), ".S..");
  EXPECT_EQ(offs(c.got), (V{100}));
  EXPECT_EQ(counts(log), (V{400, 100, 0, 0}));
}

// RFC 8985 §6.2 (Segment.xmit_ts, .retransmitted): a retransmission restamps what it covers.
TEST(SegmentLog, RetransmissionMarksCoveredRecordsAndSplitsAtEdges) {
  SegmentLog log;
  append(log, 0, 100, 3);
  log.on_send(S(50), 200, T(40), 77);
  EXPECT_EQ(offs(log), (V{0, 50, 100, 200, 250}));
  EXPECT_EQ(states(log), ".RRR.");
  for (std::size_t i = 0; i < log.size(); ++i) {
    const bool in = i >= 1 && i <= 3;
    EXPECT_EQ(log[i].has(SentSegment::kEverRetransmitted), in) << i;
    EXPECT_EQ(log[i].xmit == T(40), in) << i;
    EXPECT_EQ(log[i].ts_val == 77u, in) << i;
  }
  EXPECT_EQ(counts(log), (V{300, 0, 0, 200}));
  EXPECT_EQ(log.pipe(), 500u);
  log.on_send(S(50), 200, T(41), 78);  // a second copy does not count twice
  EXPECT_EQ(counts(log), (V{300, 0, 0, 200}));
  log.sack(S(250), S(300), ignore);
  log.on_send(S(250), 50, T(42), 79);  // resending SACKed data adds nothing in flight
  EXPECT_EQ(counts(log), (V{300, 50, 0, 200}));
}

// rack.h on_send: a send running past SND.MAX retransmits the old part and appends the rest.
TEST(SegmentLog, SendPastEndAppendsRemainder) {
  SegmentLog log;
  append(log, 0, 100);
  log.on_send(S(50), 100, T(5), 9);
  EXPECT_EQ(offs(log), (V{0, 50, 100}));
  EXPECT_EQ(states(log), ".R.");
  EXPECT_EQ(log[2].flags, 0);  // new data, not a retransmission
  EXPECT_TRUE(log[2].xmit == T(5));
  EXPECT_EQ(log.end(), S(150));
  EXPECT_EQ(counts(log), (V{150, 0, 0, 50}));
}

// rack.h: the cap bounds the records and the ring ("nothing is allocated per packet once it
// has reached the connection's flight size"): a send that uses the last free slot for a split
// must not then append past the cap.
TEST(SegmentLog, SendSplittingAndExtendingStaysWithinCap) {
  SegmentLog log(SegmentLog::kInitialCapacity);
  append(log, 0, 100, SegmentLog::kInitialCapacity - 1);
  ASSERT_FALSE(log.full());
  log.on_send(S(1450), 200, T(50), 0);  // starts inside the last record, ends past SND.MAX
  EXPECT_LE(log.size(), SegmentLog::kInitialCapacity);
  EXPECT_EQ(log.capacity(), SegmentLog::kInitialCapacity);
  EXPECT_EQ(log.end(), S(1650));
  EXPECT_TRUE(consistent(log));
}

// A full log still accounts for a send running past its end: the last record grows.
TEST(SegmentLog, SendPastEndOfAFullLogGrowsTheLastRecord) {
  SegmentLog log(SegmentLog::kInitialCapacity);
  append(log, 0, 100, SegmentLog::kInitialCapacity);
  ASSERT_TRUE(log.full());
  log.on_send(S(1550), 200, T(50), 0);
  EXPECT_EQ(log.size(), SegmentLog::kInitialCapacity);
  EXPECT_EQ(log.end(), S(1750));
  EXPECT_EQ(log.outstanding(), 1750u);
  EXPECT_EQ(log[log.size() - 1].len, 250u);  // [1500, 1750), resent whole
  EXPECT_TRUE(consistent(log));
}

// RFC 6675 §4 SetPipe: lost not resent 0, lost and resent 1, resent not lost 2, otherwise 1.
TEST(SegmentLog, PipeCountsEachSegmentByItsState) {
  SegmentLog log;
  append(log, 0, 100, 4);
  log.mark_lost(0);
  log.mark_lost(1);
  log.on_send(S(100), 100, T(10), 0);
  log.on_send(S(200), 100, T(10), 0);
  EXPECT_EQ(states(log), "LBR.");
  EXPECT_EQ(counts(log), (V{400, 0, 200, 200}));
  EXPECT_EQ(log.pipe(), 0u + 100u + 200u + 100u);
}

// RFC 8985 §6.2 step 5: deeming a retransmitted segment lost writes the copy in flight off.
TEST(SegmentLog, MarkLostClearsRetransmissionInFlight) {
  SegmentLog log;
  append(log, 0, 100, 2);
  log.on_send(S(0), 100, T(10), 0);
  log.mark_lost(0);
  log.mark_lost(0);  // idempotent
  EXPECT_EQ(states(log), "L.");
  EXPECT_TRUE(log[0].has(SentSegment::kEverRetransmitted));
  EXPECT_EQ(counts(log), (V{200, 0, 100, 0}));
  log.sack(S(100), S(200), ignore);
  log.mark_lost(1);  // SACKed: never lost
  EXPECT_EQ(states(log), "LS");
  EXPECT_EQ(counts(log), (V{200, 100, 100, 0}));
  EXPECT_EQ(log.pipe(), 0u);
}

// RFC 6675 §4 NextSeg rule 1: the lowest lost segment with no retransmission in flight.
TEST(SegmentLog, FirstLostSkipsRetransmittedAndSacked) {
  SegmentLog log;
  append(log, 0, 100, 5);
  EXPECT_EQ(log.first_lost(), log.size());
  log.mark_lost(0);
  log.on_send(S(0), 100, T(10), 0);
  log.mark_lost(1);
  log.sack(S(100), S(200), ignore);
  log.mark_lost(3);
  EXPECT_EQ(states(log), "BS.L.");
  EXPECT_EQ(log.first_lost(), 3u);
  EXPECT_EQ(log.first_lost(4), log.size());
  log.mark_lost(2);
  EXPECT_EQ(log.first_lost(), 2u);
  EXPECT_EQ(log.first_lost(3), 3u);
}

// RFC 2018 §8: after a timeout SACKed data counts as outstanding again.
TEST(SegmentLog, UnsackAllReturnsSackedBytesToPipe) {
  SegmentLog log;
  append(log, 0, 100, 4);
  log.sack(S(100), S(150), ignore);
  log.sack(S(200), S(400), ignore);
  EXPECT_EQ(log.pipe(), 150u);
  log.unsack_all();
  EXPECT_EQ(states(log), ".....");
  EXPECT_EQ(counts(log), (V{400, 0, 0, 0}));
  EXPECT_EQ(log.sacked_segments(), 0u);
  EXPECT_EQ(log.pipe(), 400u);
  Collector c;
  log.sack(S(200), S(300), c.fn());  // can be SACKed (and reported) again
  EXPECT_EQ(offs(c.got), (V{200}));
  EXPECT_EQ(counts(log), (V{400, 100, 0, 0}));
}

SentSegment seg(std::uint32_t off, std::uint32_t len, int t_ms, std::uint8_t flags = 0,
                std::uint32_t ts_val = 0) {
  return SentSegment{.seq = S(off), .len = len, .xmit = T(t_ms), .ts_val = ts_val, .flags = flags};
}
constexpr std::uint8_t kEver = SentSegment::kEverRetransmitted;

// RACK's §6.2 variables, times in ms: "xmit/end_seq rtt=… min=… fack=…[ reo]".
std::string vars(const Rack& r) {
  auto m = [](coro::Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  return (r.have_xmit ? m(r.xmit - T(0)) + "/" + std::to_string(r.end_seq - S(0)) : "-") +
         " rtt=" + m(r.rtt) + " min=" + m(r.min_rtt) +
         " fack=" + (r.have_fack ? std::to_string(r.fack - S(0)) : "-") +
         (r.reordering_seen ? " reo" : "");
}

// RFC 8985 §6.2 step 2 (RACK_update, RACK_sent_after): the latest-sent delivered segment wins.
TEST(Rack, OnDeliveredTracksLatestSentSegmentTiesByEndSeq) {
  Rack r;
  r.on_delivered(seg(100, 100, 5), T(20), std::nullopt);
  EXPECT_EQ(vars(r), "5/200 rtt=15 min=15 fack=200");
  r.on_delivered(seg(300, 100, 2), T(21), std::nullopt);  // sent earlier
  EXPECT_EQ(vars(r), "5/200 rtt=19 min=15 fack=400");
  r.on_delivered(seg(200, 100, 5), T(22), std::nullopt);  // same time, higher end
  EXPECT_EQ(vars(r), "5/300 rtt=17 min=15 fack=400 reo");
  r.on_delivered(seg(0, 100, 5, kEver), T(22), std::nullopt);  // same time, lower end
  EXPECT_EQ(vars(r), "5/300 rtt=17 min=15 fack=400 reo");
  r.on_delivered(seg(400, 100, 7), T(23), std::nullopt);
  EXPECT_EQ(vars(r), "7/500 rtt=16 min=15 fack=500 reo");
}

// RFC 8985 §6.2 step 1 and 2: min_RTT from never-retransmitted segments only; a retransmission
// faster than min_RTT is ambiguous and skipped.
TEST(Rack, MinRttOnlyFromNeverRetransmittedSegments) {
  Rack r;
  r.on_delivered(seg(0, 100, 10, kEver), T(11), std::nullopt);  // no min_RTT to compare with
  EXPECT_EQ(vars(r), "10/100 rtt=1 min=0 fack=100");
  r.on_delivered(seg(100, 100, 0), T(10), std::nullopt);
  EXPECT_EQ(vars(r), "10/100 rtt=10 min=10 fack=200");
  r.on_delivered(seg(200, 100, 20, kEver), T(32), std::nullopt);
  EXPECT_EQ(vars(r), "20/300 rtt=12 min=10 fack=300");
  r.on_delivered(seg(300, 100, 30, kEver), T(35), std::nullopt);  // 5 ms < min_RTT
  EXPECT_EQ(vars(r), "20/300 rtt=12 min=10 fack=400");
  r.on_delivered(seg(400, 100, 40), T(48), std::nullopt);
  EXPECT_EQ(vars(r), "40/500 rtt=8 min=8 fack=500");
}

// RFC 8985 §6.2 step 2: an echo older than the retransmission's TSval means the original arrived.
TEST(Rack, RetransmissionOlderThanEchoIsIgnored) {
  Rack r;
  r.on_delivered(seg(0, 100, 10, kEver, 1000), T(30), 999u);
  r.on_delivered(seg(0, 100, 10, kEver, 5), T(30), 0xFFFFFFF0u);  // older across the wrap
  EXPECT_EQ(vars(r), "- rtt=0 min=0 fack=100");
  r.on_delivered(seg(0, 100, 10, kEver, 1000), T(30), 1000u);
  EXPECT_EQ(vars(r), "10/100 rtt=20 min=0 fack=100");
  r.on_delivered(seg(100, 100, 12, 0, 2000), T(31), 5u);  // never retransmitted: echo irrelevant
  EXPECT_EQ(vars(r), "12/200 rtt=19 min=19 fack=200");
}

// RFC 8985 §6.2 step 3 (RACK_detect_reordering).
TEST(Rack, ReorderingSeenOnlyForOriginalDeliveredBelowFack) {
  Rack r;
  r.on_delivered(seg(200, 100, 2), T(20), std::nullopt);
  r.on_delivered(seg(200, 100, 2), T(20), std::nullopt);  // equal to fack: not reordering
  r.on_delivered(seg(0, 100, 0, kEver), T(21), std::nullopt);  // retransmitted: not either
  r.on_delivered(seg(300, 100, 3), T(22), std::nullopt);
  EXPECT_EQ(vars(r), "3/400 rtt=19 min=18 fack=400");
  r.on_delivered(seg(100, 100, 1), T(23), std::nullopt);
  EXPECT_EQ(vars(r), "3/400 rtt=22 min=18 fack=400 reo");
}

// RFC 8985 §6.2 step 4: zero once in recovery or DupThresh SACKed with no reordering seen;
// otherwise min(reo_wnd_mult * min_RTT / 4, SRTT).
TEST(Rack, ReoWndZeroWithoutReorderingElseScaledQuarterMinRttCappedBySrtt) {
  Rack r;
  r.min_rtt = ms(40);
  EXPECT_EQ(ns(r.reo_wnd(true, 0, ms(100))), 0);
  EXPECT_EQ(ns(r.reo_wnd(false, 3, ms(100))), 0);
  EXPECT_EQ(ns(r.reo_wnd(false, 2, ms(100))), ns(ms(10)));
  r.reordering_seen = true;
  EXPECT_EQ(ns(r.reo_wnd(true, 5, ms(100))), ns(ms(10)));
  r.reo_wnd_mult = 3;
  EXPECT_EQ(ns(r.reo_wnd(true, 0, ms(100))), ns(ms(30)));
  EXPECT_EQ(ns(r.reo_wnd(false, 0, ms(25))), ns(ms(25)));
}

// RFC 8985 §6.2 step 4: one multiplier step per round trip, reset after 16 recoveries.
TEST(Rack, DsackRaisesMultOncePerRoundAndSixteenRecoveriesReset) {
  Rack r;
  r.on_dsack(S(0), S(1000));
  EXPECT_EQ(r.reo_wnd_mult, 2u);
  r.on_dsack(S(500), S(2000));  // SND.UNA has not passed 1000: same round
  EXPECT_EQ(r.reo_wnd_mult, 2u);
  r.on_dsack(S(1000), S(3000));
  EXPECT_EQ(r.reo_wnd_mult, 3u);
  for (int i = 0; i < 15; ++i) r.on_recovery_end();
  EXPECT_EQ(r.reo_wnd_mult, 3u);
  r.on_recovery_end();
  EXPECT_EQ(r.reo_wnd_mult, 1u);
}

// A,B,C,D sent at 0,1,2,3 ms; C SACKed at 20 ms: RACK.xmit = 2 ms, RACK.rtt = 18 ms.
struct DetectFixture : ::testing::Test {
  DetectFixture() {
    append(log, 0, 100, 4);
    log.sack(S(200), S(300), [&](const SentSegment& s) { rack.on_delivered(s, T(20), 0u); });
  }
  SegmentLog log;
  Rack rack;
  std::uint32_t newly = 0;
};

// RFC 8985 §6.2 step 5 (RACK_detect_loss): lost when now >= xmit + RACK.rtt + reo_wnd.
TEST_F(DetectFixture, MarksLostOnlyAfterRttPlusReoWnd) {
  EXPECT_EQ(ns(rack_detect_loss(log, Rack{}, T(10000), {}, &newly)), 0);  // no sample: no loss
  ASSERT_TRUE(rack.xmit == T(2));
  ASSERT_EQ(ns(rack.rtt), ns(ms(18)));
  const coro::Duration w = ms(4);  // A expires at 22 ms, B at 23 ms
  EXPECT_EQ(ns(rack_detect_loss(log, rack, T(20), w, &newly)), ns(ms(3)));
  EXPECT_EQ(states(log), "..S.");
  EXPECT_EQ(ns(rack_detect_loss(log, rack, T(22) - ms(1) / 2, w, &newly)), ns(ms(3) / 2));
  EXPECT_EQ(newly, 0u);
  EXPECT_EQ(ns(rack_detect_loss(log, rack, T(22), w, &newly)), ns(ms(1)));
  EXPECT_EQ(newly, 1u);
  EXPECT_EQ(states(log), "L.S.");
  EXPECT_EQ(ns(rack_detect_loss(log, rack, T(23), w, &newly)), 0);
  EXPECT_EQ(newly, 2u);
  // D was sent after RACK's segment: never deemed lost by this step.
  EXPECT_EQ(ns(rack_detect_loss(log, rack, T(10000), w, &newly)), 0);
  EXPECT_EQ(newly, 2u);
  EXPECT_EQ(states(log), "LLS.");
  EXPECT_EQ(counts(log), (V{400, 100, 200, 0}));
}

// RFC 8985 §6.2 step 5: a retransmission is judged by its own send time against a later send.
TEST_F(DetectFixture, RetransmissionRemarkedOnlyAfterLaterSendDelivered) {
  rack_detect_loss(log, rack, T(23), ms(4), &newly);
  ASSERT_EQ(newly, 2u);
  log.on_send(S(0), 100, T(30), 0);  // A resent
  EXPECT_EQ(log.first_lost(), 1u);
  newly = 0;
  EXPECT_EQ(ns(rack_detect_loss(log, rack, T(10000), ms(4), &newly)), 0);
  EXPECT_EQ(newly, 0u);
  EXPECT_EQ(states(log), "BLS.");
  log.on_send(S(400), 100, T(31), 0);  // E
  log.sack(S(400), S(500), [&](const SentSegment& s) { rack.on_delivered(s, T(50), 0u); });
  ASSERT_TRUE(rack.xmit == T(31));
  ASSERT_EQ(ns(rack.rtt), ns(ms(19)));
  // D (3 ms) expires at 26 ms; A's copy (30 ms) at 53 ms.
  EXPECT_EQ(ns(rack_detect_loss(log, rack, T(50), ms(4), &newly)), ns(ms(3)));
  EXPECT_EQ(newly, 1u);
  EXPECT_EQ(states(log), "BLSLS");
  EXPECT_EQ(ns(rack_detect_loss(log, rack, T(53), ms(4), &newly)), 0);
  EXPECT_EQ(newly, 2u);
  EXPECT_EQ(states(log), "LLSLS");
  EXPECT_EQ(counts(log), (V{500, 200, 300, 0}));
  EXPECT_EQ(log.first_lost(), 0u);
}

// RFC 8985 §6.2 step 5: a segment resent after RACK's is skipped; older ones behind it are not.
TEST_F(DetectFixture, ResentSegmentDoesNotShieldOlderOnesBehindIt) {
  log.on_send(S(0), 100, T(10), 0);  // A resent (a probe, say) after RACK's segment
  EXPECT_EQ(ns(rack_detect_loss(log, rack, T(23), ms(4), &newly)), 0);
  EXPECT_EQ(newly, 1u);
  EXPECT_EQ(states(log), "RLS.");
}

// RFC 8985 §6.3: on RTO the first segment and every one older than RACK.rtt + reo_wnd are lost.
TEST(RackMarkLossesOnRto, FirstAlwaysOthersWhenOldEnoughSackedNever) {
  SegmentLog log;
  append(log, 0, 100, 5, 5);            // A..E sent at 5..9 ms
  log.on_send(S(0), 100, T(18), 0);     // A resent at 18 ms: young
  log.on_send(S(300), 100, T(19), 0);   // D resent at 19 ms: young
  log.sack(S(200), S(300), ignore);  // C
  Rack rack;
  rack.rtt = ms(5);
  rack_mark_losses_on_rto(log, rack, T(20), ms(6));  // deadline: xmit <= 9 ms
  EXPECT_EQ(states(log), "LLSRL");  // A first; B 6 + 11 <= 20; E 9 + 11 == 20
  EXPECT_EQ(counts(log), (V{500, 100, 300, 100}));
}

// RFC 6675 §4 / RFC 8985 §9.1 accounting invariants under 20,000 random operations.
TEST(SegmentLog, RandomOperationsKeepCountersConsistent) {
  constexpr std::size_t kCap = 48;
  std::mt19937 rng(20240611);
  auto pick = [&](std::uint32_t lo, std::uint32_t hi) {
    return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng);
  };
  SegmentLog log(kCap);
  SeqNum una(0xFFFF0000u);  // crosses 2^32 during the run
  SeqNum nxt = una;
  for (int op = 0; op < 20000; ++op) {
    SCOPED_TRACE(op);
    const auto flight = static_cast<std::uint32_t>(nxt - una);
    const std::uint32_t kind = pick(0, 99);
    std::vector<SentSegment> got;
    auto collect = [&](const SentSegment& s) { got.push_back(s); };
    if (kind < 30 || flight == 0) {
      if (!log.full()) {
        const std::uint32_t len = pick(1, 1500);
        log.on_send(nxt, len, T(op), 0);
        nxt += len;
      }
    } else if (kind < 55) {  // SACK: each record reported once, sacked_bytes grows by them
      const SeqNum l = una - 200 + pick(0, flight + 400);
      const SeqNum r = l + pick(0, 5000);
      std::uint32_t sum = log.sacked_bytes();
      log.sack(l, r, collect);
      for (const SentSegment& s : got) {
        sum += s.len;
        ASSERT_TRUE(s.seq >= l && s.end() <= r);
      }
      ASSERT_EQ(log.sacked_bytes(), sum);
    } else if (kind < 70) {  // cumulative ACK: only whole records not SACKed are reported
      una = una + pick(0, flight);
      log.advance(una, collect);
      for (const SentSegment& s : got) ASSERT_TRUE(!s.has(SentSegment::kSacked) && s.end() <= una);
      ASSERT_TRUE(log.empty() || log[0].seq == una);
    } else if (kind < 85) {  // retransmission, possibly running past SND.MAX
      const SeqNum l = una + pick(0, flight - 1);
      std::uint32_t len = pick(1, 3000);
      // Past SND.MAX only with room for a split and the append (see the cap test above).
      if (log.size() + 2 > kCap) len = std::min(len, static_cast<std::uint32_t>(nxt - l));
      log.on_send(l, len, T(op), 0);
      nxt = seq_max(nxt, l + len);
    } else if (kind < 99) {
      if (!log.empty()) log.mark_lost(pick(0, static_cast<std::uint32_t>(log.size() - 1)));
    } else {
      log.unsack_all();
      ASSERT_EQ(log.sacked_bytes(), 0u);
    }
    ASSERT_TRUE(consistent(log)) << "kind " << kind;
    ASSERT_EQ(log.outstanding(), static_cast<std::uint32_t>(nxt - una));
    ASSERT_LE(log.size(), kCap);
  }
}

}  // namespace
}  // namespace coronet::stack::tcp
