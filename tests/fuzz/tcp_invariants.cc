#include "tests/fuzz/tcp_invariants.h"

#include <fmt/format.h>

#include <cstdint>

#include "stack/tcp/tcb.h"

namespace coronet::testing {

namespace {

using stack::tcp::SeqNum;
using stack::tcp::State;
using stack::tcp::Tcb;

bool synchronized(State s) {
  return s != State::kClosed && s != State::kListen && s != State::kSynSent &&
         s != State::kSynReceived;
}

std::string check(const stack::tcp::TcpLayer& layer, const Tcb& t) {
  const SeqNum data_end = t.sndbuf_seq + static_cast<std::uint32_t>(t.sndbuf.size());
  // RFC 9293 §3.3.1: SND.UNA <= SND.NXT <= SND.MAX (snd_max: the highest ever sent).
  if (!(t.snd_una <= t.snd_nxt)) return "SND.NXT below SND.UNA";
  if (!(t.snd_nxt <= t.snd_max)) return "SND.NXT beyond SND.MAX";
  // Nothing sent beyond the buffered data and the FIN (and the SYN before it).
  const SeqNum limit = data_end + (t.fin_seq ? 1u : 0u);
  if (!(t.snd_max <= limit)) {
    return fmt::format("SND.MAX {} beyond the data and FIN ({})", t.snd_max.raw(), limit.raw());
  }
  if (t.fin_seq && *t.fin_seq != data_end) return "the FIN is not right after the data";
  if (t.fin_seq && !t.fin_queued) return "a FIN was sent that the user never asked for";
  // The send buffer starts at the oldest unacknowledged data byte.
  const SeqNum first_data = seq_max(t.snd_una, t.iss + 1);
  const bool fin_acked = t.fin_seq && t.snd_una == *t.fin_seq + 1;
  if (t.sndbuf_seq != first_data && !(fin_acked && t.sndbuf_seq == *t.fin_seq)) {
    return fmt::format("send buffer starts at {}, the first unacknowledged byte is {}",
                       t.sndbuf_seq.raw(), first_data.raw());
  }
  if (t.sndbuf.size() > t.sndbuf.capacity()) return "send buffer over its capacity";
  // RFC 2018: SACKed ranges lie above SND.UNA, within what was sent, ordered and disjoint.
  SeqNum prev = t.snd_una;
  for (std::size_t i = 0; i < t.scoreboard.ranges(); ++i) {
    const auto& r = t.scoreboard.range(i);
    if (!(prev <= r.left && r.left < r.right && r.right <= t.snd_max)) {
      return fmt::format("SACK scoreboard range {} [{}, {}) out of order or outside ({}, {}]", i,
                         r.left.raw(), r.right.raw(), t.snd_una.raw(), t.snd_max.raw());
    }
    prev = r.right;
  }
  if (synchronized(t.state) && t.state != State::kTimeWait) {
    // Receive side: readable bytes fit the buffer; islands above RCV.NXT, ordered, disjoint and
    // inside the buffer.
    if (t.rcvbuf.readable() > t.rcvbuf.capacity()) return "receive buffer over its capacity";
    const SeqNum nxt = t.rcvbuf.next();
    const SeqNum end = nxt + static_cast<std::uint32_t>(t.rcvbuf.window());
    SeqNum lo = nxt;
    for (std::size_t i = 0; i < t.rcvbuf.ooo_ranges(); ++i) {
      auto [a, b] = t.rcvbuf.ooo_range(i);
      if (!(lo <= a && a < b && b <= end) || a == nxt) {
        return fmt::format("receive island {} [{}, {}) out of order or outside ({}, {}]", i,
                           a.raw(), b.raw(), nxt.raw(), end.raw());
      }
      lo = b;
    }
  }
  // Timers: whatever is unacknowledged has a timer that will resend it (RFC 6298 §5.1), and
  // queued data facing a closed window has the persist timer (RFC 9293 §3.8.6.1) or an output
  // pass due. Without these a connection could hang forever.
  if (stack::tcp::can_send_data(t.state) || t.state == State::kFinWait2 ||
      t.state == State::kSynSent || t.state == State::kSynReceived) {
    const bool outstanding = t.snd_max != t.snd_una;
    if (outstanding && !t.rexmit_timer.armed() && !t.rack_timer.armed() && !t.pending_output) {
      return fmt::format("{} bytes outstanding and no retransmission timer",
                         static_cast<std::uint32_t>(t.snd_max - t.snd_una));
    }
    const bool unsent = data_end > t.snd_nxt || (t.fin_queued && !t.fin_seq);
    if (stack::tcp::can_send_data(t.state) && unsent && !outstanding &&
        !t.persist_timer.armed() && !t.rexmit_timer.armed() && !t.pending_output) {
      return fmt::format("{} bytes to send, nothing in flight, window {}, and no timer",
                         static_cast<std::uint32_t>(data_end - t.snd_nxt), t.snd_wnd);
    }
  }
  if (t.state == State::kTimeWait && !t.timewait_timer.armed()) {
    return "TIME-WAIT without its 2*MSL timer (RFC 9293 §3.10.7.4)";
  }
  if (t.state == State::kClosed && t.in_table) return "a CLOSED connection is still in the table";
  (void)layer;
  return {};
}

}  // namespace

std::string tcp_invariant_violation(const stack::tcp::TcpLayer& layer) {
  std::string out;
  layer.for_each_connection([&](const Tcb& t) {
    if (!out.empty()) return;
    std::string v = check(layer, t);
    if (!v.empty()) {
      out = fmt::format("{}:{} <-> {}:{} in {}: {}", t.local.addr.to_string(), t.local.port,
                        t.remote.addr.to_string(), t.remote.port, state_name(t.state), v);
    }
  });
  return out;
}

}  // namespace coronet::testing
