// Segment arrival: RFC 9293 §3.10.7, with RFC 5961's blind-attack checks that RFC 9293 adopts.
#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "nic/packet_pool.h"
#include "stack/tcp/tcp_layer.h"

namespace coronet::stack::tcp {
namespace {

std::uint32_t seg_length(const TcpHeader& h, std::uint32_t payload) {
  return payload + (h.has(flag::kSyn) ? 1 : 0) + (h.has(flag::kFin) ? 1 : 0);
}

}  // namespace

void TcpLayer::input(nic::Packet* p, const IpRxInfo& info) {
  ++stats_.rx_segments;
  std::span<const std::byte> seg = p->bytes();
  if (p->next() != nullptr) {
    // A reassembled datagram arrives as a chain: linearise it (rare; fragments are unusual for
    // TCP, which sizes segments by MSS).
    std::size_t n = p->copy_out(scratch_);
    seg = std::span<const std::byte>(scratch_.data(), n);
  }
  // RFC 1122 §4.2.3.10 (and RFC 9293's unicast-only model): a segment sent to a broadcast or
  // multicast address is silently discarded: never a SYN-ACK or RST to a whole subnet. (Found by
  // tests/fuzz/frame_fuzz: a segment to 198.18.0.255 was answered with a RST.)
  if (info.ip_broadcast) {
    ++stats_.rx_not_unicast;
    nic::PacketPool::free(p);
    return;
  }
  ParseError perr{};
  std::optional<TcpHeader> h = parse_header(seg, &perr);
  if (!h) {
    ++stats_.rx_malformed;
    nic::PacketPool::free(p);
    return;
  }
  if (!info.l4_checksum_verified &&
      tcp_checksum(info.src.raw(), info.dst.raw(), seg) != 0) {
    ++stats_.rx_bad_checksum;
    nic::PacketPool::free(p);
    return;
  }
  if (h->options.malformed) ++stats_.rx_bad_options;  // parsed as far as possible, then ignored
  std::span<const std::byte> payload = seg.subspan(h->header_len());
  auto plen = static_cast<std::uint32_t>(payload.size());
  Tcb* t = lookup({info.src.raw(), h->src_port, h->dst_port});
  if (t != nullptr && t->state == State::kTimeWait && h->has(flag::kSyn) &&
      !h->has(flag::kAck) && !h->has(flag::kRst) && time_wait_reusable(*t, *h)) {
    // RFC 6191 §2 (RFC 9293 §3.10.7.4 note, RFC 1122 §4.2.2.13): a new SYN that is provably
    // newer than the old incarnation ends TIME-WAIT early and opens a new connection.
    ++stats_.time_wait_reused;
    set_closed(*t, std::nullopt);  // out of the table; freed at the next flush
    t = nullptr;
  }
  if (t == nullptr) {
    auto it = listeners_.find(h->dst_port);
    if (it != listeners_.end()) {
      if (h->has(flag::kAck) && !h->has(flag::kSyn) && !h->has(flag::kRst) &&
          config_.syn_cookies) {
        // Perhaps the third segment of a handshake answered with a SYN cookie (RFC 4987 §3.6).
        bool consumed = false;
        Tcb* c = cookie_ack_input(*it->second, *h, info, &consumed);
        if (c == nullptr && consumed) {
          nic::PacketPool::free(p);
          return;
        }
        if (c != nullptr) {
          c->last_rx = engine_.reactor().now();
          rx_packet_ = p->next() == nullptr ? p : nullptr;
          const bool could_hold = rx_packet_ != nullptr;
          segment_input(*c, *h, payload);
          const bool held = could_hold && rx_packet_ == nullptr;
          rx_packet_ = nullptr;
          if (!held) nic::PacketPool::free(p);
          return;
        }
      }
      listen_input(*it->second, *h, info, plen);
    } else {
      reset_answer(*h, info, seg_length(*h, plen));
    }
  } else if (t->state == State::kSynSent) {
    syn_sent_input(*t, *h);
  } else {
    t->last_rx = engine_.reactor().now();  // any segment proves the peer alive (keepalive)
    t->rto_unanswered = 0;
    t->keepalive_probes = 0;
    rx_packet_ = p->next() == nullptr ? p : nullptr;  // (a linearised chain cannot be held)
    const bool could_hold = rx_packet_ != nullptr;
    segment_input(*t, *h, payload);
    const bool held = could_hold && rx_packet_ == nullptr;
    rx_packet_ = nullptr;
    if (held) return;  // the receive buffer owns it now
  }
  nic::PacketPool::free(p);  // data was copied into the receive window (or to the reader)
}

void TcpLayer::challenge_ack(Tcb& t) {
  // RFC 5961 §7: challenge ACKs are rate-limited per core, so they cannot be turned into an
  // amplifier (or a side channel) by a flood of forged segments.
  const coro::TimePoint now = engine_.reactor().now();
  if (challenge_windows_ == 0 || now - challenge_window_start_ >= std::chrono::seconds(1)) {
    challenge_window_start_ = now;
    challenge_acks_in_window_ = 0;
    // A fixed budget is itself a side channel (CVE-2016-5696, RFC 5961 §10): an off-path attacker
    // who exhausts it can count our challenge ACKs and learn whether a guess hit a window. So
    // each second's budget is drawn from [limit/2, 3*limit/2] by a keyed hash of the second's
    // number: unpredictable without the key.
    const std::uint64_t n = ++challenge_windows_;
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, reinterpret_cast<const unsigned char*>(&n), sizeof(n), cookie_key_);
    std::uint32_t r;
    std::memcpy(&r, h, sizeof(r));
    const std::uint32_t limit = config_.challenge_ack_limit;
    challenge_budget_ = limit / 2 + r % (limit + 1);
  }
  if (challenge_acks_in_window_ >= challenge_budget_) {
    ++stats_.challenge_acks_suppressed;
    return;
  }
  ++challenge_acks_in_window_;
  ++stats_.challenge_acks;
  t.ack_now = true;
  mark_output(&t);
}

