// Segment output (RFC 9293 §3.8.6, RFC 5681 for how much may be in flight), retransmission
// timeout (RFC 6298 §5) and zero-window probing (RFC 9293 §3.8.6.1).
#include "coro/log.h"
#include "nic/packet_pool.h"
#include "stack/net/checksum.h"
#include "stack/tcp/tcp_layer.h"

namespace coronet::stack::tcp {

namespace {

// Fills in the checksum over the whole segment (header packet plus any payload views): by the
// device when it offers it (the field carries the pseudo-header sum, as devices expect), in
// software otherwise.
void finish_checksum(Engine& engine, nic::Packet* p, Endpoint local, Endpoint remote) {
  std::span<std::byte> hdr = p->bytes();
  const auto seg_len = static_cast<std::uint16_t>(p->chain_size());
  std::uint16_t c;
  if (engine.offloads().tx_l4_checksum) {
    c = pseudo_header_sum(local.addr.raw(), remote.addr.raw(), seg_len);
    p->meta.flags |= nic::offload::kTxTcpCsum;
    p->meta.l4_len = static_cast<std::uint8_t>(static_cast<std::uint8_t>(hdr[12]) >> 4) * 4;
  } else {
    Checksum sum(pseudo_header_sum(local.addr.raw(), remote.addr.raw(), seg_len));
    for (const nic::Packet* s = p; s != nullptr; s = s->next()) sum.add(s->bytes());
    c = sum.finish();
  }
  hdr[16] = static_cast<std::byte>(c >> 8);
  hdr[17] = static_cast<std::byte>(c & 0xff);
}

}  // namespace

void TcpLayer::send_segment(Tcb& t, SeqNum seq, std::uint32_t len, std::uint8_t flags) {
  bool syn = (flags & flag::kSyn) != 0;
  const bool fin = (flags & flag::kFin) != 0;
  if (t.rack_on && !syn && (len > 0 || fin)) {
    // RACK's transmission log (RFC 8985 §5.2), even when the packet cannot be built below:
    // sequence space handed out counts as sent (and lost).
    t.seglog.on_send(seq, len + (fin ? 1u : 0u), engine_.reactor().now(),
                     t.ts_ok ? ts_clock(t) : 0u);
  }
  nic::Packet* p = engine_.alloc_tx();
  if (p == nullptr) {
    ++stats_.tx_no_buffer;  // the retransmission timer recovers
    return;
  }
  TcpHeader h;
  h.src_port = t.local.port;
  h.dst_port = t.remote.port;
  h.seq = seq;
  h.flags = flags;
  if ((flags & flag::kAck) != 0) h.ack = rcv_nxt(t);
  // RFC 7323 §3.2: timestamps on the SYN when we offer them, on everything else once agreed.
  const bool active_open = t.state == State::kSynSent;
  if (syn ? (active_open ? config_.timestamps : t.ts_ok) : t.ts_ok) {
    h.options.ts_val = ts_clock(t);
    h.options.ts_ecr = active_open && syn ? 0 : t.ts_recent;
  }
  if (syn && (active_open ? config_.sack : t.sack_ok)) h.options.sack_permitted = true;
  if (syn) {
    h.options.mss = static_cast<std::uint16_t>(engine_.mtu() - 40);
    // RFC 7323 §2.2: offer scaling in our SYN; in a SYN-ACK only if the peer offered it.
    if (t.state == State::kSynSent || t.wscale_ok) {
      std::uint8_t shift = 0;
      while (shift < 14 && (t.rcvbuf.capacity() >> shift) > 0xffff) ++shift;
      if (t.state == State::kSynSent) t.rcv_wscale = shift;
      h.options.window_scale = t.rcv_wscale;
    }
  }
  h.window = advertised_window(t, syn);
  if (!syn && (flags & flag::kAck) != 0 && t.sack_ok &&
      (t.rcvbuf.has_out_of_order() || t.dsack_pending)) {
    fill_sack_blocks(t, h.options, len);
  }
  std::uint32_t hlen = kMinHeader + options_length(h.options);
  std::byte* hdr = p->append(hlen);
  if (hdr == nullptr) {
    ++stats_.tx_no_buffer;
    nic::PacketPool::free(p);
    return;
  }
  write_header(h, std::span<std::byte>(hdr, hlen));
  if (len > 0) {
    const auto offset = static_cast<std::size_t>(seq - t.sndbuf_seq);
    // Zero copy: the payload goes out as views of the send buffer's chunks. Small payloads are
    // copied into the header buffer instead (cheaper than more descriptors), and so is all
    // payload for backend buffers (DPDK mbufs), which copy foreign segments anyway.
    nic::Packet* views = nullptr;
    if (len >= config_.zero_copy_min && p->backend() == nullptr) {
      views = t.sndbuf.views(offset, len);
      if (views == nullptr) ++stats_.tx_view_exhausted;
    }
    if (views != nullptr) {
      p->set_next(views);
      stats_.tx_zero_copy_bytes += len;
    } else if (std::byte* data = p->append(len)) {
      t.sndbuf.copy(offset, {data, len});
    } else {
      ++stats_.tx_no_buffer;
      nic::PacketPool::free(p);
      return;
    }
  }
  finish_checksum(engine_, p, t.local, t.remote);
  ++stats_.tx_segments;
  if (len > 0) t.last_send = engine_.reactor().now();
  if ((flags & flag::kAck) != 0) {
    t.last_ack_sent = h.ack;  // RFC 7323 §4.3 Last.ACK.sent
    // Any segment carrying an ACK discharges pending delayed ACKs.
    t.ack_now = false;
    t.ack_pending = false;
    t.unacked_segments = 0;
    engine_.reactor().cancel_timer(t.delack_timer);
  }
  (void)engine_.ip_send(p, t.remote.addr, kProtoTcp);
}

void TcpLayer::fill_sack_blocks(Tcb& t, TcpOptions& o, std::uint32_t payload) {
  // RFC 2018 §4: the first block holds the most recently received out-of-order segment, the
  // rest repeat other islands. As many as fit the 40 option bytes and, with data aboard, the
  // MTU (a full-sized data segment may carry none).
  const std::uint32_t base = kMinHeader + options_length(o);
  const std::uint32_t frame_room = engine_.mtu() - 20;
  std::uint32_t fit = 0;
  while (fit < kMaxSackBlocks && base + 4 + 8 * (fit + 1) <= kMaxHeader &&
         base + 4 + 8 * (fit + 1) + payload <= frame_room) {
    ++fit;
  }
  const std::size_t islands = t.rcvbuf.ooo_ranges();
  std::size_t first = islands;
  for (std::size_t i = 0; i < islands; ++i) {
    auto [l, r] = t.rcvbuf.ooo_range(i);
    if (t.last_ooo_seq.in_range(l, r)) first = i;
  }
  std::uint8_t n = 0;
  if (t.dsack_pending && fit > 0) {
    // RFC 2883 §4: the duplicate goes first, reported once, followed by the island holding it
    // when there is one.
    o.sack[n++] = {t.dsack_left, t.dsack_right};
    for (std::size_t i = 0; i < islands; ++i) {
      auto [l, r] = t.rcvbuf.ooo_range(i);
      if (l <= t.dsack_left && t.dsack_right <= r) first = i;
    }
    t.dsack_pending = false;
    ++stats_.dsacks_sent;
  }
  auto put = [&](std::size_t i) {
    if (n >= fit) return;
    auto [l, r] = t.rcvbuf.ooo_range(i);
    o.sack[n++] = {l, r};
  };
  if (first < islands) put(first);
  for (std::size_t i = 0; i < islands; ++i) {
    if (i != first) put(i);
  }
  o.sack_count = n;
  stats_.sack_blocks_sent += n;
}

std::uint32_t TcpLayer::ts_clock(const Tcb& t) const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      engine_.reactor().now().time_since_epoch());
  return static_cast<std::uint32_t>(ms.count()) + t.ts_offset;
}

