#include "stack/tcp/tcp_layer.h"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "coro/log.h"
#include "nic/packet_pool.h"

namespace coronet::stack::tcp {

const char* state_name(State s) {
  switch (s) {
    case State::kClosed: return "CLOSED";
    case State::kListen: return "LISTEN";
    case State::kSynSent: return "SYN-SENT";
    case State::kSynReceived: return "SYN-RECEIVED";
    case State::kEstablished: return "ESTABLISHED";
    case State::kFinWait1: return "FIN-WAIT-1";
    case State::kFinWait2: return "FIN-WAIT-2";
    case State::kCloseWait: return "CLOSE-WAIT";
    case State::kClosing: return "CLOSING";
    case State::kLastAck: return "LAST-ACK";
    case State::kTimeWait: return "TIME-WAIT";
  }
  return "?";
}

namespace {
void rexmit_fired(coro::TimerNode* n) {
  Tcb* t = static_cast<Tcb::Timer*>(n)->tcb;
  t->layer.on_rexmit_timeout(*t);
}
void delack_fired(coro::TimerNode* n) {
  Tcb* t = static_cast<Tcb::Timer*>(n)->tcb;
  t->ack_now = true;
  t->layer.mark_output(t);
}
void persist_fired(coro::TimerNode* n) {
  Tcb* t = static_cast<Tcb::Timer*>(n)->tcb;
  t->layer.on_persist_timeout(*t);
}
void keepalive_fired(coro::TimerNode* n) {
  Tcb* t = static_cast<Tcb::Timer*>(n)->tcb;
  t->layer.on_keepalive_timeout(*t);
}
void rack_fired(coro::TimerNode* n) {
  Tcb* t = static_cast<Tcb::Timer*>(n)->tcb;
  t->layer.on_rack_timeout(*t);
}
void timewait_fired(coro::TimerNode* n) {
  Tcb* t = static_cast<Tcb::Timer*>(n)->tcb;
  // FIN-WAIT-2 of a closed connection: the peer never sent its FIN (TcpConfig::
  // fin_wait_2_timeout). Otherwise RFC 9293 §3.10.8: 2*MSL of TIME-WAIT elapsed.
  if (t->state == State::kFinWait2) ++t->layer.mutable_stats().fin_wait_2_timeouts;
  t->layer.set_closed(*t, std::nullopt);
}
}  // namespace

Tcb::Tcb(TcpLayer& l, const TcpConfig& cfg, BufferSizes sizes)
    : layer(l),
      sndbuf(sizes.send != 0 ? sizes.send : cfg.send_buffer, l.send_chunks()),
      rcvbuf(sizes.recv != 0 ? sizes.recv : cfg.recv_buffer, &l.recv_memory()),
      rto(cfg.initial_rto),
      seglog(cfg.max_segments_in_flight),
      rexmit_timer(this, &rexmit_fired),
      delack_timer(this, &delack_fired),
      persist_timer(this, &persist_fired),
      timewait_timer(this, &timewait_fired),
      keepalive_timer(this, &keepalive_fired),
      rack_timer(this, &rack_fired) {}

Tcb::~Tcb() = default;

std::size_t TcpLayer::KeyHash::operator()(const Key& k) const noexcept {
  std::uint64_t x = (std::uint64_t{k.remote_ip} << 32) ^ (std::uint64_t{k.remote_port} << 16) ^
                    k.local_port;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return static_cast<std::size_t>(x);
}

TcpLayer::TcpLayer(Engine& engine, TcpConfig config) : engine_(engine), config_(config) {
  if (config_.send_chunk_size < 1024 || config_.send_chunks == 0 || config_.send_views == 0) {
    throw std::invalid_argument("TcpConfig: send_chunk_size must be >= 1024 and send_chunks, "
                                "send_views > 0");
  }
  recv_memory_.limit = config_.recv_memory_limit;
  chunks_ = std::make_unique<nic::PacketPool>(nic::PacketPoolConfig{
      .name = "tcp-send",
      .count = config_.send_chunks,
      .buffer_size = config_.send_chunk_size,
      .headroom = 0,
      .views = config_.send_views,
  });
  if (sodium_init() < 0) throw std::runtime_error("libsodium initialisation failed");
  if (config_.deterministic_keys) {
    // Tests and fuzzing: the same keys every run, so a run (and a fuzz input) repeats exactly.
    unsigned char seed[randombytes_SEEDBYTES] = {};
    std::memcpy(seed, &*config_.deterministic_keys, sizeof(*config_.deterministic_keys));
    unsigned char keys[sizeof(isn_key_) + sizeof(cookie_key_)];
    randombytes_buf_deterministic(keys, sizeof(keys), seed);
    std::memcpy(isn_key_, keys, sizeof(isn_key_));
    std::memcpy(cookie_key_, keys + sizeof(isn_key_), sizeof(cookie_key_));
  } else {
    randombytes_buf(isn_key_, sizeof(isn_key_));
    randombytes_buf(cookie_key_, sizeof(cookie_key_));
  }
  engine_.attach_tcp(this);
}

TcpLayer::~TcpLayer() {
  // Connection handles must be gone by now (they point into the layer). Closed connections
  // waiting in the output list are no longer in the table: collect them before freeing.
  if (engine_.tcp() == this) engine_.attach_tcp(nullptr);
  std::vector<Tcb*> orphans;
  for (Tcb* t = pending_head_; t != nullptr; t = t->next_pending) {
    if (!t->in_table) orphans.push_back(t);
  }
  pending_head_ = nullptr;
  for (auto& [k, t] : table_) delete t;
  table_.clear();
  for (Tcb* t : orphans) delete t;
  for (auto& [p, l] : listeners_) delete l;
  // A device may still hold segments that show send chunks: the pool goes when they come back.
  nic::PacketPool::retire(std::move(chunks_));
}

Tcb* TcpLayer::lookup(const Key& k) {
  auto it = table_.find(k);
  return it == table_.end() ? nullptr : it->second;
}

Result<void> check_buffer_sizes(BufferSizes b) {
  // Window scaling reaches 1 GiB; a buffer below 1 KiB cannot hold one segment.
  for (std::size_t v : {b.send, b.recv}) {
    if (v != 0 && (v < 1024 || v > (std::size_t{64} << 20))) {
      return Error(Errc::kInvalidArgument,
                   "TCP buffer size " + std::to_string(v) + " outside 1 KiB - 64 MiB");
    }
  }
  return {};
}

Tcb* TcpLayer::new_tcb(Endpoint local, Endpoint remote, BufferSizes sizes) {
  Tcb* t = new Tcb(*this, config_, sizes);
  t->local = local;
  t->remote = remote;
  t->cc.algo = config_.congestion_control;
  t->user_timeout = config_.user_timeout;
  ++stats_.live_tcbs;
  return t;
}

void TcpLayer::insert(Tcb* t) {
  table_.emplace(key_of(*t), t);
  t->in_table = true;
}

void TcpLayer::remove(Tcb* t) {
  if (!t->in_table) return;
  table_.erase(key_of(*t));
  t->in_table = false;
}

namespace {

// SipHash-2-4 (libsodium's shorthash) under `key` of the 4-tuple and a tag byte that keeps the
// uses apart; the first 32 bits.
std::uint32_t keyed_tuple_hash(const unsigned char* key, Endpoint local, Endpoint remote,
                               unsigned char tag) {
  unsigned char in[13];
  std::uint32_t lip = local.addr.raw();
  std::uint32_t rip = remote.addr.raw();
  std::memcpy(in, &lip, 4);
  std::memcpy(in + 4, &rip, 4);
  std::memcpy(in + 8, &local.port, 2);
  std::memcpy(in + 10, &remote.port, 2);
  in[12] = tag;
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, in, sizeof(in), key);
  std::uint32_t v;
  std::memcpy(&v, out, 4);
  return v;
}

}  // namespace

