// SackScoreboard against RFC 2018 §5 (what the sender records) and RFC 6675 §4 (IsLost, SetPipe,
// NextSeg rule 1). Every case runs at several sequence-space origins, including ones where the
// blocks straddle 2^32 and 2^31, so modular comparison is exercised throughout.
#include "stack/tcp/sack.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace coronet::stack::tcp {
namespace {

constexpr std::uint32_t kSmss = 1000;

// The origin of sequence space for a test; offsets below are added to it.
class Sack : public ::testing::TestWithParam<std::uint32_t> {
 protected:
  SeqNum at(std::uint32_t off) const { return SeqNum(GetParam()) + off; }
  // Adds [l, r) (offsets) with una/max as offsets too.
  std::uint32_t add(std::uint32_t l, std::uint32_t r, std::uint32_t una = 0,
                    std::uint32_t max = 1'000'000) {
    return sb_.add(at(l), at(r), at(una), at(max));
  }
  void expect_ranges(std::vector<std::pair<std::uint32_t, std::uint32_t>> want) const {
    ASSERT_EQ(sb_.ranges(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(sb_.range(i).left, at(want[i].first)) << "range " << i;
      EXPECT_EQ(sb_.range(i).right, at(want[i].second)) << "range " << i;
    }
  }

  SackScoreboard sb_;
};

// Origins: plain, just below 2^32 (blocks wrap to small numbers), and just below 2^31 (raw
// values cross the sign bit).
INSTANTIATE_TEST_SUITE_P(Origins, Sack,
                         ::testing::Values(0x1000u, 0xFFFFF800u, 0x7FFFFF00u, 0xFFFFFFFFu));

TEST_P(Sack, EmptyScoreboard) {
  EXPECT_TRUE(sb_.empty());
  EXPECT_EQ(sb_.sacked_bytes(), 0u);
  EXPECT_FALSE(sb_.is_sacked(at(0)));
  EXPECT_EQ(sb_.highest(at(0)), at(0));
  EXPECT_EQ(sb_.lost_boundary(at(0), kSmss), at(0));
}

TEST_P(Sack, SingleBlockIsRecorded) {
  EXPECT_EQ(add(1000, 2000), 1000u);
  expect_ranges({{1000, 2000}});
  EXPECT_EQ(sb_.sacked_bytes(), 1000u);
  EXPECT_FALSE(sb_.is_sacked(at(999)));
  EXPECT_TRUE(sb_.is_sacked(at(1000)));
  EXPECT_TRUE(sb_.is_sacked(at(1999)));
  EXPECT_FALSE(sb_.is_sacked(at(2000)));  // right edge is exclusive (RFC 2018 §3)
  EXPECT_EQ(sb_.highest(at(0)), at(2000));
  // The same block again marks nothing new.
  EXPECT_EQ(add(1000, 2000), 0u);
  EXPECT_EQ(add(1200, 1800), 0u);
  expect_ranges({{1000, 2000}});
}

TEST_P(Sack, BlocksAreKeptSortedWhateverTheArrivalOrder) {
  EXPECT_EQ(add(5000, 6000), 1000u);
  EXPECT_EQ(add(1000, 2000), 1000u);
  EXPECT_EQ(add(3000, 4000), 1000u);
  EXPECT_EQ(add(7000, 7500), 500u);
  expect_ranges({{1000, 2000}, {3000, 4000}, {5000, 6000}, {7000, 7500}});
  EXPECT_EQ(sb_.sacked_bytes(), 3500u);
  EXPECT_EQ(sb_.highest(at(0)), at(7500));
}

TEST_P(Sack, OverlappingBlocksMerge) {
  add(1000, 2000);
  EXPECT_EQ(add(1500, 2500), 500u);  // overlaps on the right
  expect_ranges({{1000, 2500}});
  EXPECT_EQ(add(500, 1200), 500u);  // overlaps on the left
  expect_ranges({{500, 2500}});
  EXPECT_EQ(add(0, 3000), 1000u);  // covers it entirely
  expect_ranges({{0, 3000}});
  EXPECT_EQ(sb_.sacked_bytes(), 3000u);
}

TEST_P(Sack, AdjacentBlocksMerge) {
  add(1000, 2000);
  EXPECT_EQ(add(2000, 3000), 1000u);  // touches the right edge
  expect_ranges({{1000, 3000}});
  EXPECT_EQ(add(400, 1000), 600u);  // touches the left edge
  expect_ranges({{400, 3000}});
}

TEST_P(Sack, OneBlockBridgesSeveralRanges) {
  add(1000, 2000);
  add(3000, 4000);
  add(5000, 6000);
  add(8000, 9000);
  // Covers the holes [2000,3000) and [4000,5000) and ends inside the third range.
  EXPECT_EQ(add(1500, 5500), 2000u);
  expect_ranges({{1000, 6000}, {8000, 9000}});
  // Filling the last hole exactly joins everything.
  EXPECT_EQ(add(6000, 8000), 2000u);
  expect_ranges({{1000, 9000}});
  EXPECT_EQ(sb_.sacked_bytes(), 8000u);
}

TEST_P(Sack, BlocksAreClippedToUnaAndMax) {
  // una = 1000, max = 5000: only [1000, 5000) can be SACKed.
  EXPECT_EQ(add(500, 1500, 1000, 5000), 500u);
  expect_ranges({{1000, 1500}});
  EXPECT_EQ(add(4500, 6000, 1000, 5000), 500u);
  expect_ranges({{1000, 1500}, {4500, 5000}});
  // Wholly below SND.UNA (an old, already acknowledged block) or wholly above SND.MAX (data
  // never sent): nothing is recorded.
  EXPECT_EQ(add(0, 1000, 1000, 5000), 0u);
  EXPECT_EQ(add(5000, 7000, 1000, 5000), 0u);
  EXPECT_EQ(add(6000, 7000, 1000, 5000), 0u);
  // Empty and inverted blocks.
  EXPECT_EQ(add(3000, 3000, 1000, 5000), 0u);
  EXPECT_EQ(add(3500, 3000, 1000, 5000), 0u);
  expect_ranges({{1000, 1500}, {4500, 5000}});
  EXPECT_EQ(sb_.highest(at(1000)), at(5000));
}

TEST_P(Sack, FullTableGivesUpTheHighestRange) {
  // kMaxRanges disjoint one-segment ranges with one-segment holes between them.
  const std::size_t n = SackScoreboard::kMaxRanges;
  auto left = [](std::size_t k) { return static_cast<std::uint32_t>(2000 * k + 1000); };
  for (std::size_t k = 0; k < n; ++k) ASSERT_EQ(add(left(k), left(k) + 1000), 1000u);
  ASSERT_EQ(sb_.ranges(), n);
  const SeqNum top = sb_.highest(at(0));
  EXPECT_EQ(top, at(left(n - 1) + 1000));

  // A new range above everything is the one given up.
  EXPECT_EQ(add(left(n) + 500, left(n) + 700), 0u);
  EXPECT_EQ(sb_.ranges(), n);
  EXPECT_EQ(sb_.highest(at(0)), top);
  EXPECT_FALSE(sb_.is_sacked(at(left(n) + 500)));

  // Extending an existing range needs no new slot: nothing is dropped.
  EXPECT_EQ(add(left(3) + 1000, left(3) + 1500), 500u);
  EXPECT_EQ(sb_.ranges(), n);
  EXPECT_EQ(sb_.highest(at(0)), top);

  // A new range below the highest one is kept and the highest range makes room for it.
  add(100, 200);
  EXPECT_EQ(sb_.ranges(), n);
  EXPECT_EQ(sb_.range(0).left, at(100));
  EXPECT_EQ(sb_.range(0).right, at(200));
  EXPECT_TRUE(sb_.is_sacked(at(150)));
  EXPECT_FALSE(sb_.is_sacked(at(left(n - 1))));
  EXPECT_EQ(sb_.highest(at(0)), at(left(n - 2) + 1000));

  // Merging two ranges frees a slot, so a range above everything fits again.
  EXPECT_EQ(add(left(0) + 1000, left(1)), 1000u);
  EXPECT_EQ(sb_.ranges(), n - 1);
  EXPECT_GT(add(left(n) + 500, left(n) + 700), 0u);
  EXPECT_EQ(sb_.ranges(), n);
  EXPECT_EQ(sb_.highest(at(0)), at(left(n) + 700));
}

TEST_P(Sack, AdvanceForgetsWhatIsCumulativelyAcked) {
  add(1000, 2000);
  add(3000, 4000);
  add(5000, 6000);
  sb_.advance(at(500));  // below everything: nothing changes
  expect_ranges({{1000, 2000}, {3000, 4000}, {5000, 6000}});
  sb_.advance(at(1500));  // inside the first range: it is trimmed
  expect_ranges({{1500, 2000}, {3000, 4000}, {5000, 6000}});
  EXPECT_EQ(sb_.sacked_bytes(), 2500u);
  sb_.advance(at(2000));  // exactly its right edge: it goes
  expect_ranges({{3000, 4000}, {5000, 6000}});
  sb_.advance(at(4500));  // inside a hole past a range
  expect_ranges({{5000, 6000}});
  sb_.advance(at(5999));
  expect_ranges({{5999, 6000}});
  EXPECT_EQ(sb_.sacked_bytes(), 1u);
  sb_.advance(at(7000));
  EXPECT_TRUE(sb_.empty());
  EXPECT_EQ(sb_.sacked_bytes(), 0u);
  EXPECT_EQ(sb_.highest(at(7000)), at(7000));
}

TEST_P(Sack, ClearEmpties) {
  add(1000, 2000);
  sb_.clear();
  EXPECT_TRUE(sb_.empty());
  EXPECT_FALSE(sb_.is_sacked(at(1500)));
}

// ---- RFC 6675 §4 IsLost ------------------------------------------------------------------------
// An unSACKed byte is lost when DupThresh (3) discontiguous SACKed ranges lie above it, or more
// than (DupThresh - 1) * SMSS bytes above it are SACKed. lost_boundary() says it as a sequence
// number: unSACKed bytes below it are lost, those at or above it are not.

TEST_P(Sack, NotLostWithFewerThanThreeRangesAndAtMostTwoSegments) {
  add(1000, 2000);
  EXPECT_EQ(sb_.lost_boundary(at(0), kSmss), at(0));
  add(3000, 4000);  // two ranges, exactly 2 * SMSS bytes: not "more than"
  EXPECT_EQ(sb_.lost_boundary(at(0), kSmss), at(0));
}

TEST_P(Sack, LostWithThreeDiscontiguousRangesAbove) {
  add(1000, 1100);
  add(2000, 2100);
  add(3000, 3100);  // 300 bytes in all, but three ranges
  EXPECT_EQ(sb_.lost_boundary(at(0), kSmss), at(1000));
  add(4000, 4100);
  // Now the hole [1100, 2000) also has three ranges above it; [2100, 3000) has only two.
  EXPECT_EQ(sb_.lost_boundary(at(0), kSmss), at(2000));
}

TEST_P(Sack, LostWithMoreThanTwoSegmentsSackedAbove) {
  add(1000, 3000);  // exactly 2 * SMSS: not lost
  EXPECT_EQ(sb_.lost_boundary(at(0), kSmss), at(0));
  add(3000, 3001);  // one more byte: the hole below is lost
  EXPECT_EQ(sb_.lost_boundary(at(0), kSmss), at(1000));

  SackScoreboard two;
  two.add(at(1000), at(2000), at(0), at(100000));
  two.add(at(3000), at(4001), at(0), at(100000));  // 2001 bytes over two ranges
  EXPECT_EQ(two.lost_boundary(at(0), kSmss), at(1000));
  // With a larger SMSS the same bytes are not enough.
  EXPECT_EQ(two.lost_boundary(at(0), 1460), at(0));
}

TEST_P(Sack, LostBoundaryFollowsUna) {
  add(1000, 2000);
  add(3000, 4000);
  add(5000, 6000);
  ASSERT_EQ(sb_.lost_boundary(at(0), kSmss), at(1000));
  // The first hole is acknowledged and the first range is gone with it: two ranges, 2000
  // bytes left above the next hole: nothing counts as lost any more.
  sb_.advance(at(2000));
  EXPECT_EQ(sb_.lost_boundary(at(2000), kSmss), at(2000));
}

// ---- RFC 6675 §4 SetPipe -----------------------------------------------------------------------
// For every unSACKed byte between SND.UNA and SND.MAX: +1 if it is not lost, +1 if it was
// retransmitted (below HighRxt). A byte retransmitted without being lost counts twice.

TEST_P(Sack, PipeWithoutSackIsTheFlight) {
  EXPECT_EQ(sb_.pipe(at(0), at(10000), at(0), at(0)), 10000u);
}

// Scoreboard for the pipe and NextSeg cases: SND.UNA 0, SND.MAX 10000, SMSS 1000,
// SACKed [2000,3000) [4000,5000) [6000,7000). Holes: [0,2000) lost (three ranges above);
// [3000,4000) and [5000,6000) and [7000,10000) not lost.
class SackPipe : public Sack {
 protected:
  void SetUp() override {
    add(2000, 3000, 0, 10000);
    add(4000, 5000, 0, 10000);
    add(6000, 7000, 0, 10000);
    lost_ = sb_.lost_boundary(at(0), kSmss);
  }
  std::uint32_t pipe(std::uint32_t high_rxt) const {
    return sb_.pipe(at(0), at(10000), lost_, at(high_rxt));
  }
  SeqNum lost_;
};
INSTANTIATE_TEST_SUITE_P(Origins, SackPipe,
                         ::testing::Values(0x1000u, 0xFFFFF800u, 0x7FFFFF00u, 0xFFFFFFFFu));

TEST_P(SackPipe, LostBytesLeaveThePipe) {
  ASSERT_EQ(lost_, at(2000));
  // Nothing retransmitted: the not-lost holes only, 1000 + 1000 + 3000.
  EXPECT_EQ(pipe(0), 5000u);
}

TEST_P(SackPipe, RetransmittedLostBytesReturnOnce) {
  EXPECT_EQ(pipe(1000), 6000u);  // [0,1000) resent
  EXPECT_EQ(pipe(1500), 6500u);
  EXPECT_EQ(pipe(2000), 7000u);  // the whole lost hole resent
}

// RFC 6675 §4 SetPipe (b): octets retransmitted without being considered lost are counted
// twice. Here [3000,3500) is not lost (only two ranges and 2000 bytes above it) but lies below
// HighRxt = 3500: 7000 for the lost hole resent, plus 500 for the second copy.
// found an implementation bug (fixed)
TEST_P(SackPipe, RetransmittedNotLostBytesCountTwice) {
  EXPECT_EQ(pipe(3500), 7500u);
  // The same with no loss at all: SND.UNA's segment fast-retransmitted with only one SACKed
  // range above it (RFC 6675 §5 step 4.2 happens on DupThresh duplicate ACKs, not on IsLost).
  SackScoreboard one;
  one.add(at(1000), at(2000), at(0), at(3000));
  EXPECT_EQ(one.pipe(at(0), at(3000), at(0), at(1000)), 3000u);
}

// ---- RFC 6675 §4 NextSeg rule 1 ----------------------------------------------------------------
// The lowest unSACKed byte above HighRxt that IsLost, with the end of its hole.

TEST_P(Sack, NextLostWalksTheLostHolesInOrder) {
  add(1000, 2000);
  add(3000, 4000);
  add(5000, 6000);
  add(7000, 8000);
  const SeqNum lost = sb_.lost_boundary(at(0), kSmss);
  ASSERT_EQ(lost, at(3000));  // holes [0,1000) and [2000,3000) are lost; [4000,5000) is not

  SeqNum seq;
  SeqNum end;
  ASSERT_TRUE(sb_.next_lost(at(0), at(0), lost, &seq, &end));
  EXPECT_EQ(seq, at(0));
  EXPECT_EQ(end, at(1000));
  ASSERT_TRUE(sb_.next_lost(at(400), at(0), lost, &seq, &end));  // partly resent hole
  EXPECT_EQ(seq, at(400));
  EXPECT_EQ(end, at(1000));
  ASSERT_TRUE(sb_.next_lost(at(1000), at(0), lost, &seq, &end));  // from inside a SACKed range
  EXPECT_EQ(seq, at(2000));
  EXPECT_EQ(end, at(3000));
  ASSERT_TRUE(sb_.next_lost(at(1500), at(0), lost, &seq, &end));
  EXPECT_EQ(seq, at(2000));
  EXPECT_EQ(end, at(3000));
  // At the boundary and beyond: nothing is lost there.
  EXPECT_FALSE(sb_.next_lost(at(3000), at(0), lost, &seq, &end));
  EXPECT_FALSE(sb_.next_lost(at(4500), at(0), lost, &seq, &end));
  EXPECT_FALSE(sb_.next_lost(at(9000), at(0), lost, &seq, &end));
  // `from` below SND.UNA starts at SND.UNA.
  ASSERT_TRUE(sb_.next_lost(at(0) - 500, at(0), lost, &seq, &end));
  EXPECT_EQ(seq, at(0));

  // The retransmission loop: each hole once, lowest first, then stop.
  std::vector<std::pair<SeqNum, SeqNum>> sent;
  SeqNum high_rxt = at(0);
  while (sb_.next_lost(high_rxt, at(0), lost, &seq, &end)) {
    ASSERT_LT(sent.size(), 10u);
    sent.emplace_back(seq, end);
    high_rxt = end;
  }
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].first, at(0));
  EXPECT_EQ(sent[1].first, at(2000));
  EXPECT_EQ(sent[1].second, at(3000));
}