void TcpLayer::send_syn(Tcb& t) {
  // <SEQ=ISS><CTL=SYN> (active) or <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> (passive).
  std::uint8_t flags = flag::kSyn | (t.state == State::kSynSent ? 0 : flag::kAck);
  if (!t.rtt_seq && t.backoff == 0) {
    t.rtt_seq = t.iss;
    t.rtt_start = engine_.reactor().now();
  }
  send_segment(t, t.iss, 0, flags);
}

void TcpLayer::send_ack(Tcb& t) { send_segment(t, t.snd_nxt, 0, flag::kAck); }

void TcpLayer::send_rst(Endpoint local, Endpoint remote, SeqNum seq, SeqNum ack, bool with_ack) {
  TcpHeader h;
  h.src_port = local.port;
  h.dst_port = remote.port;
  h.seq = seq;
  h.ack = ack;
  h.flags = flag::kRst | (with_ack ? flag::kAck : 0);
  ++stats_.tx_rst;
  send_control(local, remote, h);
}

void TcpLayer::send_control(Endpoint local, Endpoint remote, const TcpHeader& h) {
  // A segment outside any connection (RST, SYN cookie): header only, options as given.
  nic::Packet* p = engine_.alloc_tx();
  if (p == nullptr) {
    ++stats_.tx_no_buffer;
    return;
  }
  const std::uint32_t hlen = kMinHeader + options_length(h.options);
  std::byte* hdr = p->append(hlen);
  if (hdr == nullptr) {
    ++stats_.tx_no_buffer;
    nic::PacketPool::free(p);
    return;
  }
  write_header(h, std::span<std::byte>(hdr, hlen));
  finish_checksum(engine_, p, local, remote);
  ++stats_.tx_segments;
  (void)engine_.ip_send(p, remote.addr, kProtoTcp);
}