SeqNum TcpLayer::generate_isn(Endpoint local, Endpoint remote) {
  // RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), with M a
  // 4-microsecond timer and F a keyed hash.
  const std::uint32_t f = keyed_tuple_hash(isn_key_, local, remote, 'I');
  auto now = engine_.reactor().clock().now().time_since_epoch();
  auto m = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now).count() / 4);
  return SeqNum(m + f);
}

std::uint32_t TcpLayer::ts_offset_for(Endpoint local, Endpoint remote) const {
  // RFC 7323 §5.4 / §7.1: a per-connection offset hides the host clock, but it must be the same
  // for every incarnation of a 4-tuple, so that timestamps keep growing across them: RFC 6191
  // lets a SYN with a newer timestamp end a TIME-WAIT. So a keyed hash of the 4-tuple, no clock.
  return keyed_tuple_hash(isn_key_, local, remote, 'T');
}

Result<ListenerState*> TcpLayer::listen(std::uint16_t port, std::size_t backlog,
                                        BufferSizes sizes) {
  if (auto r = check_buffer_sizes(sizes); !r) return r.error();
  if (port == 0) {
    // An unused port from the dynamic range (RFC 6335 §6), as bind() to port 0 gives.
    for (int tries = 0; tries < 16384 && port == 0; ++tries) {
      const auto p = static_cast<std::uint16_t>(49152 + next_listen_port_++ % 16384);
      if (listeners_.count(p) == 0) port = p;
    }
    if (port == 0) return Error(Errc::kAddressInUse, "no unused port left to listen on");
  }
  if (listeners_.count(port) != 0) {
    return Error(Errc::kAddressInUse, "port " + std::to_string(port) + " is already listening");
  }
  auto* l = new ListenerState;
  l->port = port;
  l->backlog = std::max<std::size_t>(1, backlog);
  l->buffers = sizes;
  listeners_.emplace(port, l);
  return l;
}