TEST_P(Sack, NextLostHoleEndsAtTheBoundary) {
  add(1000, 2000);
  SeqNum seq;
  SeqNum end;
  // Nothing lost: boundary at SND.UNA.
  EXPECT_FALSE(sb_.next_lost(at(0), at(0), at(0), &seq, &end));
  // A caller that declares the first 500 bytes lost gets that much and no more.
  ASSERT_TRUE(sb_.next_lost(at(0), at(0), at(500), &seq, &end));
  EXPECT_EQ(seq, at(0));
  EXPECT_EQ(end, at(500));
}

// ---- The three questions against a byte-by-byte model of RFC 6675 §4 --------------------------
// Random blocks over a small window; every byte's IsLost, the whole SetPipe sum and NextSeg rule
// 1 are computed from a bitmap, straight from the definitions, and compared. The double count of
// retransmitted-but-not-lost bytes is left out here (HighRxt stays at or below the lost boundary)
// so that this model covers what the disabled test above does not.

struct Model {
  std::vector<bool> sacked = {};  // per offset from SND.UNA
  std::vector<std::size_t> runs_above = {};   // SACKed runs wholly above each offset
  std::vector<std::size_t> bytes_above = {};  // SACKed bytes above each offset

  // One pass from the top: what lies above every offset.
  void count() {
    const std::size_t n = sacked.size();
    runs_above.assign(n, 0);
    bytes_above.assign(n, 0);
    std::size_t runs = 0;
    std::size_t bytes = 0;
    for (std::size_t i = n; i-- > 0;) {
      runs_above[i] = runs;
      bytes_above[i] = bytes;
      if (sacked[i]) {
        ++bytes;
        if (i + 1 == n || !sacked[i + 1]) ++runs;  // the top byte of a run
      }
    }
  }
  bool is_lost(std::size_t s, std::uint32_t smss) const {
    if (sacked[s]) return false;
    return runs_above[s] >= SackScoreboard::kDupThresh ||
           bytes_above[s] > (SackScoreboard::kDupThresh - 1) * std::size_t{smss};
  }
};

