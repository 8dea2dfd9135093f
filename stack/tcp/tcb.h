// The transmission control block (RFC 9293 §3.3.1): everything one connection knows. Owned by
// the TcpLayer of its engine; the user's Connection handle points at it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "coro/result.h"
#include "coro/timer_wheel.h"
#include "coro/waiter.h"
#include "stack/net/ipv4_addr.h"
#include "stack/tcp/buffers.h"
#include "stack/tcp/congestion.h"
#include "stack/tcp/rack.h"
#include "stack/tcp/sack.h"
#include "stack/tcp/seq.h"

namespace coronet::stack::tcp {

class TcpLayer;
class ListenerState;

enum class State : std::uint8_t {
  kClosed,
  kListen,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};
const char* state_name(State s);
// States in which our data (and FIN) may still go out.
inline bool can_send_data(State s) {
  return s == State::kEstablished || s == State::kCloseWait || s == State::kFinWait1 ||
         s == State::kClosing || s == State::kLastAck;
}

struct TcpConfig {
  std::size_t send_buffer = 256 * 1024;
  std::size_t recv_buffer = 256 * 1024;
  coro::Duration initial_rto = std::chrono::seconds(1);     // RFC 6298 §2.1
  coro::Duration min_rto = std::chrono::milliseconds(200);  // RFC 6298 says 1 s; Linux uses 200 ms
  coro::Duration max_rto = std::chrono::seconds(60);        // RFC 6298 §2.5
  coro::Duration delayed_ack = std::chrono::milliseconds(40);  // RFC 1122 §4.2.3.2: <= 500 ms
  coro::Duration msl = std::chrono::seconds(30);            // TIME-WAIT lasts 2*MSL (RFC 9293 §3.4.2)
  // A connection the user closed (close() or the handle dropped) waits this long in FIN-WAIT-2
  // for the peer's FIN, then goes away silently (Linux's tcp_fin_timeout). RFC 9293 lets
  // FIN-WAIT-2 last forever, but then a peer that acknowledges our FIN and never sends its own
  // pins a TCB for good, and many such peers pin the core's memory. Zero: wait forever.
  coro::Duration fin_wait_2_timeout = std::chrono::seconds(60);
  unsigned max_syn_retries = 7;  // 1+2+...+64 s = 127 s, then 64 more: >= 3 min (RFC 9293 MUST-23)
  unsigned max_retries = 12;              // data retransmissions before the connection times out
  std::size_t max_time_wait = 65536;      // beyond this the oldest TIME-WAIT is recycled (counted)
  // An active open may take over a 4-tuple this side holds in TIME-WAIT once the old incarnation
  // used timestamps and has been in TIME-WAIT this long (Linux's tcp_tw_reuse): our timestamps
  // grow across incarnations, so the new SYN and everything after it is newer than anything
  // of the old one (RFC 6191 §2, RFC 7323 §5); a client that closes first does not run out of
  // ports after 28,000 connections. Zero disables it.
  coro::Duration reuse_time_wait_after = std::chrono::seconds(1);
  std::uint32_t initial_window_segments = 10;  // RFC 6928
  CcAlgorithm congestion_control = CcAlgorithm::kCubic;
  bool timestamps = true;  // RFC 7323 §3: offered on our SYNs
  bool sack = true;        // RFC 2018: SACK-permitted offered on our SYNs
  // RFC 8985 RACK-TLP loss detection on connections with SACK (otherwise RFC 6675's DupThresh
  // rules and rescue retransmission alone).
  bool rack = true;
  // RFC 8985 §7.2 WCDelAckT: the peer's worst-case delayed ACK, added to a lone segment's PTO.
  coro::Duration tlp_max_ack_delay = std::chrono::milliseconds(200);
  // Segments one connection may have unacknowledged at once (RACK's transmission log).
  std::uint32_t max_segments_in_flight = 8192;
  bool syn_cookies = true;  // RFC 4987 §3.6: answer SYNs statelessly when the queue is full
  bool rfc1337 = true;  // ignore RSTs in TIME-WAIT (RFC 1337 §4) rather than close early
  // Challenge ACKs per second per core (RFC 5961 §7), on average: each second's budget is drawn
  // from [limit/2, 3*limit/2] (RFC 5961 §10, CVE-2016-5696).
  std::uint32_t challenge_ack_limit = 1000;
  // RFC 9293 §3.8.4 / RFC 5482: data unacknowledged this long closes the connection (timed
  // out); zero leaves it to max_retries.
  coro::Duration user_timeout{};
  // Send memory: one per-core pool of chunks shared by all connections (it caps the core's
  // unacknowledged data), and the view descriptors segments use to show them without copying.
  std::uint32_t send_chunk_size = 8192;
  std::uint32_t send_chunks = 4096;  // 32 MiB per core by default
  std::uint32_t send_views = 8192;
  std::uint32_t zero_copy_min = 256;  // smaller payloads are copied into the header buffer
  // Receive: in-order segments of at least this many bytes are held as packets until read
  // (one copy, packet -> user) while the device pool has more than this share (1/n) free.
  std::uint32_t rx_hold_min = 512;
  std::uint32_t rx_hold_pool_share = 2;
  // Per-core cap on receive rings (allocated when a connection first needs to buffer data; out
  // of order data lives there too). At the cap, data for connections without a ring is dropped.
  std::size_t recv_memory_limit = std::size_t{512} << 20;
  // Tests and fuzzing only: derive the ISN/timestamp-offset and SYN-cookie keys from this seed
  // instead of the system's random source, so that runs repeat exactly. Never in production:
  // secret keys are what make ISNs (RFC 6528 §3) and cookies (RFC 4987 §3.6) unguessable.
  std::optional<std::uint64_t> deterministic_keys;
};

// Per-connection buffer sizes (0: the layer's TcpConfig default).
struct BufferSizes {
  std::size_t send = 0;
  std::size_t recv = 0;
};

struct Tcb {
  Tcb(TcpLayer& layer, const TcpConfig& cfg, BufferSizes sizes);
  ~Tcb();
  Tcb(const Tcb&) = delete;
  Tcb& operator=(const Tcb&) = delete;

