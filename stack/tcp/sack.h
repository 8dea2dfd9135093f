// The sender's SACK scoreboard (RFC 2018 §5, RFC 6675 §3-4): which bytes above SND.UNA the peer
// has reported holding, and the loss-recovery questions asked of it: IsLost, Pipe, NextSeg.
// A fixed array of disjoint sorted ranges; nothing allocated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "stack/tcp/seq.h"

namespace coronet::stack::tcp {

class SackScoreboard {
 public:
  static constexpr std::size_t kMaxRanges = 32;
  static constexpr unsigned kDupThresh = 3;  // RFC 6675 §2 DupThresh

  struct Range {
    SeqNum left;  // [left, right)
    SeqNum right;
  };

  void clear() { n_ = 0; }
  bool empty() const { return n_ == 0; }
  std::size_t ranges() const { return n_; }
  const Range& range(std::size_t i) const { return r_[i]; }

  // Records a block the peer reported. Parts outside (una, max] are ignored (RFC 2018 §5 leaves
  // them to the sender; RFC 5961-style sanity: a block must not claim unsent data). Returns the
  // bytes newly marked (DeliveredData for PRR, RFC 6937 §3). When the table is full, the range
  // highest in sequence space is given up (the least useful for recovery).
  std::uint32_t add(SeqNum left, SeqNum right, SeqNum una, SeqNum max);
  // SND.UNA moved: forget everything below it.
  void advance(SeqNum una);

  std::uint32_t sacked_bytes() const;
  bool is_sacked(SeqNum s) const;
  // The highest SACKed sequence number + 1 (or `una` when nothing is SACKed).
  SeqNum highest(SeqNum una) const { return n_ == 0 ? una : r_[n_ - 1].right; }

  // RFC 6675 §4 IsLost as a boundary: every unSACKed byte below the returned sequence number
  // has DupThresh discontiguous SACKed ranges, or more than (DupThresh - 1) * SMSS SACKed bytes,
  // above it. `una` when nothing counts as lost.
  SeqNum lost_boundary(SeqNum una, std::uint32_t smss) const;

  // RFC 6675 §4 SetPipe: the bytes still in the network. An unSACKed byte counts once if it is
  // not lost (at or above `lost`) and once more if it was retransmitted (below `high_rxt`).
  std::uint32_t pipe(SeqNum una, SeqNum max, SeqNum lost, SeqNum high_rxt) const;

  // RFC 6675 §4 NextSeg rule 1: the first unSACKed, lost byte at or after `from` and its hole's
  // end (capped at `lost`). False when there is none.
  bool next_lost(SeqNum from, SeqNum una, SeqNum lost, SeqNum* seq, SeqNum* hole_end) const;

 private:
  std::array<Range, kMaxRanges> r_{};
  std::size_t n_ = 0;
};

}  // namespace coronet::stack::tcp
