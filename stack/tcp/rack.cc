#include "stack/tcp/rack.h"

namespace coronet::stack::tcp {

void SegmentLog::grow() {
  const std::size_t cap = ring_.empty() ? kInitialCapacity : ring_.size() * 2;
  std::vector<SentSegment> next(cap);
  for (std::size_t i = 0; i < n_; ++i) next[i] = (*this)[i];
  ring_ = std::move(next);
  mask_ = cap - 1;
  head_ = 0;
}

void SegmentLog::remove_bytes(const SentSegment& s, std::uint32_t d) {
  outstanding_ -= d;
  if (s.has(SentSegment::kSacked)) {
    sacked_ -= d;
    if (d == s.len) --sacked_segs_;
    return;
  }
  if (s.has(SentSegment::kLost)) lost_ -= d;
  if (s.has(SentSegment::kRetrans)) retrans_ -= d;
}

void SegmentLog::set_sacked(SentSegment& s) {
  // SACKed data is neither lost nor in flight any more, whatever copy arrived.
  if (s.has(SentSegment::kLost)) lost_ -= s.len;
  if (s.has(SentSegment::kRetrans)) retrans_ -= s.len;
  s.flags = static_cast<std::uint8_t>((s.flags & ~(SentSegment::kLost | SentSegment::kRetrans)) |
                                      SentSegment::kSacked);
  sacked_ += s.len;
  ++sacked_segs_;
}

std::size_t SegmentLog::find(SeqNum s) const {
  // Records are contiguous and sorted: the first whose end lies beyond s.
  std::size_t lo = 0;
  std::size_t hi = n_;
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if ((*this)[mid].end() <= s) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < n_ && (*this)[lo].seq <= s ? lo : n_;
}

std::size_t SegmentLog::split(SeqNum at) {
  const std::size_t i = find(at);
  if (i == n_) return (n_ > 0 && at < (*this)[0].seq) ? 0 : n_;
  SentSegment& s = (*this)[i];
  if (s.seq == at) return i;
  if (full()) return i + 1;  // at the cap: the record stays whole
  if (n_ == ring_.size()) grow();
  // Shift the records after i one place up, then cut record i in two with the same history.
  for (std::size_t k = n_; k > i + 1; --k) (*this)[k] = (*this)[k - 1];
  ++n_;
  SentSegment& first = (*this)[i];
  SentSegment& second = (*this)[i + 1];
  second = first;
  const auto head_len = static_cast<std::uint32_t>(at - first.seq);
  second.seq = at;
  second.len = first.len - head_len;
  first.len = head_len;
  if (first.has(SentSegment::kSacked)) ++sacked_segs_;
  return i + 1;
}

void SegmentLog::on_send(SeqNum seq, std::uint32_t len, coro::TimePoint now, std::uint32_t ts_val) {
  if (len == 0) return;
  SeqNum stop = seq + len;
  if (n_ > 0 && seq < end()) {
    // A retransmission (or a send overlapping a window probe's byte): update what it covers.
    // A send that also runs past the end keeps a slot for its new part: near the cap the
    // record it starts in is not split but counted resent whole.
    const SeqNum upto = seq_min(stop, end());
    const bool appends = stop > end();
    std::size_t i = appends && n_ + 1 >= max_ ? find(seq) : split(seq);
    split(upto);
    for (; i < n_ && (*this)[i].seq < upto; ++i) {
      SentSegment& s = (*this)[i];
      if (s.end() <= seq) continue;
      s.xmit = now;
      s.ts_val = ts_val;
      s.flags |= SentSegment::kEverRetransmitted;
      if (!s.has(SentSegment::kSacked) && !s.has(SentSegment::kRetrans)) {
        s.flags |= SentSegment::kRetrans;
        retrans_ += s.len;
      }
    }
    if (!appends) return;
    seq = end();
  }
  const auto extra = static_cast<std::uint32_t>(stop - seq);
  if (full() && n_ > 0) {
    // At the cap (reached only through sends overlapping old ones): the last record grows.
    SentSegment& last = (*this)[n_ - 1];
    last.len += extra;
    last.xmit = now;
    last.ts_val = ts_val;
    outstanding_ += extra;
    if (last.has(SentSegment::kSacked)) sacked_ += extra;
    if (last.has(SentSegment::kLost)) lost_ += extra;
    if (last.has(SentSegment::kRetrans)) retrans_ += extra;
    return;
  }
  if (n_ == ring_.size()) grow();
  SentSegment& s = (*this)[n_];
  s = SentSegment{.seq = seq, .len = extra, .xmit = now, .ts_val = ts_val, .flags = 0};
  ++n_;
  outstanding_ += extra;
}

void SegmentLog::mark_lost(std::size_t i) {
  SentSegment& s = (*this)[i];
  if (s.has(SentSegment::kSacked)) return;
  if (s.has(SentSegment::kRetrans)) {
    retrans_ -= s.len;
    s.flags &= static_cast<std::uint8_t>(~SentSegment::kRetrans);
  }
  if (!s.has(SentSegment::kLost)) {
    s.flags |= SentSegment::kLost;
    lost_ += s.len;
  }
}

void SegmentLog::unsack_all() {
  for (std::size_t i = 0; i < n_; ++i) {
    SentSegment& s = (*this)[i];
    if (!s.has(SentSegment::kSacked)) continue;
    s.flags &= static_cast<std::uint8_t>(~SentSegment::kSacked);
    sacked_ -= s.len;
    --sacked_segs_;
  }
}

std::size_t SegmentLog::first_lost(std::size_t from) const {
  if (lost_ == 0) return n_;
  for (std::size_t i = from; i < n_; ++i) {
    const SentSegment& s = (*this)[i];
    if (s.has(SentSegment::kLost) && !s.has(SentSegment::kRetrans) &&
        !s.has(SentSegment::kSacked)) {
      return i;
    }
  }
  return n_;
}

void SegmentLog::clear() {
  ring_.clear();
  ring_.shrink_to_fit();
  mask_ = head_ = n_ = 0;
  outstanding_ = sacked_ = lost_ = retrans_ = sacked_segs_ = 0;
}

namespace {

// RFC 8985 §6.2: segment a was sent after segment b (ties in time broken by sequence).
bool sent_after(coro::TimePoint a_xmit, SeqNum a_end, coro::TimePoint b_xmit, SeqNum b_end) {
  return a_xmit > b_xmit || (a_xmit == b_xmit && a_end > b_end);
}

}  // namespace

void Rack::on_delivered(const SentSegment& s, coro::TimePoint now,
                        std::optional<std::uint32_t> ts_ecr) {
  // Step 3 (RACK_detect_reordering): a segment sent once, delivered below one delivered
  // earlier, was reordered.
  if (!have_fack || s.end() > fack) {
    fack = s.end();
    have_fack = true;
  } else if (s.end() < fack && !s.has(SentSegment::kEverRetransmitted)) {
    reordering_seen = true;
  }
  // Step 2 (RACK_update): a retransmitted segment's delivery is ambiguous when the echo shows
  // an earlier copy, or when it came back faster than any round trip seen: skip it.
  const coro::Duration rtt_now = now - s.xmit;
  if (s.has(SentSegment::kEverRetransmitted)) {
    if (ts_ecr && static_cast<std::int32_t>(*ts_ecr - s.ts_val) < 0) return;
    if (min_rtt.count() > 0 && rtt_now < min_rtt) return;
  } else if (min_rtt.count() == 0 || rtt_now < min_rtt) {
    min_rtt = rtt_now;  // step 1, from unambiguous samples
  }
  rtt = rtt_now;
  if (!have_xmit || sent_after(s.xmit, s.end(), xmit, end_seq)) {
    xmit = s.xmit;
    end_seq = s.end();
    have_xmit = true;
  }
}

coro::Duration Rack::reo_wnd(bool in_recovery, std::uint32_t sacked_segments,
                             coro::Duration srtt) const {
  // Step 4: before any reordering is seen, no wait once recovery has started or DupThresh
  // segments are SACKed (the classic rule, RFC 6675); otherwise a quarter of min_RTT per
  // multiplier step, never more than SRTT.
  if (!reordering_seen && (in_recovery || sacked_segments >= kDupThresh)) return {};
  return std::min<coro::Duration>(reo_wnd_mult * min_rtt / 4, srtt);
}

void Rack::on_dsack(SeqNum snd_una, SeqNum snd_max) {
  // Step 4: at most one increase per round trip; it holds for 16 recoveries.
  if (dsack_round_valid && snd_una < dsack_round) return;
  dsack_round = snd_max;
  dsack_round_valid = true;
  reo_wnd_mult = std::min(reo_wnd_mult + 1, 64u);
  reo_wnd_persist = 16;
}

void Rack::on_recovery_end() {
  if (reo_wnd_persist > 0 && --reo_wnd_persist == 0) reo_wnd_mult = 1;
}

coro::Duration rack_detect_loss(SegmentLog& log, const Rack& rack, coro::TimePoint now,
                                coro::Duration reo_wnd, std::uint32_t* newly_lost) {
  if (!rack.have_xmit) return {};
  coro::Duration timeout{};
  for (std::size_t i = 0; i < log.size(); ++i) {
    const SentSegment& s = log[i];
    if (!sent_after(rack.xmit, rack.end_seq, s.xmit, s.end())) {
      // Records are in order of first transmission: once one sent only once is not older than
      // RACK's, none after it is either.
      if (!s.has(SentSegment::kEverRetransmitted)) break;
      continue;
    }
    if (s.has(SentSegment::kSacked)) continue;
    if (s.has(SentSegment::kLost) && !s.has(SentSegment::kRetrans)) continue;  // already waiting
    const coro::Duration remaining = s.xmit + rack.rtt + reo_wnd - now;
    if (remaining.count() <= 0) {
      log.mark_lost(i);
      ++*newly_lost;
    } else {
      timeout = std::max(timeout, remaining);
    }
  }
  return timeout;
}

void rack_mark_losses_on_rto(SegmentLog& log, const Rack& rack, coro::TimePoint now,
                             coro::Duration reo_wnd) {
  for (std::size_t i = 0; i < log.size(); ++i) {
    const SentSegment& s = log[i];
    if (s.has(SentSegment::kSacked)) continue;
    if (i == 0 || s.xmit + rack.rtt + reo_wnd <= now) log.mark_lost(i);
  }
}

}  // namespace coronet::stack::tcp
