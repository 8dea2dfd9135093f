#include "stack/tcp/sack.h"

#include <algorithm>

namespace coronet::stack::tcp {

std::uint32_t SackScoreboard::add(SeqNum left, SeqNum right, SeqNum una, SeqNum max) {
  if (left < una) left = una;
  if (right > max) right = max;
  if (!(left < right)) return 0;
  const std::uint32_t before = sacked_bytes();
  // Find the first range that ends at or after `left`, merge every range that touches.
  std::size_t i = 0;
  while (i < n_ && r_[i].right < left) ++i;
  std::size_t j = i;
  while (j < n_ && r_[j].left <= right) {
    left = seq_min(left, r_[j].left);
    right = seq_max(right, r_[j].right);
    ++j;
  }
  const std::size_t merged = j - i;
  if (merged == 0) {
    if (n_ == kMaxRanges) {
      if (i == n_) return 0;  // the new range would be the highest: it is the one given up
      --n_;                   // drop the highest to make room
    }
    std::move_backward(r_.begin() + i, r_.begin() + n_, r_.begin() + n_ + 1);
    ++n_;
  } else if (merged > 1) {
    std::move(r_.begin() + j, r_.begin() + n_, r_.begin() + i + 1);
    n_ -= merged - 1;
  }
  r_[i] = {left, right};
  const std::uint32_t after = sacked_bytes();
  return after > before ? after - before : 0;
}

void SackScoreboard::advance(SeqNum una) {
  std::size_t k = 0;
  while (k < n_ && r_[k].right <= una) ++k;
  if (k > 0) {
    std::move(r_.begin() + k, r_.begin() + n_, r_.begin());
    n_ -= k;
  }
  if (n_ > 0 && r_[0].left < una) r_[0].left = una;
}

std::uint32_t SackScoreboard::sacked_bytes() const {
  std::uint32_t b = 0;
  for (std::size_t i = 0; i < n_; ++i) b += static_cast<std::uint32_t>(r_[i].right - r_[i].left);
  return b;
}

bool SackScoreboard::is_sacked(SeqNum s) const {
  for (std::size_t i = 0; i < n_; ++i) {
    if (s < r_[i].left) return false;
    if (s < r_[i].right) return true;
  }
  return false;
}

SeqNum SackScoreboard::lost_boundary(SeqNum una, std::uint32_t smss) const {
  std::uint32_t bytes = 0;
  for (std::size_t i = n_; i-- > 0;) {
    bytes += static_cast<std::uint32_t>(r_[i].right - r_[i].left);
    const std::size_t count = n_ - i;
    if (count >= kDupThresh || bytes > (kDupThresh - 1) * smss) return r_[i].left;
  }
  return una;
}

std::uint32_t SackScoreboard::pipe(SeqNum una, SeqNum max, SeqNum lost, SeqNum high_rxt) const {
  std::uint32_t pipe = 0;
  SeqNum cur = una;
  auto count_hole = [&](SeqNum a, SeqNum b) {
    if (!(a < b)) return;
    // [a, b) unSACKed. Each byte counts once if not lost and once more if retransmitted (below
    // HighRxt): a resent byte not yet deemed lost may be in the network twice.
    SeqNum split = seq_max(a, seq_min(b, lost));
    pipe += static_cast<std::uint32_t>(b - split);
    SeqNum rx_end = seq_min(b, high_rxt);
    if (a < rx_end) pipe += static_cast<std::uint32_t>(rx_end - a);
  };
  for (std::size_t i = 0; i < n_; ++i) {
    count_hole(cur, seq_min(r_[i].left, max));
    cur = seq_max(cur, r_[i].right);
  }
  count_hole(cur, max);
  return pipe;
}

bool SackScoreboard::next_lost(SeqNum from, SeqNum una, SeqNum lost, SeqNum* seq,
                               SeqNum* hole_end) const {
  SeqNum cur = seq_max(from, una);
  for (std::size_t i = 0; i <= n_; ++i) {
    if (!(cur < lost)) return false;
    if (i < n_ && !(cur < r_[i].left)) {  // cur inside or past this range: skip it
      cur = seq_max(cur, r_[i].right);
      continue;
    }
    SeqNum end = i < n_ ? seq_min(r_[i].left, lost) : lost;
    if (cur < end) {
      *seq = cur;
      *hole_end = end;
      return true;
    }
    if (i < n_) cur = seq_max(cur, r_[i].right);
  }
  return false;
}

}  // namespace coronet::stack::tcp