  TcpLayer& layer;
  State state = State::kClosed;
  Endpoint local;
  Endpoint remote;

  // Send sequence space (RFC 9293 §3.3.1).
  SeqNum iss;
  SeqNum snd_una;
  SeqNum snd_nxt;
  SeqNum snd_max;             // highest sequence sent + 1 (snd_nxt may be rewound by an RTO)
  std::uint32_t snd_wnd = 0;  // peer's window, already scaled
  SeqNum snd_wl1;
  SeqNum snd_wl2;
  std::uint32_t max_snd_wnd = 0;
  std::uint16_t snd_mss = 536;  // RFC 9293 §3.7.1 default when no MSS option
  std::uint8_t snd_wscale = 0;  // shift applied to windows the peer advertises
  std::uint8_t rcv_wscale = 0;  // shift we apply to windows we advertise
  bool wscale_ok = false;

  // Receive sequence space.
  SeqNum irs;
  SeqNum rcv_adv;  // right edge we advertised; never moved left (RFC 9293 §3.8.6.2.2)

  SendBuffer sndbuf;
  RecvBuffer rcvbuf;
  SeqNum sndbuf_seq;  // sequence number of sndbuf's oldest byte

  // FIN bookkeeping.
  bool fin_queued = false;        // user shut down sending: FIN goes after the buffered data
  std::optional<SeqNum> fin_seq;  // sequence number our FIN occupies once sent
  std::optional<SeqNum> peer_fin;  // peer's FIN seen beyond a hole: processed when filled
  bool peer_closed = false;       // peer's FIN consumed: reads return 0 after the data