void TcpLayer::reset_answer(const TcpHeader& h, const IpRxInfo& info, std::uint32_t seg_len) {
  // RFC 9293 §3.10.7.1 (CLOSED): an incoming RST is dropped; otherwise answer with a RST.
  ++stats_.rx_no_connection;
  if (h.has(flag::kRst)) return;
  Endpoint local{info.dst, h.dst_port};
  Endpoint remote{info.src, h.src_port};
  if (h.has(flag::kAck)) {
    send_rst(local, remote, h.ack, SeqNum(), false);  // <SEQ=SEG.ACK><CTL=RST>
  } else {
    send_rst(local, remote, SeqNum(0), h.seq + seg_len, true);  // <SEQ=0><ACK=SEG.SEQ+SEG.LEN>
  }
}

void TcpLayer::apply_syn_options(Tcb& t, const TcpHeader& h) {
  // RFC 6691 / RFC 9293 §3.7.1: without the option the peer's MSS is 536; never above what our
  // own MTU carries.
  std::uint16_t ours = static_cast<std::uint16_t>(engine_.mtu() - 40);
  t.snd_mss = std::min<std::uint16_t>(h.options.mss.value_or(536), ours);
  if (t.snd_mss < 64) {
    t.snd_mss = 64;  // MSS 0 or a tiny one: no empty or absurdly small segments
    ++stats_.rx_bad_options;
  }
  // RFC 7323 §3.2: timestamps are on only when both SYNs carry them (we offer them when
  // configured); RFC 2018 §2: likewise SACK-permitted.
  t.ts_ok = config_.timestamps && h.options.ts_val.has_value();
  if (t.ts_ok) {
    t.ts_recent = *h.options.ts_val;
    // The option takes 12 bytes of every segment: send that much less data (RFC 6691 §2).
    t.snd_mss = static_cast<std::uint16_t>(std::max(64, t.snd_mss - 12));
  }
  t.sack_ok = config_.sack && h.options.sack_permitted;
  t.rack_on = t.sack_ok && config_.rack;  // RFC 8985 needs SACK
  // RFC 7323 §2.2: scaling is on only when both SYNs carry the option; shifts above 14 are 14.
  if (h.options.window_scale) {
    t.wscale_ok = true;
    t.snd_wscale = std::min<std::uint8_t>(*h.options.window_scale, 14);
    if (*h.options.window_scale > 14) ++stats_.rx_bad_options;  // RFC 7323 §2.3: SHOULD log
    std::size_t cap = t.rcvbuf.capacity();
    std::uint8_t shift = 0;
    while (shift < 14 && (cap >> shift) > 0xffff) ++shift;
    t.rcv_wscale = shift;
  } else {
    t.wscale_ok = false;
    t.snd_wscale = 0;
    t.rcv_wscale = 0;
  }
}

