// Loss recovery: fast retransmit and recovery (RFC 5681 §3.2, RFC 6582 without SACK, RFC 6675
// with it) paced by PRR (RFC 6937), RACK-TLP loss detection (RFC 8985) on connections with
// SACK, and the retransmission timeout (RFC 6298 §5).
#include <algorithm>
#include <array>

#include "coro/log.h"
#include "stack/tcp/tcp_layer.h"

namespace coronet::stack::tcp {

void TcpLayer::enter_recovery(Tcb& t) {
  // RFC 6675 §5 steps 4.1-4.3 (RFC 5681 §3.2 steps 2-3 without SACK; RFC 8985 §6.2: RACK
  // deemed a segment lost); ssthresh from the connection's congestion control; PRR (RFC 6937
  // §3) paces what follows.
  const auto flight = static_cast<std::uint32_t>(t.snd_max - t.snd_una);
  cc_on_loss(t.cc, flight, t.snd_mss);
  t.in_recovery = true;
  t.recover = t.snd_max;
  t.high_rxt = t.snd_una;
  t.prr_delivered = 0;
  t.prr_out = 0;
  t.recover_fs = flight;
  t.rto_recovery = false;
  t.rack.tlp_end.reset();  // this recovery's reduction covers a loss a probe may have repaired
  ++stats_.fast_retransmits;
  ++stats_.recoveries;
  // The fast retransmit goes regardless of cwnd: the first segment deemed lost (RACK), or the
  // one at SND.UNA (DupThresh).
  if (t.rack_on) {
    const std::size_t i = t.seglog.first_lost();
    if (i < t.seglog.size()) {
      const SentSegment s = t.seglog[i];
      retransmit(t, s.seq, std::min<std::uint32_t>(s.len, t.snd_mss));
    }
  } else {
    retransmit(t, t.snd_una, t.snd_mss);
  }
  prr_update(t, 0);
  mark_output(&t);
}

std::uint32_t TcpLayer::pipe(const Tcb& t) const {
  if (t.rack_on) return t.seglog.pipe();  // RFC 8985 §9.1: by segment, RACK's lost marks
  if (t.sack_ok) {
    SeqNum lost = t.scoreboard.lost_boundary(t.snd_una, t.snd_mss);
    return t.scoreboard.pipe(t.snd_una, t.snd_max, lost, t.high_rxt);
  }
  // Without SACK (RFC 6675 §5 note / RFC 6937 §3): every duplicate ACK is a segment gone.
  const auto flight = static_cast<std::uint32_t>(t.snd_max - t.snd_una);
  const std::uint32_t gone = t.dupacks * std::uint32_t{t.snd_mss};
  return flight > gone ? flight - gone : 0;
}

void TcpLayer::prr_update(Tcb& t, std::uint32_t delivered) {
  // RFC 6937 §3: proportional rate reduction while pipe > ssthresh, then slow-start reduction
  // bound (PRR-SSRB) up to ssthresh.
  t.prr_delivered += delivered;
  const std::int64_t pipe_now = pipe(t);
  const std::int64_t ssthresh = t.cc.ssthresh;
  std::int64_t sndcnt;
  if (pipe_now > ssthresh) {
    const std::int64_t fs = std::max<std::uint32_t>(t.recover_fs, 1);
    sndcnt = (static_cast<std::int64_t>(t.prr_delivered) * ssthresh + fs - 1) / fs - t.prr_out;
  } else {
    const std::int64_t limit =
        std::max<std::int64_t>(static_cast<std::int64_t>(t.prr_delivered) - t.prr_out,
                               delivered) +
        t.snd_mss;
    sndcnt = std::min(ssthresh - pipe_now, limit);
  }
  sndcnt = std::max<std::int64_t>(sndcnt, 0);
  t.cc.cwnd = static_cast<std::uint32_t>(pipe_now + sndcnt);
}

bool TcpLayer::retransmit(Tcb& t, SeqNum seq, std::uint32_t max_len) {
  // Only what was sent before is sent again (never new data, e.g. behind a window probe).
  SeqNum data_end = seq_min(t.sndbuf_seq + static_cast<std::uint32_t>(t.sndbuf.size()), t.snd_max);
  std::uint32_t n = data_end > seq
                        ? std::min<std::uint32_t>(max_len, static_cast<std::uint32_t>(data_end - seq))
                        : 0;
  // Past the data only the FIN is left to resend.
  std::uint8_t flags = flag::kAck;
  if (t.fin_seq && seq + n == *t.fin_seq) flags |= flag::kFin;
  if (n == 0 && (flags & flag::kFin) == 0) return false;
  send_segment(t, seq, n, flags);
  ++stats_.tx_retransmits;
  if (t.ts_ok) t.rexmit_ts = ts_clock(t);
  if (t.rtt_seq && !t.ts_ok && seq <= *t.rtt_seq) t.rtt_seq.reset();  // Karn
  const SeqNum end = seq + n + ((flags & flag::kFin) != 0 ? 1u : 0u);
  if (t.in_recovery) {
    t.high_rxt = seq_max(t.high_rxt, end);
    t.prr_out += n;
  }
  return true;
}

bool TcpLayer::retransmit_lost(Tcb& t) {
  bool sent = false;
  if (t.rack_on) {
    // RFC 6675 §5 step (C) NextSeg rule 1 over RACK's marks (RFC 8985 §6.2): while pipe leaves
    // room in cwnd, resend the segments deemed lost, lowest first. A resent one leaves the
    // candidates until RACK deems the retransmission lost too.
    std::size_t i = 0;
    while (pipe(t) < t.cc.cwnd) {
      i = t.seglog.first_lost(i);
      if (i == t.seglog.size()) break;
      const SentSegment s = t.seglog[i];
      if (!retransmit(t, s.seq, std::min<std::uint32_t>(s.len, t.snd_mss))) break;
      sent = true;
    }
    return sent;
  }
  // RFC 6675 §5 step (C) NextSeg rule 1: resend the lost holes the scoreboard shows, lowest
  // first, each once per recovery (above HighRxt).
  while (pipe(t) < t.cc.cwnd) {
    SeqNum lost = t.scoreboard.lost_boundary(t.snd_una, t.snd_mss);
    SeqNum seq;
    SeqNum hole_end;
    if (!t.scoreboard.next_lost(t.high_rxt, t.snd_una, lost, &seq, &hole_end)) break;
    auto n = std::min<std::uint32_t>(t.snd_mss, static_cast<std::uint32_t>(hole_end - seq));
    if (!retransmit(t, seq, n)) break;
    sent = true;
  }
  return sent;
}

std::uint32_t TcpLayer::rack_on_ack(Tcb& t, const TcpHeader& h, std::uint32_t acked,
                                    std::uint32_t plen) {
  const coro::TimePoint now = engine_.reactor().now();
  const std::optional<std::uint32_t> ecr = t.ts_ok ? h.options.ts_ecr : std::nullopt;
  // RFC 6298 §3 (Karn): the newest delivered segment that was sent only once times the path
  // without ambiguity, with or without timestamps.
  std::optional<coro::TimePoint> clean_xmit;
  auto delivered = [&](const SentSegment& s) {
    t.rack.on_delivered(s, now, ecr);
    if (!s.has(SentSegment::kEverRetransmitted) && (!clean_xmit || s.xmit > *clean_xmit)) {
      clean_xmit = s.xmit;
    }
  };
  const bool reordering_before = t.rack.reordering_seen;
  // Cumulatively acknowledged segments first, then the SACK blocks in sequence order: RACK's
  // reordering test compares each delivery with the highest one before it (RFC 8985 §6.2).
  t.seglog.advance(t.snd_una, delivered);
  // RFC 2883 §4: a first block below the cumulative ACK, or inside the second block, reports
  // a duplicate segment (D-SACK), not new data.
  const std::uint8_t count = h.options.sack_count;
  bool dsack = false;
  if (count > 0) {
    const SackBlock& b0 = h.options.sack[0];
    dsack = b0.left < h.ack || (count > 1 && b0.left >= h.options.sack[1].left &&
                                b0.right <= h.options.sack[1].right);
  }
  std::array<SackBlock, kMaxSackBlocks> blocks{};
  std::size_t n = 0;
  for (std::uint8_t b = dsack ? 1 : 0; b < count; ++b) {
    std::size_t k = n++;
    for (; k > 0 && h.options.sack[b].left < blocks[k - 1].left; --k) blocks[k] = blocks[k - 1];
    blocks[k] = h.options.sack[b];
  }
  for (std::size_t b = 0; b < n; ++b) t.seglog.sack(blocks[b].left, blocks[b].right, delivered);
  if (t.rack.reordering_seen && !reordering_before) ++stats_.rack_reordering_seen;
  if (clean_xmit) {
    // One sample per round trip keeps RFC 6298's gains meaningful (RFC 7323 Appendix G); any
    // valid sample ends the backoff (RFC 6298 §5.7 with Karn).
    if (!t.rtt_seq || t.snd_una > *t.rtt_seq) {
      update_rtt(t, now - *clean_xmit);
      t.rtt_seq = t.snd_max;
    }
    if (t.backoff > 0) {
      t.backoff = 0;
      if (t.snd_una != t.snd_max) arm_rexmit(t);
    }
  }
  if (dsack) {
    ++stats_.dsacks_received;
    t.rack.on_dsack(t.snd_una, t.snd_max);
  }
  // RFC 8985 §7.4: the end of a loss-probe episode.
  if (t.rack.tlp_end && h.ack >= *t.rack.tlp_end) {
    const SeqNum end = *t.rack.tlp_end;
    const SackBlock& b0 = h.options.sack[0];
    if (!t.rack.tlp_is_retrans) {
      t.rack.tlp_end.reset();  // new data: RACK judges any loss as usual
    } else if (dsack && b0.left < end && end <= b0.right) {
      t.rack.tlp_end.reset();  // the peer got both copies: nothing was lost
    } else if (h.ack > end) {
      // No D-SACK by the time data beyond the probe is acknowledged: the probe repaired a
      // loss, which must still draw the congestion response of a fast recovery (§7.4.2).
      t.rack.tlp_end.reset();
      if (!t.in_recovery) {
        cc_on_loss(t.cc, static_cast<std::uint32_t>(t.snd_max - t.snd_una), t.snd_mss);
        t.cc.cwnd = t.cc.ssthresh;
      }
      ++stats_.tlp_loss_repaired;
    } else if (acked == 0 && count == 0 && plen == 0) {
      t.rack.tlp_end.reset();  // a duplicate ACK for the second copy from a peer without D-SACK
    }
  }
  return rack_detect_and_arm(t);
}

std::uint32_t TcpLayer::rack_detect_and_arm(Tcb& t) {
  // RFC 8985 §6.2 step 5 and RACK_detect_loss_and_arm_timer: segments not yet old enough to be
  // called lost are looked at again when they are.
  const coro::TimePoint now = engine_.reactor().now();
  std::uint32_t newly = 0;
  const coro::Duration reo = t.rack.reo_wnd(t.in_recovery, t.seglog.sacked_segments(), t.srtt);
  const coro::Duration wait = rack_detect_loss(t.seglog, t.rack, now, reo, &newly);
  stats_.rack_losses += newly;
  if (wait.count() > 0) {
    t.rack_timer_is_probe = false;
    engine_.reactor().arm_timer(t.rack_timer, now + wait);
  } else if (t.rack_timer.armed() && !t.rack_timer_is_probe) {
    engine_.reactor().cancel_timer(t.rack_timer);
  }
  return newly;
}

void TcpLayer::on_rack_timeout(Tcb& t) {
  if (!can_send_data(t.state)) return;
  if (t.rack_timer_is_probe) {
    send_tlp_probe(t);
    return;
  }
  ++stats_.rack_reorder_timeouts;
  if (rack_detect_and_arm(t) == 0) return;
  if (!t.in_recovery) {
    enter_recovery(t);
  } else {
    mark_output(&t);
  }
}

void TcpLayer::schedule_tlp(Tcb& t) {
  // RFC 8985 §7.2: a probe timer while data is outstanding outside loss recovery, with no
  // probe unanswered and nothing SACKed (then RACK's own timer watches the flight).
  if (!t.rack_on || t.in_recovery || t.rack.tlp_end || t.snd_una == t.snd_max ||
      t.snd_wnd == 0 || t.seglog.sacked_segments() > 0) {
    return;
  }
  if (t.rack_timer.armed() && !t.rack_timer_is_probe) return;  // the reordering timer rules
  // PTO = 2 SRTT, plus the peer's worst-case delayed ACK when a lone segment is out (its ACK
  // may be held back), plus a timer tick otherwise; one second before any RTT sample.
  coro::Duration pto = std::chrono::seconds(1);
  if (t.have_rtt) {
    pto = 2 * t.srtt + (t.seglog.size() == 1 ? config_.tlp_max_ack_delay
                                             : coro::Duration(std::chrono::milliseconds(2)));
  }
  const coro::TimePoint at = engine_.reactor().now() + pto;
  if (t.rexmit_timer.armed() && at >= t.rexmit_deadline) {
    // The RTO comes first: no probe.
    if (t.rack_timer.armed()) engine_.reactor().cancel_timer(t.rack_timer);
    return;
  }
  t.rack_timer_is_probe = true;
  engine_.reactor().arm_timer(t.rack_timer, at);
}

void TcpLayer::send_tlp_probe(Tcb& t) {
  // RFC 8985 §7.3: one segment to draw an ACK (and with it SACK information) from the peer:
  // new data if the window allows, else the last segment again. Then the RTO runs.
  if (t.in_recovery || t.rack.tlp_end || t.snd_una == t.snd_max || t.seglog.empty()) return;
  ++stats_.tlp_probes;
  const SeqNum before = t.snd_nxt;
  const SeqNum data_end = t.sndbuf_seq + static_cast<std::uint32_t>(t.sndbuf.size());
  const auto flight = static_cast<std::uint32_t>(t.snd_nxt - t.snd_una);
  t.rack.tlp_end = t.snd_nxt;  // a probe is under way (output() must not schedule another)
  t.rack.tlp_is_retrans = false;
  if (data_end > t.snd_nxt && t.snd_wnd > flight && t.snd_nxt == t.snd_max) {
    t.tlp_probe_due = true;
    output(t);
    t.tlp_probe_due = false;
  }
  if (t.snd_nxt != before) {
    ++stats_.tlp_new_data;
    t.rack.tlp_end = t.snd_nxt;
  } else {
    const SentSegment last = t.seglog[t.seglog.size() - 1];
    const std::uint32_t n = std::min<std::uint32_t>(last.len, t.snd_mss);
    if (!retransmit(t, last.end() - n, n)) {
      t.rack.tlp_end.reset();
      return;
    }
    t.rack.tlp_end = t.snd_max;
    t.rack.tlp_is_retrans = true;
  }
  arm_rexmit(t);
}

bool TcpLayer::recovery_extra(Tcb& t) {
  // RFC 6675 §4 NextSeg, after rule 1 (lost holes) and rule 2 (new data) found nothing more.
  bool sent = false;
  const SeqNum highest_sacked = t.scoreboard.highest(t.snd_una);
  // Rule 3: holes below the highest SACKed byte not yet deemed lost, above HighRxt.
  while (pipe(t) < t.cc.cwnd) {
    SeqNum seq;
    SeqNum hole_end;
    if (!t.scoreboard.next_lost(t.high_rxt, t.snd_una, highest_sacked, &seq, &hole_end)) break;
    auto n = std::min<std::uint32_t>(t.snd_mss, static_cast<std::uint32_t>(hole_end - seq));
    if (!retransmit(t, seq, n)) break;
    sent = true;
  }
  // Rule 4: one rescue retransmission per recovery, of the segment holding the highest
  // unSACKed byte outstanding (a lost tail would otherwise wait for the RTO). HighRxt stays.
  if (!sent && pipe(t) < t.cc.cwnd && (!t.rescue_rxt || t.snd_una > *t.rescue_rxt) &&
      highest_sacked < t.snd_max) {
    SeqNum data_end = seq_min(t.sndbuf_seq + static_cast<std::uint32_t>(t.sndbuf.size()),
                              t.snd_max);
    if (data_end > t.snd_una) {
      const auto span = static_cast<std::uint32_t>(data_end - t.snd_una);
      const std::uint32_t n = std::min<std::uint32_t>(t.snd_mss, span);
      const SeqNum seq = data_end - n;
      const SeqNum high_rxt = t.high_rxt;
      if (retransmit(t, seq, n)) {
        t.high_rxt = high_rxt;
        t.rescue_rxt = t.recover;
        ++stats_.rescue_retransmits;
        sent = true;
      }
    }
  }
  return sent;
}

void TcpLayer::on_rexmit_timeout(Tcb& t) {
  ++stats_.rto_expiries;
  ++t.backoff;  // RFC 6298 §5.5: back off the timer
  t.rtt_seq.reset();  // Karn: nothing retransmitted is timed
  if (t.state == State::kSynSent || t.state == State::kSynReceived) {
    if (t.backoff > config_.max_syn_retries) {
      set_closed(t, Errc::kTimedOut);
      return;
    }
    ++stats_.tx_retransmits;
    t.syn_retransmitted = true;
    send_syn(t);
    arm_rexmit(t);
    return;
  }
  if (t.snd_una == t.snd_max) return;  // everything was acknowledged meanwhile
  ++t.rto_unanswered;
  // RFC 9293 §3.8.4 USER TIMEOUT (RFC 5482): data unacknowledged this long ends the connection.
  if (t.user_timeout.count() > 0 && engine_.reactor().now() - t.una_progress >= t.user_timeout) {
    ++stats_.user_timeouts;
    send_rst(t.local, t.remote, t.snd_max, SeqNum(), false);
    set_closed(t, Errc::kTimedOut);
    return;
  }
  // A zero window is probed without limit while the peer keeps answering (RFC 1122 §4.2.2.17);
  // a peer that closed its window and then fell silent gets max_retries like any other (found
  // by tests/fuzz/frame_fuzz: such a connection, or a FIN behind its zero window, lived forever).
  if (t.backoff > config_.max_retries &&
      (t.snd_wnd != 0 || t.rto_unanswered > config_.max_retries)) {
    log::debug("tcp {} -> {}: {} retransmissions unanswered, giving up", t.local.to_string(),
               t.remote.to_string(), config_.max_retries);
    send_rst(t.local, t.remote, t.snd_max, SeqNum(), false);
    set_closed(t, Errc::kTimedOut);
    return;
  }
  // RFC 5681 §3.1 (RFC 9438 §4.8 for CUBIC): ssthresh from the congestion control, cwnd one
  // segment (the loss window). RFC 2018 §8: a peer may renege on SACKed data, so a second
  // timeout in a row forgets what it SACKed and resends everything.
  std::uint32_t flight = static_cast<std::uint32_t>(t.snd_max - t.snd_una);
  cc_on_timeout(t.cc, flight, t.snd_mss);
  t.dupacks = 0;
  if (t.backoff >= 2) {
    t.scoreboard.clear();
    t.seglog.unsack_all();
  }
  if (t.ts_ok) t.rexmit_ts = ts_clock(t);  // echoes older than this give no RTT sample
  arm_rexmit(t);
  SeqNum data_end = t.sndbuf_seq + static_cast<std::uint32_t>(t.sndbuf.size());
  if (t.snd_wnd == 0 && data_end > t.snd_una) {
    // Zero window: the retransmission is the next probe.
    t.in_recovery = false;
    t.rto_recovery = false;
    t.snd_nxt = t.snd_una;
    send_window_probe(t);
    return;
  }
  if (t.rack_on) {
    // RFC 8985 §6.3: the first unacknowledged segment and all older than RACK.rtt + reo_wnd
    // are lost; they are resent in slow start from cwnd = 1 segment, lowest first, new data
    // after them (a recovery episode that grows cwnd rather than PRR's reduction).
    const coro::TimePoint now = engine_.reactor().now();
    if (t.in_recovery && !t.rto_recovery) t.rack.on_recovery_end();
    rack_mark_losses_on_rto(t.seglog, t.rack,  now,
                            t.rack.reo_wnd(true, t.seglog.sacked_segments(), t.srtt));
    t.in_recovery = true;
    t.rto_recovery = true;
    t.recover = t.snd_max;
    t.rack.tlp_end.reset();
    engine_.reactor().cancel_timer(t.rack_timer);
  } else {
    // Go back to SND.UNA and resend in slow start, skipping what the peer SACKed.
    t.in_recovery = false;
    t.snd_nxt = t.snd_una;  // the FIN, if sent, goes again with (or after) the data before it
  }
  output(t);
}

}  // namespace coronet::stack::tcp
