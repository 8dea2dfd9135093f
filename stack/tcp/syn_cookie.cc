// SYN cookies (RFC 4987 §3.6) and TIME-WAIT reuse (RFC 6191).
//
// Cookie layout (our own): ISS = hash24 << 8 | minute counter (5 bits) << 3 | MSS index (3 bits).
// hash24 is a keyed SipHash (libsodium) over the 4-tuple, the client's ISN and the counter, so a
// cookie is valid for one connection attempt and about two minutes. When the client offers
// timestamps, the low six bits of our TSval carry its window scale (4 bits, 15 = none) and
// SACK-permitted (1 bit); the ACK echoes them in TSecr. Without timestamps those options are not
// offered on a cookie SYN-ACK (they could not be remembered).
#include <sodium.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "stack/tcp/tcp_layer.h"

namespace coronet::stack::tcp {
namespace {

constexpr std::array<std::uint16_t, 8> kCookieMss = {536, 1220, 1360, 1400, 1440, 1460, 4312, 8960};
constexpr std::uint32_t kNoScale = 0xf;
constexpr std::uint32_t kSackBit = 0x10;
constexpr std::uint32_t kOptionBits = 0x3f;

std::uint32_t minute_counter(coro::TimePoint now) {
  return static_cast<std::uint32_t>(
             std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() /
             64) &
         0x1f;
}

}  // namespace

std::uint32_t TcpLayer::cookie_hash(Endpoint local, Endpoint remote, SeqNum client_isn,
                                    std::uint32_t counter) const {
  unsigned char in[20];
  const std::uint32_t lip = local.addr.raw();
  const std::uint32_t rip = remote.addr.raw();
  const std::uint32_t isn = client_isn.raw();
  std::memcpy(in, &lip, 4);
  std::memcpy(in + 4, &rip, 4);
  std::memcpy(in + 8, &local.port, 2);
  std::memcpy(in + 10, &remote.port, 2);
  std::memcpy(in + 12, &isn, 4);
  std::memcpy(in + 16, &counter, 4);
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, in, sizeof(in), cookie_key_);
  std::uint32_t h;
  std::memcpy(&h, out, 4);
  return h & 0xffffff;
}

void TcpLayer::send_syn_cookie(ListenerState& l, const TcpHeader& syn, const IpRxInfo& info) {
  const Endpoint local{info.dst, syn.dst_port};
  const Endpoint remote{info.src, syn.src_port};
  const std::uint16_t peer_mss = syn.options.mss.value_or(536);
  std::uint32_t mss_index = 0;
  for (std::uint32_t i = 0; i < kCookieMss.size(); ++i) {
    if (kCookieMss[i] <= peer_mss) mss_index = i;
  }
  const std::uint32_t counter = minute_counter(engine_.reactor().now());
  const SeqNum iss((cookie_hash(local, remote, syn.seq, counter) << 8) | (counter << 3) |
                   mss_index);
  TcpHeader h;
  h.src_port = local.port;
  h.dst_port = remote.port;
  h.seq = iss;
  h.ack = syn.seq + 1;
  h.flags = flag::kSyn | flag::kAck;
  const std::size_t rcvbuf = l.buffers.recv != 0 ? l.buffers.recv : config_.recv_buffer;
  h.window = static_cast<std::uint16_t>(std::min<std::size_t>(rcvbuf, 0xffff));
  h.options.mss = static_cast<std::uint16_t>(engine_.mtu() - 40);
  if (config_.timestamps && syn.options.ts_val) {
    std::uint32_t bits = kNoScale;
    if (syn.options.window_scale) {
      bits = std::min<std::uint32_t>(*syn.options.window_scale, 14);
      std::uint8_t shift = 0;
      while (shift < 14 && (rcvbuf >> shift) > 0xffff) ++shift;
      h.options.window_scale = shift;
    }
    if (config_.sack && syn.options.sack_permitted) {
      bits |= kSackBit;
      h.options.sack_permitted = true;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        engine_.reactor().now().time_since_epoch());
    const std::uint32_t clock =
        static_cast<std::uint32_t>(ms.count()) + ts_offset_for(local, remote);
    // RFC 4987 §3.6 cookie bits in TSval, but never ahead of the connection's clock: the first
    // data segment carries TSval = clock, and a peer whose TS.Recent (the SYN-ACK's TSval) is
    // larger drops it as old (RFC 7323 §5.3 PAWS) until a retransmission 1 s later. So round
    // down by one step of the option bits when they would move the value past the clock.
    std::uint32_t ts = (clock & ~kOptionBits) | bits;
    if (static_cast<std::int32_t>(ts - clock) > 0) ts -= kOptionBits + 1;
    h.options.ts_val = ts;
    h.options.ts_ecr = *syn.options.ts_val;
  }
  ++stats_.syn_cookies_sent;
  send_control(local, remote, h);
}