void TcpLayer::close_listener(ListenerState* l) {
  listeners_.erase(l->port);
  l->closed = true;
  l->acceptors.wake_all();
  // Connections nobody accepted are reset (RFC 9293 §3.10.4: CLOSE of a LISTEN).
  while (Tcb* t = l->accept_head) {
    l->accept_head = t->accept_next;
    t->listener = nullptr;
    abort(t, Errc::kConnectionAborted);
    release(t);
  }
  // Half-open children have nobody to accept them any more: reset them too. (Only when there
  // are any: the scan is over every connection of the core, 1M of them in the idle benchmark.)
  std::vector<Tcb*> children;
  for (auto it = table_.begin(); l->embryonic > children.size() && it != table_.end(); ++it) {
    if (it->second->listener == l) children.push_back(it->second);
  }
  for (Tcb* t : children) {
    abort(t, Errc::kConnectionAborted);  // (set_closed forgets the listener; freed at flush)
    t->listener = nullptr;
  }
  delete l;
}

Tcb* TcpLayer::pop_accepted(ListenerState* l) {
  Tcb* t = l->accept_head;
  if (t == nullptr) return nullptr;
  l->accept_head = t->accept_next;
  if (l->accept_head == nullptr) l->accept_tail = nullptr;
  t->accept_next = nullptr;
  t->listener = nullptr;
  --l->queued;
  t->user_attached = true;
  return t;
}