void TcpLayer::listen_input(ListenerState& l, const TcpHeader& h, const IpRxInfo& info,
                            std::uint32_t plen) {
  // RFC 9293 §3.10.7.2 (LISTEN).
  if (h.has(flag::kRst)) return;  // first: ignore
  if (h.has(flag::kAck)) {        // second: <SEQ=SEG.ACK><CTL=RST>
    reset_answer(h, info, seg_length(h, plen));
    return;
  }
  if (!h.has(flag::kSyn)) return;  // fourth: drop anything else
  if (info.dst != engine_.address()) {
    ++stats_.syn_dropped_backlog;
    return;
  }
  if (l.embryonic + l.queued >= l.backlog) {
    // RFC 4987 §3.6: with the queue full, answer statelessly; the state comes back encoded in
    // the ISN (and timestamp) when the peer's ACK arrives.
    if (config_.syn_cookies && l.queued < l.backlog) {
      send_syn_cookie(l, h, info);
    } else {
      ++stats_.syn_dropped_backlog;
    }
    return;
  }
  Tcb* t = new_tcb({info.dst, h.dst_port}, {info.src, h.src_port}, l.buffers);
  t->listener = &l;
  ++l.embryonic;
  t->irs = h.seq;
  t->rcvbuf.reset(h.seq + 1);  // RCV.NXT = SEG.SEQ+1; data on the SYN is not queued
  t->rcv_adv = h.seq + 1;
  apply_syn_options(*t, h);
  t->iss = generate_isn(t->local, t->remote);
  t->ts_offset = ts_offset_for(t->local, t->remote);  // RFC 7323 §5.4
  t->snd_una = t->iss;
  t->snd_nxt = t->iss + 1;
  t->snd_max = t->snd_nxt;
  t->sndbuf_seq = t->iss + 1;
  t->snd_wnd = h.window;  // unscaled in a SYN (RFC 7323 §2.2)
  t->snd_wl1 = h.seq;
  t->snd_wl2 = t->iss;
  t->max_snd_wnd = t->snd_wnd;
  t->state = State::kSynReceived;
  insert(t);
  send_syn(*t);  // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>
  arm_rexmit(*t);
}

void TcpLayer::syn_sent_input(Tcb& t, const TcpHeader& h) {
  // RFC 9293 §3.10.7.3 (SYN-SENT).
  bool ack_ok = false;
  if (h.has(flag::kAck)) {
    // First: ACK outside (ISS, SND.NXT] gets a reset unless it is one.
    if (h.ack <= t.iss || h.ack > t.snd_max) {
      if (!h.has(flag::kRst)) send_rst(t.local, t.remote, h.ack, SeqNum(), false);
      return;
    }
    ack_ok = true;
  }
  if (h.has(flag::kRst)) {  // second
    if (ack_ok) set_closed(t, Errc::kConnectionRefused);
    return;
  }
  if (!h.has(flag::kSyn)) return;  // fifth: neither SYN nor RST: drop
  // Fourth: SYN.
  t.irs = h.seq;
  t.rcvbuf.reset(h.seq + 1);
  t.rcv_adv = h.seq + 1;
  apply_syn_options(t, h);
  t.snd_wnd = static_cast<std::uint32_t>(h.window);  // SYN windows are never scaled
  t.snd_wl1 = h.seq;
  t.snd_wl2 = h.ack;
  t.max_snd_wnd = t.snd_wnd;
  if (ack_ok) {
    t.snd_una = h.ack;
    if (t.rtt_seq && h.ack > *t.rtt_seq && t.backoff == 0) {
      update_rtt(t, engine_.reactor().now() - t.rtt_start);
    }
    t.rtt_seq.reset();
    t.backoff = 0;
    engine_.reactor().cancel_timer(t.rexmit_timer);
    established(t);
    t.ack_now = true;  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
    mark_output(&t);
  } else {
    // Simultaneous open: SYN-RECEIVED, answer <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    t.state = State::kSynReceived;
    send_syn(t);
    arm_rexmit(t);
  }
}