void TcpLayer::output(Tcb& t) {
  bool sent = false;
  bool sent_new = false;
  if (can_send_data(t.state)) {
    // RFC 5681 §4.1 / RFC 9438 §5.8: after an idle period longer than the RTO, restart from
    // the initial window.
    if (t.snd_nxt == t.snd_una && t.last_send != coro::TimePoint{} &&
        engine_.reactor().now() - t.last_send > t.rto) {
      cc_after_idle(t.cc, config_.initial_window_segments * std::uint32_t{t.snd_mss});
    }
    // RFC 6675 §5 step (C) NextSeg rule 1: what is deemed lost goes first.
    if (t.in_recovery && t.sack_ok) sent = retransmit_lost(t);
    for (;;) {
      SeqNum data_end = t.sndbuf_seq + static_cast<std::uint32_t>(t.sndbuf.size());
      std::uint32_t flight = static_cast<std::uint32_t>(t.snd_nxt - t.snd_una);
      // The peer's window bounds what is outstanding; cwnd bounds what is in the network,
      // which during recovery is RFC 6675's pipe rather than everything unacknowledged.
      std::uint32_t wnd_room = t.snd_wnd > flight ? t.snd_wnd - flight : 0;
      std::uint32_t in_network = t.in_recovery ? pipe(t) : flight;
      std::uint32_t cwnd_room = t.cc.cwnd > in_network ? t.cc.cwnd - in_network : 0;
      // A TLP probe (RFC 8985 §7.3) is one segment whatever cwnd says.
      const bool probe = t.tlp_probe_due;
      if (probe) cwnd_room = std::max<std::uint32_t>(cwnd_room, t.snd_mss);
      std::uint32_t room = std::min(wnd_room, cwnd_room);
      std::uint32_t unsent =
          data_end > t.snd_nxt ? static_cast<std::uint32_t>(data_end - t.snd_nxt) : 0;
      bool fin_due = t.fin_queued && t.snd_nxt == data_end &&
                     (!t.fin_seq || *t.fin_seq == t.snd_nxt);
      if (t.snd_nxt < data_end && t.snd_nxt < t.snd_max && !t.scoreboard.empty() &&
          t.scoreboard.is_sacked(t.snd_nxt)) {
        // Going back after a timeout: the peer holds this range already (RFC 6675 §5.1).
        for (std::size_t i = 0; i < t.scoreboard.ranges(); ++i) {
          const auto& r = t.scoreboard.range(i);
          if (t.snd_nxt.in_range(r.left, r.right)) t.snd_nxt = seq_min(r.right, data_end);
        }
        continue;
      }
      if (unsent > 0 && room > 0) {
        std::uint32_t n = std::min({unsent, room, static_cast<std::uint32_t>(t.snd_mss)});
        if (t.snd_nxt < t.snd_max && !t.scoreboard.empty()) {
          // ... and stop short of the next SACKed range.
          for (std::size_t i = 0; i < t.scoreboard.ranges(); ++i) {
            const auto& r = t.scoreboard.range(i);
            if (t.snd_nxt < r.left) {
              n = std::min(n, static_cast<std::uint32_t>(r.left - t.snd_nxt));
              break;
            }
          }
        }
        std::uint8_t flags = flag::kAck;
        bool last = n == unsent;
        if (last) flags |= flag::kPsh;
        // The FIN rides on the last data segment when there is one (RFC 9293 §3.10.4).
        if (last && t.fin_queued && (!t.fin_seq || *t.fin_seq == data_end)) flags |= flag::kFin;
        bool retransmission = t.snd_nxt < t.snd_max;
        if (!retransmission && t.rack_on && t.seglog.full()) {
          ++stats_.tx_log_full;  // max_segments_in_flight: wait for ACKs
          break;
        }
        // RFC 1122 §4.2.3.4 (Nagle, RFC 896): while data is unacknowledged, hold back a segment
        // smaller than the MSS until the ACK comes, unless no-delay is set, it carries the FIN,
        // or it is a retransmission.
        if (!t.no_delay && n < t.snd_mss && flight > 0 && !retransmission && !probe &&
            (flags & flag::kFin) == 0) {
          ++stats_.nagle_delays;
          break;
        }
        // RFC 1122 §4.2.3.4 sender SWS avoidance: a segment cut short by the peer's window (not
        // by a lack of data) goes only if it is at least half the largest window the peer has
        // offered. Otherwise wait: an ACK will open the window, or with nothing in flight the
        // persist timer sends it anyway (the override timeout).
        if (n < t.snd_mss && n < unsent && !retransmission && n < t.max_snd_wnd / 2 &&
            !t.sws_override && !probe) {
          ++stats_.sws_delays;
          if (flight == 0 && !t.persist_timer.armed()) {
            engine_.reactor().arm_timer(t.persist_timer, engine_.reactor().now() +
                                                             backed_off(t.rto, t.persist_backoff));
          }
          break;
        }
        if (retransmission) ++stats_.tx_retransmits;
        if (!retransmission && !t.rtt_seq) {
          t.rtt_seq = t.snd_nxt;
          t.rtt_start = engine_.reactor().now();
        }
        if (flight == 0) t.una_progress = engine_.reactor().now();  // the user-timeout clock
        send_segment(t, t.snd_nxt, n, flags);
        if (t.in_recovery) t.prr_out += n;  // RFC 6937 §3 prr_out counts everything sent
        if (!retransmission) sent_new = true;
        t.tlp_probe_due = false;
        t.snd_nxt += n;
        if ((flags & flag::kFin) != 0) {
          t.fin_seq = t.snd_nxt;
          t.snd_nxt += 1;
        }
        t.snd_max = seq_max(t.snd_max, t.snd_nxt);
        sent = true;
        if (!t.rexmit_timer.armed()) arm_rexmit(t);
        if ((flags & flag::kFin) != 0) break;
        continue;
      }
      if (fin_due) {
        // A bare FIN: needs no window (RFC 9293 §3.8.6.1 applies to data).
        send_segment(t, t.snd_nxt, 0, flag::kAck | flag::kFin);
        t.fin_seq = t.snd_nxt;
        t.snd_nxt += 1;
        t.snd_max = seq_max(t.snd_max, t.snd_nxt);
        sent = true;
        if (!t.rexmit_timer.armed()) arm_rexmit(t);
      }
      // Zero window with data waiting and nothing in flight: probe (RFC 9293 §3.8.6.1).
      if (unsent > 0 && t.snd_wnd == 0 && flight == 0 && !t.persist_timer.armed()) {
        engine_.reactor().arm_timer(t.persist_timer, engine_.reactor().now() +
                                                         backed_off(t.rto, t.persist_backoff));
      }
      break;
    }
    if (t.in_recovery && t.sack_ok && !t.rack_on) sent = recovery_extra(t) || sent;
    // RFC 8985 §7.2: new data (other than a probe) restarts the probe timer.
    if (sent_new && !t.rack.tlp_end) schedule_tlp(t);
    // State moves for our FIN (RFC 9293 §3.10.4 CLOSE).
    if (t.fin_seq) {
      if (t.state == State::kEstablished) t.state = State::kFinWait1;
      if (t.state == State::kCloseWait) t.state = State::kLastAck;
    }
  }
  // (CLOSE in SYN-RECEIVED keeps the FIN queued: it goes out once established.)
  if (!sent && (t.ack_now || (t.ack_pending && !t.delack_timer.armed()))) send_ack(t);
}