Result<Tcb*> TcpLayer::open(Endpoint remote, std::uint16_t local_port, BufferSizes sizes) {
  if (remote.addr.is_any() || remote.port == 0) {
    return Error(Errc::kInvalidArgument, "connect to " + remote.to_string());
  }
  if (auto r = check_buffer_sizes(sizes); !r) return r.error();
  Endpoint local{engine_.address(), local_port};
  // A 4-tuple is free for this connect when unused, or held in TIME-WAIT by an old incarnation
  // that may be taken over (TcpConfig::reuse_time_wait_after).
  auto free_tuple = [&](std::uint16_t p) {
    if (listeners_.count(p) != 0) return false;
    const Tcb* old = lookup({remote.addr.raw(), remote.port, p});
    return old == nullptr || time_wait_takeover(*old);
  };
  if (local_port == 0 && port_selector_ != nullptr) {
    // RSS: only ports whose reply hash lands on this engine's queue (mTCP's per-core port
    // choice), so the SYN-ACK and everything after it arrive on the core that owns the TCB.
    const nic::rss::ActiveOpen open{.local_addr = local.addr.raw(),
                                    .remote_addr = remote.addr.raw(),
                                    .remote_port = remote.port,
                                    .queue = engine_.config().queue,
                                    .range = {},
                                    .hint = next_ephemeral_++};
    auto port = port_selector_->select(open, free_tuple);
    if (!port) {
      return Error(Errc::kAddressInUse,
                   "no free local port whose replies reach queue " +
                       std::to_string(engine_.config().queue) + " for " + remote.to_string());
    }
    local.port = *port;
  } else if (local_port == 0) {
    // Ephemeral range 32768-60999 (like Linux); the first free one after the last used.
    for (int tries = 0; tries < 28232; ++tries) {
      std::uint16_t p = next_ephemeral_;
      next_ephemeral_ = p >= 60999 ? 32768 : static_cast<std::uint16_t>(p + 1);
      if (free_tuple(p)) {
        local.port = p;
        break;
      }
    }
    if (local.port == 0) return Error(Errc::kAddressInUse, "no free ephemeral port");
  } else if (const Tcb* old = lookup({remote.addr.raw(), remote.port, local_port});
             old != nullptr && !time_wait_takeover(*old)) {
    return Error(Errc::kAddressInUse, "connection " + local.to_string() + " -> " +
                                          remote.to_string() + " exists");
  }
  if (Tcb* old = lookup({remote.addr.raw(), remote.port, local.port}); old != nullptr) {
    // The old incarnation's TIME-WAIT ends here (Linux's tcp_tw_reuse; see TcpConfig).
    ++stats_.time_wait_reused_active;
    set_closed(*old, std::nullopt);  // out of the table; freed at the next flush
  }
  Tcb* t = new_tcb(local, remote, sizes);
  t->user_attached = true;
  t->iss = generate_isn(local, remote);
  t->ts_offset = ts_offset_for(local, remote);  // RFC 7323 §5.4
  t->snd_una = t->iss;
  t->snd_nxt = t->iss + 1;
  t->snd_max = t->snd_nxt;
  t->sndbuf_seq = t->iss + 1;
  t->state = State::kSynSent;
  insert(t);
  send_syn(*t);
  arm_rexmit(*t);
  return t;
}

void TcpLayer::shutdown_send(Tcb* t) {
  if (t->fin_queued) return;
  switch (t->state) {
    case State::kSynSent:
    case State::kClosed:
    case State::kListen:
      set_closed(*t, std::nullopt);  // RFC 9293 §3.10.4: nothing sent yet
      return;
    case State::kSynReceived:
      t->fin_queued = true;  // the FIN follows once established (RFC 9293 §3.10.4)
      mark_output(t);
      return;
    case State::kEstablished:
    case State::kCloseWait:
      // RFC 9293 §3.10.4: the FIN waits behind queued data, but the state changes now.
      t->fin_queued = true;
      t->state = t->state == State::kEstablished ? State::kFinWait1 : State::kLastAck;
      mark_output(t);
      return;
    default:
      return;  // FIN already on its way
  }
}

void TcpLayer::abort(Tcb* t, Errc reason) {
  if (t->state == State::kSynReceived || t->state == State::kEstablished ||
      t->state == State::kFinWait1 || t->state == State::kFinWait2 ||
      t->state == State::kCloseWait) {  // (CLOSING, LAST-ACK, TIME-WAIT: no RST, §3.10.5)
    // RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>, SND.NXT being the next new sequence number
    // (SND.MAX here: after a timeout our snd_nxt may have been rewound).
    send_rst(t->local, t->remote, t->snd_max, SeqNum(), false);
  }
  set_closed(*t, reason);
}

void TcpLayer::release(Tcb* t) {
  t->user_attached = false;
  t->user_closed = true;
  if (t->state != State::kClosed && t->state != State::kTimeWait) shutdown_send(t);
  if (t->state == State::kFinWait2) arm_fin_wait_2_timeout(*t);
  if (t->state == State::kClosed) mark_output(t);  // freed at the next flush
}

void TcpLayer::arm_fin_wait_2_timeout(Tcb& t) {
  if (config_.fin_wait_2_timeout.count() == 0 || !t.user_closed || t.timewait_timer.armed()) {
    return;
  }
  engine_.reactor().arm_timer(t.timewait_timer,
                              engine_.reactor().now() + config_.fin_wait_2_timeout);
}

void TcpLayer::mark_output(Tcb* t) {
  if (t->pending_output) return;
  t->pending_output = true;
  t->next_pending = pending_head_;
  pending_head_ = t;
}