Tcb* TcpLayer::cookie_ack_input(ListenerState& l, const TcpHeader& h, const IpRxInfo& info,
                                bool* consumed) {
  *consumed = false;
  const Endpoint local{info.dst, h.dst_port};
  const Endpoint remote{info.src, h.src_port};
  const SeqNum iss = h.ack - 1;
  const SeqNum irs = h.seq - 1;
  const std::uint32_t cookie = iss.raw();
  const std::uint32_t counter = (cookie >> 3) & 0x1f;
  const std::uint32_t age = (minute_counter(engine_.reactor().now()) - counter) & 0x1f;
  if (age > 1 || cookie_hash(local, remote, irs, counter) != (cookie >> 8)) return nullptr;
  *consumed = true;  // a genuine cookie: never answered with a RST from here on
  if (l.queued >= l.backlog || l.closed) {
    ++stats_.accept_overflow;  // the client's next segment may find room
    return nullptr;
  }
  ++stats_.syn_cookies_accepted;
  Tcb* t = new_tcb(local, remote, l.buffers);
  t->listener = &l;
  ++l.embryonic;
  t->irs = irs;
  t->rcvbuf.reset(irs + 1);
  // The window the cookie SYN-ACK offered (unscaled, as SYNs are), so data on this ACK fits.
  t->rcv_adv = irs + 1 + static_cast<std::uint32_t>(std::min<std::size_t>(t->rcvbuf.capacity(), 0xffff));
  t->iss = iss;
  t->ts_offset = ts_offset_for(local, remote);
  t->snd_una = iss;
  t->snd_nxt = iss + 1;
  t->snd_max = t->snd_nxt;
  t->sndbuf_seq = iss + 1;
  t->snd_wl1 = irs;
  t->snd_wl2 = iss;
  const std::uint16_t ours = static_cast<std::uint16_t>(engine_.mtu() - 40);
  t->snd_mss = std::min(kCookieMss[cookie & 7], ours);
  if (config_.timestamps && h.options.ts_val && h.options.ts_ecr) {
    const std::uint32_t bits = *h.options.ts_ecr & kOptionBits;
    t->ts_ok = true;
    t->ts_recent = *h.options.ts_val;
    t->snd_mss = static_cast<std::uint16_t>(std::max(64, t->snd_mss - 12));
    if ((bits & kNoScale) != kNoScale) {
      t->wscale_ok = true;
      t->snd_wscale = static_cast<std::uint8_t>(bits & kNoScale);
      std::uint8_t shift = 0;
      while (shift < 14 && (t->rcvbuf.capacity() >> shift) > 0xffff) ++shift;
      t->rcv_wscale = shift;
    }
    t->sack_ok = config_.sack && (bits & kSackBit) != 0;
    t->rack_on = t->sack_ok && config_.rack;
  }
  t->state = State::kSynReceived;
  insert(t);
  return t;
}

bool TcpLayer::time_wait_reusable(const Tcb& t, const TcpHeader& syn) const {
  if (listeners_.find(syn.dst_port) == listeners_.end()) return false;
  // RFC 6191 §2: with timestamps, a SYN whose TSval is newer than the last one seen, or equal
  // to it (a reconnect within one tick of the timestamp clock) with a sequence number beyond
  // the old incarnation's.
  if (t.ts_ok && syn.options.ts_val) {
    const auto newer = static_cast<std::int32_t>(*syn.options.ts_val - t.ts_recent);
    return newer > 0 || (newer == 0 && syn.seq > rcv_nxt(t));
  }
  // RFC 1122 §4.2.2.13 / RFC 9293 §3.10.7.4: otherwise an ISN beyond the old RCV.NXT.
  return syn.seq > rcv_nxt(t);
}

}  // namespace coronet::stack::tcp