void TcpLayer::segment_input(Tcb& t, const TcpHeader& h0, std::span<const std::byte> payload) {
  TcpHeader h = h0;
  auto plen = static_cast<std::uint32_t>(payload.size());
  SeqNum nxt = rcv_nxt(t);
  std::uint32_t wnd = t.rcv_adv > nxt ? static_cast<std::uint32_t>(t.rcv_adv - nxt) : 0;
  std::uint32_t len = seg_length(h, plen);
  if (t.state == State::kSynReceived && h.has(flag::kSyn) && !h.has(flag::kRst) &&
      h.seq == t.irs) {
    // The peer repeated its SYN: our SYN-ACK was lost. Answer it again (as Linux does) rather
    // than with the bare ACK an old duplicate would earn.
    send_syn(t);
    return;
  }
  if (t.ts_ok && !h.has(flag::kRst)) {
    if (!h.options.ts_val) {
      // RFC 7323 §3.2: once negotiated, a non-RST segment without the option is dropped.
      ++stats_.ts_missing;
      return;
    }
    // RFC 7323 §5.3 PAWS: a timestamp older than TS.Recent marks an old duplicate: ACK, drop.
    // (The 24-day idle exception of §5.5 is not needed while connections are reset after
    // max_retries and keepalive; a connection idle that long is not kept.)
    if (static_cast<std::int32_t>(*h.options.ts_val - t.ts_recent) < 0) {
      ++stats_.paws_rejected;
      t.ack_now = true;
      mark_output(&t);
      return;
    }
  }
  if (t.state == State::kTimeWait && h.has(flag::kFin) && !h.has(flag::kRst) &&
      h.seq + len == nxt) {
    // RFC 9293 §3.10.7.4 (TIME-WAIT, fifth and eighth): the peer's FIN again (our last ACK was
    // lost): acknowledge it and restart the 2*MSL timeout. It sits just below the window, so
    // the acceptability test would only ACK it.
    t.ack_now = true;
    mark_output(&t);
    enter_time_wait(t);
    return;
  }
  // First: sequence number acceptability (RFC 9293 §3.10.7.4, the four cases).
  bool acceptable;
  if (len == 0) {
    acceptable = wnd == 0 ? h.seq == nxt : h.seq.in_range(nxt, nxt + wnd);
  } else if (wnd == 0) {
    acceptable = false;
  } else {
    acceptable = h.seq.in_range(nxt, nxt + wnd) || (h.seq + (len - 1)).in_range(nxt, nxt + wnd);
  }
  if (!acceptable) {
    ++stats_.rx_out_of_window;
    if (plen > 0 && h.seq + plen <= nxt) note_duplicate(t, h.seq, h.seq + plen);
    if (!h.has(flag::kRst)) {  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, then drop
      t.ack_now = true;
      mark_output(&t);
    }
    return;
  }
  // RFC 7323 §4.3: remember the newest timestamp of a segment that covers Last.ACK.sent.
  if (t.ts_ok && h.options.ts_val && h.seq <= t.last_ack_sent &&
      static_cast<std::int32_t>(*h.options.ts_val - t.ts_recent) >= 0) {
    t.ts_recent = *h.options.ts_val;
  }
  // Second: RST. RFC 5961 §3.2: exactly RCV.NXT resets; elsewhere in the window it only earns a
  // challenge ACK, so a blind attacker must guess the exact number.
  if (h.has(flag::kRst)) {
    if (t.state == State::kTimeWait) {
      // RFC 1337 §4 (TW.1): by default a RST does not cut TIME-WAIT short ("assassination").
      // Where it is allowed (RFC 9293 §3.10.7.4 second), the connection just ends: everything
      // was received and acknowledged, so it is no error and unread data stays readable.
      if (config_.rfc1337) {
        ++stats_.rst_in_time_wait_ignored;
      } else if (h.seq == nxt) {
        set_closed(t, std::nullopt);
      }
      return;
    }
    if (h.seq != nxt) {
      challenge_ack(t);
      return;
    }
    if (t.state == State::kSynReceived && t.listener != nullptr) {
      set_closed(t, std::nullopt);  // back to LISTEN: the child simply goes away
    } else if ((t.state == State::kLastAck || t.state == State::kClosing) && t.fin_seq &&
               !(t.snd_una < *t.fin_seq)) {
      // RFC 9293 §3.10.7.4 second, CLOSING / LAST-ACK: "enter the CLOSED state, delete the TCB,
      // and return", with no "connection reset" for the user. Both FINs were sent and all our
      // data is acknowledged, so nothing was lost: typically the peer's TIME-WAIT ran out while
      // our FIN or its ACK kept being lost (found by tests/soak). With data still unacknowledged
      // the reset is reported below: the peer may never have received it.
      set_closed(t, std::nullopt);
    } else if (t.state == State::kSynReceived) {
      set_closed(t, Errc::kConnectionRefused);  // an active open (simultaneous): refused
    } else {
      set_closed(t, Errc::kConnectionReset);
    }
    return;
  }
  // Fourth: SYN. In SYN-RECEIVED of a passive open the half-open connection is dropped (back to
  // LISTEN; RFC 9293 §3.10.7.4); in synchronized states it earns a challenge ACK (RFC 5961 §4.2).
  if (h.has(flag::kSyn) && t.state == State::kSynReceived && t.listener != nullptr) {
    set_closed(t, std::nullopt);
    return;
  }
  if (h.has(flag::kSyn)) {
    challenge_ack(t);
    return;
  }
  // Fifth: ACK.
  if (!h.has(flag::kAck)) return;
  if (t.sack_ok && h.options.sack_count > 0) {
    // RFC 2018 §3 blocks name data the peer holds: an empty (or inverted) block, or one reaching
    // beyond SND.MAX (data never sent), cannot come from an honest receiver. Such blocks are
    // ignored whole (as Linux does) rather than clamped into something plausible.
    std::uint8_t kept = 0;
    for (std::uint8_t b = 0; b < h.options.sack_count; ++b) {
      const SackBlock blk = h.options.sack[b];
      if (blk.left < blk.right && blk.right <= t.snd_max) {
        h.options.sack[kept++] = blk;
      } else {
        ++stats_.sack_blocks_invalid;
      }
    }
    h.options.sack_count = kept;
  }
  if (!process_ack(t, h, plen)) return;
  // Seventh: segment text, then eighth: FIN.
  if (!payload.empty() || h.has(flag::kFin)) process_data(t, h, payload);
}