void TcpLayer::set_closed(Tcb& t, std::optional<Errc> error) {
  if (error && !t.error) {
    if (*error == Errc::kTimedOut && t.soft_error) {
      // RFC 1122 §4.2.3.9: a soft error explains the timeout.
      t.error = Error(*error, "last ICMP error: type " + std::to_string(t.soft_error_type) +
                                  " code " + std::to_string(t.soft_error_code) + " (" +
                                  std::string(errc_message(*t.soft_error)) + ")");
    } else {
      t.error = Error(*error);
    }
  }
  if (error == Errc::kConnectionReset || error == Errc::kConnectionRefused) {
    ++stats_.connections_reset;
  }
  if (error == Errc::kTimedOut) ++stats_.connections_timed_out;
  if (t.in_time_wait_list) {
    if (t.tw_prev != nullptr) t.tw_prev->tw_next = t.tw_next; else tw_head_ = t.tw_next;
    if (t.tw_next != nullptr) t.tw_next->tw_prev = t.tw_prev; else tw_tail_ = t.tw_prev;
    t.in_time_wait_list = false;
    --stats_.time_wait;
  }
  if (t.listener != nullptr && t.state == State::kSynReceived) {
    --t.listener->embryonic;
    t.listener = nullptr;  // an embryonic child leaves no trace in its listener
  }
  t.state = State::kClosed;
  for (coro::TimerNode* n : {static_cast<coro::TimerNode*>(&t.rexmit_timer),
                             static_cast<coro::TimerNode*>(&t.delack_timer),
                             static_cast<coro::TimerNode*>(&t.persist_timer),
                             static_cast<coro::TimerNode*>(&t.timewait_timer),
                             static_cast<coro::TimerNode*>(&t.keepalive_timer),
                             static_cast<coro::TimerNode*>(&t.rack_timer)}) {
    engine_.reactor().cancel_timer(*n);
  }
  remove(&t);
  t.readers.wake_all();
  t.writers.wake_all();
  send_memory_waiters_.wake_all();  // (they re-check their own connection)
  t.connecters.wake_all();
  t.closers.wake_all();
  mark_output(&t);  // freed at the next flush unless a user handle still holds it
}

void TcpLayer::free_tcb(Tcb* t) {
  remove(t);
  --stats_.live_tcbs;
  delete t;
}

void TcpLayer::set_keepalive(Tcb& t, coro::Duration idle, coro::Duration interval,
                             unsigned count) {
  t.keepalive = {idle, interval, count};
  t.keepalive_probes = 0;
  if (idle.count() <= 0) {
    engine_.reactor().cancel_timer(t.keepalive_timer);
    return;
  }
  if (t.last_rx == coro::TimePoint{}) t.last_rx = engine_.reactor().now();
  engine_.reactor().arm_timer(t.keepalive_timer, t.last_rx + idle);
}

void TcpLayer::on_keepalive_timeout(Tcb& t) {
  // RFC 1122 §4.2.3.6: after `idle` without a segment from the peer, probe with
  // <SEQ=SND.UNA-1><ACK=RCV.NXT> (no data), which any live peer answers with an ACK; after
  // `count` unanswered probes the connection is dead.
  bool synchronized = t.state == State::kEstablished || t.state == State::kCloseWait ||
                      t.state == State::kFinWait1 || t.state == State::kFinWait2;
  if (!synchronized || t.keepalive.idle.count() <= 0) return;
  coro::TimePoint now = engine_.reactor().now();
  if (now < t.last_rx + t.keepalive.idle) {  // traffic since: wait for the full idle time again
    engine_.reactor().arm_timer(t.keepalive_timer, t.last_rx + t.keepalive.idle);
    return;
  }
  if (t.keepalive_probes >= t.keepalive.count) {
    ++stats_.keepalive_timeouts;
    send_rst(t.local, t.remote, t.snd_max, SeqNum(), false);
    set_closed(t, Errc::kTimedOut);
    return;
  }
  ++t.keepalive_probes;
  ++stats_.keepalive_probes;
  send_segment(t, t.snd_una - 1, 0, flag::kAck);
  engine_.reactor().arm_timer(t.keepalive_timer, now + t.keepalive.interval);
}