TEST_P(Sack, MatchesByteModelOnRandomBlocks) {
  constexpr std::uint32_t kSmall = 100;  // small SMSS so that the byte rule matters too
  constexpr std::uint32_t kWindow = 3000;
  std::mt19937 rng(12345 + GetParam());
  for (int round = 0; round < 200; ++round) {
    SackScoreboard sb;
    Model m{std::vector<bool>(kWindow, false)};
    const int blocks = 1 + static_cast<int>(rng() % 12);
    for (int b = 0; b < blocks; ++b) {
      const std::uint32_t l = rng() % kWindow;
      const std::uint32_t len = 1 + rng() % 250;
      const std::uint32_t r = std::min(l + len, kWindow);
      sb.add(at(l), at(r), at(0), at(kWindow));
      for (std::uint32_t i = l; i < r; ++i) m.sacked[i] = true;
    }
    m.count();
    std::uint32_t sacked = 0;
    for (std::uint32_t i = 0; i < kWindow; ++i) {
      ASSERT_EQ(sb.is_sacked(at(i)), m.sacked[i]) << "round " << round << " byte " << i;
      sacked += m.sacked[i] ? 1 : 0;
    }
    ASSERT_EQ(sb.sacked_bytes(), sacked);

    const SeqNum lost = sb.lost_boundary(at(0), kSmall);
    std::uint32_t lost_end = 0;  // the model's boundary: past the highest lost byte
    for (std::uint32_t i = 0; i < kWindow; ++i) {
      const bool want = m.is_lost(i, kSmall);
      if (!m.sacked[i]) {
        ASSERT_EQ(at(i) < lost, want) << "round " << round << " byte " << i;
      }
      if (want) lost_end = i + 1;
    }

    for (std::uint32_t rxt : {0u, lost_end / 2, lost_end}) {
      std::uint32_t want = 0;
      for (std::uint32_t i = 0; i < kWindow; ++i) {
        if (m.sacked[i]) continue;
        if (!m.is_lost(i, kSmall)) ++want;
        if (i < rxt) ++want;
      }
      ASSERT_EQ(sb.pipe(at(0), at(kWindow), lost, at(rxt)), want)
          << "round " << round << " high_rxt " << rxt;

      // NextSeg rule 1 from HighRxt.
      std::uint32_t first = kWindow;
      for (std::uint32_t i = rxt; i < kWindow; ++i) {
        if (m.is_lost(i, kSmall)) {
          first = i;
          break;
        }
      }
      SeqNum seq;
      SeqNum end;
      const bool found = sb.next_lost(at(rxt), at(0), lost, &seq, &end);
      ASSERT_EQ(found, first < kWindow) << "round " << round << " high_rxt " << rxt;
      if (found) {
        std::uint32_t hole_end = first;
        while (hole_end < kWindow && !m.sacked[hole_end] && m.is_lost(hole_end, kSmall)) ++hole_end;
        EXPECT_EQ(seq, at(first));
        EXPECT_EQ(end, at(hole_end));
      }
    }

    // SND.UNA moves into the middle: the scoreboard forgets below it, the model likewise.
    const std::uint32_t una = rng() % kWindow;
    sb.advance(at(una));
    std::uint32_t left = 0;
    for (std::uint32_t i = una; i < kWindow; ++i) left += m.sacked[i] ? 1 : 0;
    ASSERT_EQ(sb.sacked_bytes(), left);
    for (std::uint32_t i = una; i < kWindow; i += 7) ASSERT_EQ(sb.is_sacked(at(i)), m.sacked[i]);
    for (std::size_t i = 0; i < sb.ranges(); ++i) ASSERT_GE(sb.range(i).left, at(una));
  }
}

}  // namespace
}  // namespace coronet::stack::tcp
