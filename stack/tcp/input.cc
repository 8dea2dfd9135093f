// Segment arrival: RFC 9293 §3.10.7, with RFC 5961's blind-attack checks that RFC 9293 adopts.
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
  std::span<const std::byte> payload = seg.subspan(h->header_len());
  auto plen = static_cast<std::uint32_t>(payload.size());
  Tcb* t = lookup({info.src.raw(), h->src_port, h->dst_port});
  if (t == nullptr) {
    auto it = listeners_.find(h->dst_port);
    if (it != listeners_.end()) {
      listen_input(*it->second, *h, info, plen);
    } else {
      reset_answer(*h, info, seg_length(*h, plen));
    }
  } else if (t->state == State::kSynSent) {
    syn_sent_input(*t, *h);
  } else {
    t->last_rx = engine_.reactor().now();  // any segment proves the peer alive (keepalive)
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
  if (t.snd_mss < 64) t.snd_mss = 64;
  // RFC 7323 §2.2: scaling is on only when both SYNs carry the option; shifts above 14 are 14.
  if (h.options.window_scale) {
    t.wscale_ok = true;
    t.snd_wscale = std::min<std::uint8_t>(*h.options.window_scale, 14);
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
  if (l.embryonic + l.queued >= l.backlog || info.dst != engine_.address()) {
    ++stats_.syn_dropped_backlog;  // SYN cookies arrive with the robustness issue
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
    if (!h.has(flag::kRst)) {  // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, then drop
      t.ack_now = true;
      mark_output(&t);
    }
    return;
  }
  // Second: RST. RFC 5961 §3.2: exactly RCV.NXT resets; elsewhere in the window it only earns a
  // challenge ACK, so a blind attacker must guess the exact number.
  if (h.has(flag::kRst)) {
    if (h.seq != nxt) {
      ++stats_.challenge_acks;
      t.ack_now = true;
      mark_output(&t);
      return;
    }
    if (t.state == State::kSynReceived && t.listener != nullptr) {
      set_closed(t, std::nullopt);  // back to LISTEN: the child simply goes away
    } else {
      set_closed(t, Errc::kConnectionReset);
    }
    return;
  }
  // Fourth: a SYN in a synchronized state earns a challenge ACK (RFC 5961 §4.2).
  if (h.has(flag::kSyn)) {
    ++stats_.challenge_acks;
    t.ack_now = true;
    mark_output(&t);
    return;
  }
  // Fifth: ACK.
  if (!h.has(flag::kAck)) return;
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
    if (t.backoff == 0) update_rtt(t, engine_.reactor().now() - t.rtt_start);
    t.backoff = 0;
    engine_.reactor().cancel_timer(t.rexmit_timer);
    established(t);
    if (t.state == State::kClosed) return false;  // accept queue overflow reset it
  }
  // RFC 5961 §5.2: an ACK below SND.UNA - MAX.SND.WND is dropped (with an ACK).
  if (h.ack < t.snd_una - t.max_snd_wnd) {
    ++stats_.challenge_acks;
    t.ack_now = true;
    mark_output(&t);
    return false;
  }
  // An ACK for something not yet sent: ACK and drop (RFC 9293 §3.10.7.4).
  if (h.ack > t.snd_max) {
    t.ack_now = true;
    mark_output(&t);
    return false;
  }
  std::uint32_t peer_wnd = static_cast<std::uint32_t>(h.window) << t.snd_wscale;
  if (t.snd_una < h.ack) {
    auto acked = static_cast<std::uint32_t>(h.ack - t.snd_una);
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
    if (t.snd_nxt < t.snd_una) t.snd_nxt = t.snd_una;
    // RTT sample (RFC 6298 §3: Karn — only segments sent once are timed).
    if (t.rtt_seq && h.ack > *t.rtt_seq) {
      update_rtt(t, engine_.reactor().now() - t.rtt_start);
      t.rtt_seq.reset();
    }
    t.backoff = 0;
    // Congestion control: NewReno (RFC 5681 §3.1-3.2, RFC 6582 §3.2).
    if (t.in_recovery) {
      if (h.ack >= t.recover) {  // full ACK: leave recovery
        t.in_recovery = false;
        std::uint32_t flight = static_cast<std::uint32_t>(t.snd_max - t.snd_una);
        t.cwnd = std::min(t.ssthresh, flight + t.snd_mss);
      } else {  // partial ACK: retransmit the next hole, deflate by what was acked
        send_segment(t, t.snd_una,
                     std::min<std::uint32_t>(t.snd_mss, static_cast<std::uint32_t>(
                                                            data_end - t.snd_una)),
                     flag::kAck);
        ++stats_.tx_retransmits;
        t.cwnd = t.cwnd > acked ? t.cwnd - acked : 0;
        t.cwnd += t.snd_mss;
      }
    } else if (t.cwnd < t.ssthresh) {
      t.cwnd += std::min(acked, static_cast<std::uint32_t>(t.snd_mss));  // slow start
    } else {
      t.cwnd += std::max<std::uint32_t>(1, t.snd_mss * t.snd_mss / t.cwnd);  // avoidance
    }
    t.dupacks = 0;
    // RFC 6298 §5.2/5.3: stop the timer when all is acked, restart it otherwise.
    if (t.snd_una == t.snd_max) {
      engine_.reactor().cancel_timer(t.rexmit_timer);
    } else {
      arm_rexmit(t);
    }
    mark_output(&t);  // the window moved: more may be sent
  } else if (h.ack == t.snd_una && plen == 0 && !h.has(flag::kFin) && peer_wnd == t.snd_wnd &&
             t.snd_max > t.snd_una) {
    // RFC 5681 §2: a duplicate ACK. The third starts fast retransmit (§3.2, RFC 6582).
    ++t.dupacks;
    if (t.dupacks == 3 && !t.in_recovery) {
      std::uint32_t flight = static_cast<std::uint32_t>(t.snd_max - t.snd_una);
      t.ssthresh = std::max(flight / 2, 2u * t.snd_mss);
      t.recover = t.snd_max;
      t.in_recovery = true;
      SeqNum data_end = t.sndbuf_seq + static_cast<std::uint32_t>(t.sndbuf.size());
      std::uint32_t n = data_end > t.snd_una
                            ? std::min<std::uint32_t>(t.snd_mss, static_cast<std::uint32_t>(
                                                                     data_end - t.snd_una))
                            : 0;
      send_segment(t, t.snd_una, n, flag::kAck | (n == 0 && t.fin_seq ? flag::kFin : 0));
      ++stats_.tx_retransmits;
      ++stats_.fast_retransmits;
      t.rtt_seq.reset();
      t.cwnd = t.ssthresh + 3 * t.snd_mss;
    } else if (t.in_recovery) {
      t.cwnd += t.snd_mss;  // each further dupack: a segment left the network
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
  // Our FIN acknowledged?
  bool fin_acked = t.fin_seq && t.snd_una > *t.fin_seq;
  if (fin_acked) t.closers.wake_all();
  if (peer_wnd > 0) t.persist_backoff = 0;
  switch (t.state) {
    case State::kFinWait1:
      if (fin_acked) t.state = State::kFinWait2;
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
      // A retransmitted FIN: acknowledge it and restart the 2*MSL timeout.
      t.ack_now = true;
      mark_output(&t);
      enter_time_wait(t);
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
  SeqNum seq = h.seq;
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
        ++stats_.rx_out_of_order;
        t.ack_now = true;  // RFC 5681 §4.2: a duplicate ACK at once for out-of-order data
        break;
      case RecvBuffer::Insert::kDuplicate:
      case RecvBuffer::Insert::kNoRoom:
        ++stats_.rx_duplicate;
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