bool TcpLayer::time_wait_takeover(const Tcb& t) const {
  return t.state == State::kTimeWait && t.ts_ok && config_.reuse_time_wait_after.count() > 0 &&
         engine_.reactor().now() - t.time_wait_since >= config_.reuse_time_wait_after;
}

void TcpLayer::enter_time_wait(Tcb& t) {
  // RFC 9293 §3.10.7.4: TIME-WAIT for 2*MSL; bounded count: the oldest is recycled beyond it.
  engine_.reactor().cancel_timer(t.rexmit_timer);
  engine_.reactor().cancel_timer(t.persist_timer);
  engine_.reactor().cancel_timer(t.keepalive_timer);
  engine_.reactor().cancel_timer(t.rack_timer);
  t.seglog.clear();  // nothing of ours is outstanding any more: give the log's memory back
  // Nothing more can arrive either (a repeated FIN carries no data): unless the user still has
  // data to read, the receive ring goes back to the core's budget rather than wait out 2*MSL.
  t.rcvbuf.release_if_empty();
  if (!t.in_time_wait_list) {
    t.state = State::kTimeWait;
    t.in_time_wait_list = true;
    t.time_wait_since = engine_.reactor().now();
    t.tw_prev = tw_tail_;
    t.tw_next = nullptr;
    if (tw_tail_ != nullptr) tw_tail_->tw_next = &t; else tw_head_ = &t;
    tw_tail_ = &t;
    ++stats_.time_wait;
    if (stats_.time_wait > config_.max_time_wait && tw_head_ != &t) {
      ++stats_.time_wait_recycled;
      set_closed(*tw_head_, std::nullopt);
    }
  }
  t.state = State::kTimeWait;
  engine_.reactor().arm_timer(t.timewait_timer, engine_.reactor().now() + 2 * config_.msl);
  t.readers.wake_all();
  t.closers.wake_all();
}

void TcpLayer::established(Tcb& t) {
  t.state = State::kEstablished;
  // RFC 6298 §5.7: if the SYN (or SYN-ACK) had to be retransmitted, data starts with a 3 s RTO.
  if (t.syn_retransmitted && t.rto < std::chrono::seconds(3)) t.rto = std::chrono::seconds(3);
  ++stats_.connections_opened;
  // RFC 5681 §3.1 / RFC 6928: initial window.
  t.cc.cwnd = config_.initial_window_segments * t.snd_mss;
  if (t.listener != nullptr) {
    ListenerState& l = *t.listener;
    --l.embryonic;
    if (l.closed || l.queued >= l.backlog) {
      ++stats_.accept_overflow;
      t.listener = nullptr;
      abort(&t, Errc::kConnectionAborted);
      return;
    }
    t.accept_next = nullptr;
    if (l.accept_tail != nullptr) l.accept_tail->accept_next = &t; else l.accept_head = &t;
    l.accept_tail = &t;
    ++l.queued;
    l.acceptors.wake_one();
  }
  t.connecters.wake_all();
  t.writers.wake_all();
}

SeqNum TcpLayer::rcv_nxt(const Tcb& t) const {
  return t.rcvbuf.next() + (t.peer_closed ? 1u : 0u);
}

std::uint16_t TcpLayer::advertised_window(Tcb& t, bool syn) {
  std::size_t win = t.peer_closed ? 0 : t.rcvbuf.window();
  SeqNum nxt = rcv_nxt(t);
  // RFC 1122 §4.2.3.3 receiver SWS avoidance: only move the right edge by a useful amount.
  SeqNum edge = nxt + static_cast<std::uint32_t>(win);
  std::size_t step = std::min<std::size_t>(t.rcvbuf.capacity() / 2, t.snd_mss);
  if (t.rcv_adv > nxt && edge > t.rcv_adv &&
      static_cast<std::size_t>(edge - t.rcv_adv) < step) {
    edge = t.rcv_adv;
  }
  // RFC 9293 §3.8.6.2.2: never shrink the window we offered.
  if (edge < t.rcv_adv) edge = t.rcv_adv;
  win = static_cast<std::size_t>(edge - nxt);
  std::size_t scaled = syn ? win : (win >> t.rcv_wscale);  // RFC 7323 §2.2: SYN not scaled
  if (scaled > 0xffff) scaled = 0xffff;
  std::size_t offered = syn ? scaled : (scaled << t.rcv_wscale);
  if (nxt + static_cast<std::uint32_t>(offered) > t.rcv_adv) {
    t.rcv_adv = nxt + static_cast<std::uint32_t>(offered);
  }
  return static_cast<std::uint16_t>(scaled);
}

