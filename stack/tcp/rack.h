// RACK-TLP loss detection (RFC 8985) and the per-segment transmission log it needs.
//
// SegmentLog: one record per transmitted segment between SND.UNA and SND.MAX (FIN included),
// in sequence order and contiguous: when it was last sent, whether the peer SACKed it, whether
// it is deemed lost, whether a retransmission of it is in flight. From these come RFC 8985's
// inputs and the in-flight estimate `pipe` (sent - SACKed - lost + retransmitted, RFC 8985 §9.1
// with RFC 6675 §4's accounting by segment rather than by byte). The log is a ring that grows by
// doubling up to a cap (a connection's first segment allocates it; nothing is allocated per
// packet once it has reached the connection's flight size); at the cap no new data is sent until
// ACKs make room.
//
// Rack: RFC 8985 §6 state (RACK.xmit_ts/end_seq/rtt/min_RTT/fack/reordering_seen) and §7 TLP
// state, with the steps as free functions over a log so they are testable without a stack.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "coro/clock.h"
#include "stack/tcp/seq.h"

namespace coronet::stack::tcp {

struct SentSegment {
  static constexpr std::uint8_t kSacked = 1;    // the peer holds it (RFC 2018)
  static constexpr std::uint8_t kLost = 2;      // deemed lost (RACK, DupThresh or an RTO)
  static constexpr std::uint8_t kRetrans = 4;   // a retransmitted copy is in flight
  static constexpr std::uint8_t kEverRetransmitted = 8;

  SeqNum seq;
  std::uint32_t len = 0;        // sequence space, a FIN counted
  coro::TimePoint xmit{};       // last (re)transmission
  std::uint32_t ts_val = 0;     // our RFC 7323 TSval on that transmission
  std::uint8_t flags = 0;

  SeqNum end() const { return seq + len; }
  bool has(std::uint8_t f) const { return (flags & f) != 0; }
};

class SegmentLog {
 public:
  static constexpr std::size_t kInitialCapacity = 16;

  explicit SegmentLog(std::size_t max_records = 8192) : max_(std::max<std::size_t>(max_records, 4)) {}

  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  // No room for another new segment (retransmissions never need one, splits may be refused).
  bool full() const { return n_ >= max_; }
  std::size_t capacity() const { return ring_.size(); }
  SentSegment& operator[](std::size_t i) { return ring_[(head_ + i) & mask_]; }
  const SentSegment& operator[](std::size_t i) const { return ring_[(head_ + i) & mask_]; }
  SeqNum end() const { return n_ == 0 ? SeqNum() : (*this)[n_ - 1].end(); }

  std::uint32_t outstanding() const { return outstanding_; }
  std::uint32_t sacked_bytes() const { return sacked_; }
  std::uint32_t lost_bytes() const { return lost_; }
  std::uint32_t retrans_bytes() const { return retrans_; }
  std::uint32_t sacked_segments() const { return sacked_segs_; }
  // RFC 8985 §9.1 / RFC 6675 §4 SetPipe, per segment: not SACKed and not lost counts once, a
  // retransmission in flight once more.
  std::uint32_t pipe() const { return outstanding_ - sacked_ - lost_ + retrans_; }

  // [seq, seq + len) went out at `now` (stamped `ts_val`). Beyond the last record it is new: a
  // record is appended (callers send no new data while full(); should a send overlapping old
  // records also run past the end at the cap, the last record grows instead). Below, the
  // records it covers are marked retransmitted, split where it starts or ends inside one.
  void on_send(SeqNum seq, std::uint32_t len, coro::TimePoint now, std::uint32_t ts_val);

  // SND.UNA moved to `una`: records wholly below leave, each not SACKed before reported to
  // `delivered(const SentSegment&)` (newly delivered, RFC 8985 §6.2 step 2); one straddling una
  // is trimmed.
  template <class F>
  void advance(SeqNum una, F&& delivered) {
    while (n_ > 0 && (*this)[0].end() <= una) {
      SentSegment s = (*this)[0];
      remove_bytes(s, s.len);
      head_ = (head_ + 1) & mask_;
      --n_;
      if (!s.has(SentSegment::kSacked)) delivered(s);
    }
    if (n_ > 0 && (*this)[0].seq < una) {
      SentSegment& s = (*this)[0];
      const auto d = static_cast<std::uint32_t>(una - s.seq);
      remove_bytes(s, d);
      s.seq = una;
      s.len -= d;
    }
  }