  // RTT estimation (RFC 6298) and retransmission.
  coro::Duration srtt{};
  coro::Duration rttvar{};
  coro::Duration rto{};
  bool have_rtt = false;
  std::optional<SeqNum> rtt_seq;  // segment being timed (Karn: never a retransmitted one)
  std::optional<std::uint32_t> rexmit_ts;  // timestamp clock at the last retransmission (Karn)
  coro::TimePoint rtt_start{};
  coro::TimePoint rexmit_deadline{};  // when the armed retransmission timer fires
  unsigned backoff = 0;  // consecutive RTO expiries (kept until a valid RTT sample: Karn)
  unsigned rto_unanswered = 0;  // RTO expiries since the peer last sent anything at all
  bool syn_retransmitted = false;  // RFC 6298 §5.7
  // Congestion control (congestion.h) and loss recovery: NewReno (RFC 6582) without SACK,
  // RFC 6675 with it, both paced by PRR (RFC 6937).
  CongestionState cc;
  unsigned dupacks = 0;
  bool in_recovery = false;
  SeqNum recover;
  SackScoreboard scoreboard;
  SeqNum high_rxt;                  // RFC 6675 HighRxt: highest byte retransmitted in recovery
  std::optional<SeqNum> rescue_rxt;  // RFC 6675 RescueRxt
  std::uint32_t prr_delivered = 0;  // RFC 6937 §3 state
  std::uint32_t prr_out = 0;
  std::uint32_t recover_fs = 0;
  // RACK-TLP (RFC 8985), on when SACK was agreed and the layer enables it: the transmission log,
  // RACK's state, and one timer serving as the reordering timer or the TLP probe timer.
  bool rack_on = false;
  bool rto_recovery = false;   // this recovery began with an RTO: slow start, not PRR
  bool tlp_probe_due = false;  // output() may send one new segment beyond cwnd: the probe
  bool rack_timer_is_probe = false;
  SegmentLog seglog;
  Rack rack;
  coro::TimePoint last_send{};  // slow start after idle (RFC 5681 §4.1)
  coro::TimePoint una_progress{};  // last time SND.UNA moved (or sending began): user timeout
  coro::Duration user_timeout{};

  // RFC 7323 timestamps: negotiated on the SYNs; TS.Recent and Last.ACK.sent (§4.3).
  bool ts_ok = false;
  std::uint32_t ts_recent = 0;
  std::uint32_t ts_offset = 0;  // per-connection random offset (RFC 7323 §5.4)
  SeqNum last_ack_sent;
  // RFC 2018 SACK: negotiated on the SYNs; the newest out-of-order arrival's block goes first.
  bool sack_ok = false;
  SeqNum last_ooo_seq;
  // RFC 2883: a duplicate segment arrived; the next ACK reports it first (a D-SACK block).
  bool dsack_pending = false;
  SeqNum dsack_left;
  SeqNum dsack_right;

  // Delayed ACK (RFC 1122 §4.2.3.2; RFC 9293 §3.8.6.3).
  unsigned unacked_segments = 0;
  bool ack_now = false;
  bool ack_pending = false;
  bool pending_output = false;  // linked in the layer's output list
  Tcb* next_pending = nullptr;

  struct Timer : coro::TimerNode {
    Timer(Tcb* t, Callback cb) : coro::TimerNode(cb), tcb(t) {}
    Tcb* tcb;
  };
  Timer rexmit_timer;
  Timer delack_timer;
  Timer persist_timer;
  Timer timewait_timer;
  Timer keepalive_timer;
  Timer rack_timer;
  unsigned persist_backoff = 0;
  bool sws_override = false;  // the persist timer fired: send a window-limited small segment

  // Socket options.
  bool no_delay = false;  // RFC 1122 §4.2.3.4: Nagle's algorithm unless set
  struct Keepalive {
    coro::Duration idle{};  // zero: off (RFC 1122 §4.2.3.6: off by default)
    coro::Duration interval{};
    unsigned count = 0;
  } keepalive;
  coro::TimePoint last_rx{};  // last segment from the peer (keepalive idle time)
  unsigned keepalive_probes = 0;

  // A reader waiting with an empty window lends its buffer: in-order data is copied straight
  // into it (one copy from the packet to the user instead of two through the ring).
  std::span<std::byte> direct_buf;
  std::size_t direct_filled = 0;

  // Waiters: the flow events the engine turns into coroutine resumptions.
  coro::WaitQueue readers;
  coro::WaitQueue writers;
  coro::WaitQueue connecters;
  coro::WaitQueue closers;

  std::optional<Error> error;  // set once: reset, refused, timed out
  std::optional<Errc> soft_error;  // the last ICMP soft error (RFC 1122 §4.2.3.9)
  std::uint8_t soft_error_type = 0;
  std::uint8_t soft_error_code = 0;
  ListenerState* listener = nullptr;  // embryonic/accept-queue child of this listener
  Tcb* accept_next = nullptr;
  bool in_table = false;
  bool user_attached = false;  // a Connection handle exists
  bool user_closed = false;    // close() called or the handle dropped: no reader any more
  bool reset_after_close = false;  // peer data during close() forced a RST
  unsigned active_ops = 0;     // Connection operations suspended in this TCB
  bool in_time_wait_list = false;
  coro::TimePoint time_wait_since{};  // when TIME-WAIT began (active-open reuse)
  Tcb* tw_prev = nullptr;
  Tcb* tw_next = nullptr;
};

}  // namespace coronet::stack::tcp