void TcpLayer::on_persist_timeout(Tcb& t) {
  // Data may wait behind the window in any state that still sends it (after CLOSE, too).
  if (!can_send_data(t.state)) return;
  SeqNum data_end = t.sndbuf_seq + static_cast<std::uint32_t>(t.sndbuf.size());
  if (t.snd_wnd > 0 || data_end <= t.snd_nxt) {
    t.sws_override = true;  // RFC 1122 §4.2.3.4: the override timeout sends what fits
    output(t);
    t.sws_override = false;
    return;
  }
  ++t.persist_backoff;
  send_window_probe(t);
}

void TcpLayer::send_window_probe(Tcb& t) {
  // RFC 9293 §3.8.6.1: one byte beyond the closed window; the ACK carries the window. SND.MAX
  // covers the byte, so a peer that takes it is acknowledged normally, but SND.NXT stays: once
  // the window opens, that byte goes out again with the rest. Further probes are backed off by
  // the retransmission timer.
  ++stats_.persist_probes;
  // RFC 9293 §3.8.4 / RFC 5482: the first probe starts the user-timeout clock, as sending the
  // first segment does in output(). Without this a stale clock (last progress before an idle
  // period) ended the connection at the first probe's retransmission.
  if (t.snd_una == t.snd_max) t.una_progress = engine_.reactor().now();
  send_segment(t, t.snd_nxt, 1, flag::kAck);
  t.snd_max = seq_max(t.snd_max, t.snd_nxt + 1);
  arm_rexmit(t);
}

}  // namespace coronet::stack::tcp