void TcpLayer::update_rtt(Tcb& t, coro::Duration r) {
  // RFC 6298 §2.2/2.3 with alpha = 1/8, beta = 1/4, K = 4, G = the timer tick (negligible).
  if (!t.have_rtt) {
    t.srtt = r;
    t.rttvar = r / 2;
    t.have_rtt = true;
  } else {
    coro::Duration err = t.srtt > r ? t.srtt - r : r - t.srtt;
    t.rttvar = (3 * t.rttvar + err) / 4;
    t.srtt = (7 * t.srtt + r) / 8;
  }
  t.rto = std::clamp(t.srtt + 4 * t.rttvar, config_.min_rto, config_.max_rto);  // §2.4, §2.5
}

coro::Duration TcpLayer::backed_off(coro::Duration base, unsigned times) const {
  for (unsigned i = 0; i < times && base < config_.max_rto; ++i) base *= 2;
  return std::min(base, config_.max_rto);
}

void TcpLayer::arm_rexmit(Tcb& t) {
  // RFC 6298 §5: the timer runs while data is outstanding; RTO doubled per backoff (§5.5).
  t.rexmit_deadline = engine_.reactor().now() + backed_off(t.rto, t.backoff);
  engine_.reactor().arm_timer(t.rexmit_timer, t.rexmit_deadline);
}

void TcpLayer::flush() {
  // Pop the whole list first: output may mark other connections.
  while (Tcb* t = pending_head_) {
    pending_head_ = t->next_pending;
    t->pending_output = false;
    t->next_pending = nullptr;
    if (t->state == State::kClosed) {
      if (!t->user_attached && t->listener == nullptr && t->active_ops == 0) free_tcb(t);
      continue;
    }
    output(*t);
  }
  // Writers starved by an empty send pool retry once chunks are back (acknowledged data, or
  // devices done with the views that kept them).
  if (!send_memory_waiters_.empty() && chunks_->available() > 0) send_memory_waiters_.wake_all();
}

void TcpLayer::icmp_error(const IcmpErrorInfo& info) {
  ++stats_.icmp_errors;
  Tcb* t = lookup({info.remote.addr.raw(), info.remote.port, info.local.port});
  // RFC 5927 §4.1: the quoted sequence number must be in flight, or the error is forged/stale.
  if (t == nullptr || !info.seq.in_range(t->snd_una, t->snd_max + 1)) {
    ++stats_.icmp_errors_ignored;
    return;
  }
  if (info.type == 3 && info.code == 4 && info.next_hop_mtu >= 68) {
    // RFC 1191 §6.4: packetize for the smaller path MTU (less the options every segment carries).
    // RFC 5927 §7: a forged "fragmentation needed" with a tiny MTU would shrink segments to a
    // few bytes (throughput reduction). The floor is 576, the datagram size every host accepts
    // (RFC 791 §3.1, RFC 1122 §3.3.2) and the path RFC 9293 §3.7.1's default MSS of 536 assumes.
    const int mtu = std::max<int>(info.next_hop_mtu, 576);
    const int room = mtu - 40 - (t->ts_ok ? 12 : 0);
    const auto mss = static_cast<std::uint16_t>(std::max(room, 64));
    if (mss < t->snd_mss) {
      t->snd_mss = mss;
      ++stats_.pmtu_reductions;
    }
    return;
  }
  // RFC 1122 §4.2.3.9: unreachable during connection set-up aborts it; later, errors are soft:
  // remembered, and reported if the connection then times out.
  if (info.type == 3 && t->state == State::kSynSent) {
    set_closed(*t, Errc::kHostUnreachable);
    return;
  }
  if (info.type == 3 || info.type == 11) {
    t->soft_error = info.type == 3 ? Errc::kHostUnreachable : Errc::kTimedOut;
    t->soft_error_type = info.type;
    t->soft_error_code = info.code;
    ++stats_.icmp_soft_errors;
  }
}

}  // namespace coronet::stack::tcp