bool TcpLayer::process_ack(Tcb& t, const TcpHeader& h, std::uint32_t plen) {
  if (t.state == State::kSynReceived) {
    // RFC 9293 §3.10.7.4 fifth, SYN-RECEIVED: acceptable ACK -> ESTABLISHED, else reset.
    if (!(t.snd_una < h.ack && h.ack <= t.snd_max)) {
      send_rst(t.local, t.remote, h.ack, SeqNum(), false);
      return false;
    }
    t.snd_una = h.ack;
    t.snd_wnd = static_cast<std::uint32_t>(h.window) << t.snd_wscale;
    t.snd_wl1 = h.seq;
    t.snd_wl2 = h.ack;
    t.max_snd_wnd = std::max(t.max_snd_wnd, t.snd_wnd);
    if (t.backoff == 0 && t.rtt_seq) update_rtt(t, engine_.reactor().now() - t.rtt_start);
    t.rtt_seq.reset();
    t.backoff = 0;
    engine_.reactor().cancel_timer(t.rexmit_timer);
    established(t);
    if (t.state == State::kClosed) return false;  // accept queue overflow reset it
  }
  // RFC 5961 §5.2: an ACK below SND.UNA - MAX.SND.WND is dropped (with an ACK).
  if (h.ack < t.snd_una - t.max_snd_wnd) {
    challenge_ack(t);
    return false;
  }
  // An ACK for something not yet sent: ACK and drop (RFC 9293 §3.10.7.4).
  if (h.ack > t.snd_max) {
    ++stats_.rx_ack_unsent;
    t.ack_now = true;
    mark_output(&t);
    return false;
  }
  std::uint32_t peer_wnd = static_cast<std::uint32_t>(h.window) << t.snd_wscale;
  const SeqNum prev_una = t.snd_una;
  // RFC 2018 §5: the SACK blocks mark bytes above the cumulative ACK as held by the peer.
  std::uint32_t newly_sacked = 0;
  if (t.sack_ok) {
    const SeqNum una = seq_max(t.snd_una, h.ack);
    for (std::uint8_t b = 0; b < h.options.sack_count; ++b) {
      newly_sacked += t.scoreboard.add(h.options.sack[b].left, h.options.sack[b].right, una,
                                       t.snd_max);
    }
  }
  std::uint32_t acked = 0;
  if (t.snd_una < h.ack) {
    acked = static_cast<std::uint32_t>(h.ack - t.snd_una);
    // Data bytes acknowledged (the SYN and FIN occupy sequence space but not the buffer).
    SeqNum data_end = t.sndbuf_seq + static_cast<std::uint32_t>(t.sndbuf.size());
    SeqNum upto = seq_min(h.ack, data_end);
    if (upto > t.sndbuf_seq) {
      auto n = static_cast<std::uint32_t>(upto - t.sndbuf_seq);
      t.sndbuf.consume(n);
      t.sndbuf_seq += n;
      t.writers.wake_all();
    }
    t.snd_una = h.ack;
    t.una_progress = engine_.reactor().now();
    t.scoreboard.advance(t.snd_una);
    if (t.snd_nxt < t.snd_una) t.snd_nxt = t.snd_una;
    if (t.in_recovery && t.high_rxt < t.snd_una) t.high_rxt = t.snd_una;
    // Karn (RFC 6298 §5.5 with §3): the backed-off RTO stays until a valid RTT sample. (With
    // RACK the transmission log times segments exactly: rack_on_ack takes the sample.)
    if (!t.rack_on && take_rtt_sample(t, h)) t.backoff = 0;
    // RFC 6298 §5.2/5.3: stop the timer when all is acked, restart it otherwise.
    if (t.snd_una == t.snd_max) {
      engine_.reactor().cancel_timer(t.rexmit_timer);
    } else {
      arm_rexmit(t);
    }
    mark_output(&t);  // the window moved: more may be sent
  }
  // RACK-TLP (RFC 8985): deliveries, D-SACKs, the probe episode, and what is now deemed lost.
  const std::uint32_t rack_lost = t.rack_on ? rack_on_ack(t, h, acked, plen) : 0;
  // Duplicate ACKs: RFC 5681 §2 without SACK; with SACK, RFC 6675 §2 counts an ACK that SACKs
  // new data.
  // A closed window is no loss signal: repeated answers to a window probe are not duplicates.
  const bool dupack =
      h.ack == prev_una && t.snd_max > t.snd_una && peer_wnd > 0 && t.snd_wnd > 0 &&
      (t.sack_ok ? newly_sacked > 0
                 : plen == 0 && !h.has(flag::kFin) && peer_wnd == t.snd_wnd);
  if (t.in_recovery) {
    if (h.ack >= t.recover) {
      // Recovery ends (RFC 6582 §3.2 step 3 full ACK; RFC 6675 §5; RFC 6937 §3: cwnd =
      // ssthresh). After a timeout cwnd has grown back by slow start and stays.
      t.in_recovery = false;
      t.dupacks = 0;
      if (!t.rto_recovery) {
        t.cc.cwnd = t.cc.ssthresh;
        t.cc.bytes_acked = 0;
        t.rack.on_recovery_end();
      }
      t.rto_recovery = false;
    } else if (t.rto_recovery) {
      // RFC 5681 §3.1 after a timeout: slow start while the lost segments are resent.
      if (acked > 0) cc_on_ack(t.cc, acked, t.snd_mss, engine_.reactor().now(), t.srtt);
      mark_output(&t);
    } else {
      if (dupack) ++t.dupacks;
      if (!t.sack_ok && acked > 0) {
        // RFC 6582 §3.2 step 5: a partial ACK; the next unacknowledged segment is lost too.
        t.dupacks = 0;
        retransmit(t, t.snd_una, t.snd_mss);
      }
      // RFC 6937 §3: DeliveredData = newly cumulatively acked + newly SACKed; without SACK each
      // duplicate ACK stands for one segment that left the network.
      std::uint32_t delivered = acked + newly_sacked;
      if (!t.sack_ok && dupack) delivered += t.snd_mss;
      prr_update(t, delivered);
      mark_output(&t);
    }
  } else {
    if (acked > 0) {
      t.dupacks = 0;
      cc_on_ack(t.cc, acked, t.snd_mss, engine_.reactor().now(), t.srtt);
    }
    if (dupack) {
      ++t.dupacks;
      // RFC 5681 §3.2 / RFC 6675 §5: three duplicate ACKs, or SACK showing the first unacked
      // segment lost, start fast retransmit and recovery (with RACK, RACK decides below).
      bool lost = t.sack_ok && t.scoreboard.lost_boundary(t.snd_una, t.snd_mss) > t.snd_una;
      if (!t.rack_on && (t.dupacks >= SackScoreboard::kDupThresh || lost)) enter_recovery(t);
    }
  }
  // RFC 8985 §6.2: a segment deemed lost starts fast recovery (or, in one, is resent).
  if (rack_lost > 0) {
    if (!t.in_recovery) {
      enter_recovery(t);
    } else {
      mark_output(&t);
    }
  }
  // Window update (RFC 9293 §3.10.7.4: SND.WL1/WL2 rule).
  if (t.snd_wl1 < h.seq || (t.snd_wl1 == h.seq && t.snd_wl2 <= h.ack)) {
    bool opened = peer_wnd > t.snd_wnd;
    t.snd_wnd = peer_wnd;
    t.snd_wl1 = h.seq;
    t.snd_wl2 = h.ack;
    t.max_snd_wnd = std::max(t.max_snd_wnd, t.snd_wnd);
    if (opened) mark_output(&t);
  }
  // RFC 8985 §7.2: an ACK of new data restarts the probe timer.
  if (t.rack_on && acked > 0) schedule_tlp(t);
  // Our FIN acknowledged?
  bool fin_acked = t.fin_seq && t.snd_una > *t.fin_seq;
  if (fin_acked) t.closers.wake_all();
  if (peer_wnd > 0) t.persist_backoff = 0;
  switch (t.state) {
    case State::kFinWait1:
      if (fin_acked) {
        t.state = State::kFinWait2;
        arm_fin_wait_2_timeout(t);  // only if the user closed (TcpConfig::fin_wait_2_timeout)
      }
      break;
    case State::kClosing:
      if (fin_acked) enter_time_wait(t);
      return false;
    case State::kLastAck:
      if (fin_acked) {
        set_closed(t, std::nullopt);
        return false;
      }
      break;
    case State::kTimeWait:
      // Only a retransmitted FIN earns an ACK and a fresh 2*MSL; a bare ACK (e.g. the other end,
      // also in TIME-WAIT after a simultaneous close, ACKing ours) gets nothing, or the two
      // would ACK each other forever.
      if (h.has(flag::kFin)) {
        t.ack_now = true;
        mark_output(&t);
        enter_time_wait(t);
      }
      return false;
    default:
      break;
  }
  return true;
}