  // The peer SACKed [left, right): every record inside it not SACKed before is marked and
  // reported to `delivered`. Edges inside a record split it (when the cap allows; otherwise the
  // partly covered record stays unSACKed, which only delays it).
  template <class F>
  void sack(SeqNum left, SeqNum right, F&& delivered) {
    if (n_ == 0) return;
    left = seq_max(left, (*this)[0].seq);
    right = seq_min(right, end());
    if (left >= right) return;
    std::size_t i = split(left);
    split(right);
    for (; i < n_ && (*this)[i].end() <= right; ++i) {
      SentSegment& s = (*this)[i];
      if (s.seq < left || s.has(SentSegment::kSacked)) continue;
      set_sacked(s);
      delivered(static_cast<const SentSegment&>(s));
    }
  }

  // Deems record i lost (again): a retransmission of it that was in flight is written off too.
  void mark_lost(std::size_t i);
  // RFC 2018 §8: the peer may discard SACKed data; after a second timeout nothing counts as held.
  void unsack_all();
  // Index of the lowest record deemed lost with no retransmission in flight (RFC 6675 NextSeg
  // rule 1 with RACK's marks), or size() when none.
  std::size_t first_lost(std::size_t from = 0) const;
  // Index of the record holding `s`, or size().
  std::size_t find(SeqNum s) const;
  void clear();

 private:
  void grow();
  // Makes `at` a record boundary (when it lies strictly inside a record and the cap allows);
  // returns the index of the first record starting at or after `at`.
  std::size_t split(SeqNum at);
  void set_sacked(SentSegment& s);
  void remove_bytes(const SentSegment& s, std::uint32_t d);

  std::vector<SentSegment> ring_;
  std::size_t mask_ = 0;
  std::size_t head_ = 0;
  std::size_t n_ = 0;
  std::size_t max_;
  std::uint32_t outstanding_ = 0;
  std::uint32_t sacked_ = 0;
  std::uint32_t lost_ = 0;
  std::uint32_t retrans_ = 0;
  std::uint32_t sacked_segs_ = 0;
};

// RFC 8985 §5.2 / §7 per-connection state.
struct Rack {
  static constexpr unsigned kDupThresh = 3;

  coro::TimePoint xmit{};      // RACK.xmit_ts: latest send time of a delivered segment
  SeqNum end_seq;              // RACK.end_seq
  bool have_xmit = false;
  coro::Duration rtt{};        // RACK.rtt: RTT of that segment's delivery
  coro::Duration min_rtt{};    // RACK.min_RTT (lifetime minimum; zero until a sample)
  SeqNum fack;                 // RACK.fack: highest end of a delivered segment
  bool have_fack = false;
  bool reordering_seen = false;
  unsigned reo_wnd_mult = 1;   // RFC 8985 §6.2 step 4, raised by DSACKs
  unsigned reo_wnd_persist = 0;  // recoveries left before reo_wnd_mult resets (16)
  SeqNum dsack_round;          // one multiplier step per round trip
  bool dsack_round_valid = false;
  // TLP (RFC 8985 §7): the probe outstanding, if any.
  std::optional<SeqNum> tlp_end;
  bool tlp_is_retrans = false;

  // RFC 8985 §6.2 steps 1-3 for one newly delivered segment (ACKed or SACKed). `ts_ecr` is the
  // ACK's echo when timestamps are on.
  void on_delivered(const SentSegment& s, coro::TimePoint now, std::optional<std::uint32_t> ts_ecr);
  // RFC 8985 §6.2 step 4: the reordering window.
  coro::Duration reo_wnd(bool in_recovery, std::uint32_t sacked_segments,
                         coro::Duration srtt) const;
  // RFC 8985 §6.2 step 4: a DSACK (RFC 2883) showed a spurious retransmission; `snd_max` marks
  // the round trip.
  void on_dsack(SeqNum snd_una, SeqNum snd_max);
  // Called once per recovery episode (step 4's 16-recovery persistence of the multiplier).
  void on_recovery_end();
};

// RFC 8985 §6.2 step 5 (RACK_detect_loss): marks every unSACKed segment sent before RACK's and
// older than RACK.rtt + reo_wnd lost; returns how long until the next one would be (zero: none
// pending) and adds the newly marked segments to `*newly_lost`.
coro::Duration rack_detect_loss(SegmentLog& log, const Rack& rack, coro::TimePoint now,
                                coro::Duration reo_wnd, std::uint32_t* newly_lost);

// RFC 8985 §6.3 on RTO expiry: the first unacknowledged segment and every one older than
// RACK.rtt + reo_wnd is lost.
void rack_mark_losses_on_rto(SegmentLog& log, const Rack& rack, coro::TimePoint now,
                             coro::Duration reo_wnd);

}  // namespace coronet::stack::tcp