void TcpLayer::process_data(Tcb& t, const TcpHeader& h, std::span<const std::byte> payload) {
  switch (t.state) {
    case State::kEstablished:
    case State::kFinWait1:
    case State::kFinWait2:
      break;
    default:
      return;  // RFC 9293 §3.10.7.4 seventh: after the peer's FIN, text is ignored
  }
  if (t.user_closed && !payload.empty() &&
      h.seq + static_cast<std::uint32_t>(payload.size()) > t.rcvbuf.next()) {  // new data only
    // RFC 1122 §4.2.2.13 / RFC 2525 §2.17: the application closed and will never read this:
    // reset, so the peer does not keep sending into a window nobody drains.
    ++stats_.rx_after_close;
    send_rst(t.local, t.remote, t.snd_max, SeqNum(), false);
    if (!t.error) {
      t.error = Error(Errc::kConnectionAborted,
                      "data arrived after close(): connection reset, so data not yet "
                      "acknowledged may not have reached the peer");
    }
    t.reset_after_close = true;  // close() reports it
    set_closed(t, Errc::kConnectionAborted);
    return;
  }
  SeqNum seq = h.seq;
  if (!payload.empty()) {
    // RFC 2883 §4: data we hold already (below RCV.NXT, or inside an out-of-order island).
    const SeqNum end = seq + static_cast<std::uint32_t>(payload.size());
    const SeqNum next = t.rcvbuf.next();
    if (seq < next) {
      note_duplicate(t, seq, seq_min(end, next));
    } else {
      for (std::size_t i = 0; i < t.rcvbuf.ooo_ranges(); ++i) {
        auto [l, r] = t.rcvbuf.ooo_range(i);
        if (l <= seq && end <= r) note_duplicate(t, seq, end);
      }
    }
  }
  if (!payload.empty() && t.direct_buf.size() > t.direct_filled && seq == t.rcvbuf.next() &&
      t.rcvbuf.readable() == 0 && !t.rcvbuf.has_out_of_order()) {
    // A reader is waiting: hand it the bytes directly (the packet is the only other copy).
    std::size_t n = std::min(payload.size(), t.direct_buf.size() - t.direct_filled);
    std::memcpy(t.direct_buf.data() + t.direct_filled, payload.data(), n);
    t.direct_filled += n;
    t.rcvbuf.skip_delivered(n);
    stats_.rx_direct_bytes += n;
    seq += static_cast<std::uint32_t>(n);
    payload = payload.subspan(n);
    t.readers.wake_all();
    // The window is unchanged (the bytes left at once); ACK as for in-order data.
    ack_in_order_data(t, false);
    mark_output(&t);
  }
  if (!payload.empty() && try_hold(t, seq, payload)) {
    t.readers.wake_all();
    ack_in_order_data(t, t.rcvbuf.has_out_of_order());
    seq += static_cast<std::uint32_t>(payload.size());
    payload = {};
    mark_output(&t);
  }
  if (!payload.empty()) {
    bool had_gap = t.rcvbuf.has_out_of_order();
    switch (t.rcvbuf.insert(seq, payload)) {
      case RecvBuffer::Insert::kInOrder:
        stats_.rx_ring_bytes += payload.size();
        t.readers.wake_all();
        // RFC 5681 §4.2: at once when the segment fills (part of) a gap.
        ack_in_order_data(t, had_gap || t.rcvbuf.has_out_of_order());
        break;
      case RecvBuffer::Insert::kOutOfOrder:
        stats_.rx_ring_bytes += payload.size();
        t.last_ooo_seq = seq;  // its block leads the SACK option (RFC 2018 §4)
        ++stats_.rx_out_of_order;
        t.ack_now = true;  // RFC 5681 §4.2: a duplicate ACK at once for out-of-order data
        break;
      case RecvBuffer::Insert::kNoMemory:
        ++stats_.rx_memory_drops;  // the per-core receive memory cap: dropped, resent later
        t.ack_now = true;
        break;
      case RecvBuffer::Insert::kDuplicate:
        ++stats_.rx_duplicate;
        t.ack_now = true;
        break;
      case RecvBuffer::Insert::kNoRoom:
        ++stats_.rx_no_room;  // e.g. the out-of-order islands are all in use: the peer resends
        t.ack_now = true;
        break;
    }
    mark_output(&t);
  }
  if (h.has(flag::kFin)) {
    t.peer_fin = seq + static_cast<std::uint32_t>(payload.size());
    t.ack_now = true;
    mark_output(&t);
  }
  // Eighth: the FIN counts once every byte before it has arrived.
  if (t.peer_fin && !t.peer_closed && *t.peer_fin == t.rcvbuf.next()) process_fin(t);
}

void TcpLayer::note_duplicate(Tcb& t, SeqNum left, SeqNum right) {
  if (!t.sack_ok || left >= right) return;
  t.dsack_pending = true;
  t.dsack_left = left;
  t.dsack_right = right;
  t.ack_now = true;
  mark_output(&t);
}

bool TcpLayer::try_hold(Tcb& t, SeqNum seq, std::span<const std::byte> payload) {
  // One copy on receive without a waiting reader: keep the packet itself in the window rather
  // than copying its bytes into the ring. Only for sizeable segments (a packet buffer for a few
  // bytes wastes memory) and while the device pool stays well stocked: held buffers are buffers
  // the device cannot receive into.
  nic::Packet* p = rx_packet_;
  if (p == nullptr || payload.size() < config_.rx_hold_min) return false;
  nic::PacketPool* pool = p->pool();
  if (pool->available() <= pool->stats().capacity / config_.rx_hold_pool_share) return false;
  if (!t.rcvbuf.can_hold(seq, payload.size())) return false;
  // The packet's bytes() become exactly this payload (headers and any trimmed part dropped).
  p->trim_front(static_cast<std::uint32_t>(payload.data() - p->data()));
  p->truncate(static_cast<std::uint32_t>(payload.size()));
  t.rcvbuf.hold(seq, p);
  rx_packet_ = nullptr;
  stats_.rx_held_bytes += payload.size();
  return true;
}

bool TcpLayer::take_rtt_sample(Tcb& t, const TcpHeader& h) {
  const coro::TimePoint now = engine_.reactor().now();
  if (t.ts_ok && h.options.ts_ecr && *h.options.ts_ecr != 0) {
    // An echo older than our last retransmission may be the original copy's timestamp on an
    // ACK the retransmission drew: it would count the whole wait as path delay. Such echoes give
    // no sample (Karn's rule, RFC 6298 §3, for RFC 7323 RTTM); newer ones are exact.
    if (t.rexmit_ts && static_cast<std::int32_t>(*h.options.ts_ecr - *t.rexmit_ts) < 0) {
      return false;
    }
    // RFC 7323 §4.1: the echoed timestamp times the segment it was sent on, retransmitted or not
    // (no Karn ambiguity). One sample per round trip keeps RFC 6298's gains meaningful
    // (RFC 7323 Appendix G).
    const std::uint32_t elapsed = ts_clock(t) - *h.options.ts_ecr;
    if (elapsed >= 0x80000000u) return false;  // an echo from the future: not a sample
    if (!t.rtt_seq || t.snd_una > *t.rtt_seq) {
      update_rtt(t, std::chrono::milliseconds(elapsed));
      t.rtt_seq = t.snd_max;
    }
    return true;
  }
  // RFC 6298 §3: Karn — only segments sent once are timed.
  if (t.rtt_seq && t.snd_una > *t.rtt_seq) {
    update_rtt(t, now - t.rtt_start);
    t.rtt_seq.reset();
    return true;
  }
  return false;
}

void TcpLayer::ack_in_order_data(Tcb& t, bool immediately) {
  // RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2: ACK at least every second full segment, otherwise
  // within the delayed-ACK time.
  if (++t.unacked_segments >= 2 || immediately) {
    t.ack_now = true;
    return;
  }
  t.ack_pending = true;
  if (!t.delack_timer.armed()) {
    engine_.reactor().arm_timer(t.delack_timer, engine_.reactor().now() + config_.delayed_ack);
  }
}

void TcpLayer::process_fin(Tcb& t) {
  // RFC 9293 §3.10.7.4 eighth: advance RCV.NXT over the FIN, signal end of data, ACK it.
  t.peer_closed = true;
  t.ack_now = true;
  mark_output(&t);
  t.readers.wake_all();
  switch (t.state) {
    case State::kSynReceived:
    case State::kEstablished:
      t.state = State::kCloseWait;
      break;
    case State::kFinWait1:
      if (t.fin_seq && t.snd_una > *t.fin_seq) {
        enter_time_wait(t);
      } else {
        t.state = State::kClosing;
      }
      break;
    case State::kFinWait2:
      enter_time_wait(t);
      break;
    default:
      break;
  }
}

}  // namespace coronet::stack::tcp
