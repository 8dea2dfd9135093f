// TcpLayer: coronet's TCP for one engine (one core): the connection and listener tables, segment
// input (RFC 9293 §3.10.7), output, timers. Users reach it through socket.h (Listener,
// Connection, connect()); the engine calls input()/icmp_error()/flush().
//
// Batching: input for a whole rx burst only updates state and marks connections that owe
// segments; flush() at the end of the burst sends them (coalesced ACKs), so one burst in gives at
// most one tx burst out. Coroutines woken by input (readers, writers, accept, connect) resume once
// each in the reactor's next batch.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "nic/packet.h"
#include "nic/packet_pool.h"
#include "nic/rss/port_selector.h"
#include "stack/engine.h"
#include "stack/tcp/header.h"
#include "stack/tcp/seq.h"
#include "stack/tcp/tcb.h"

namespace coronet::stack::tcp {

// What an ICMP error tells TCP about a segment it sent (RFC 1122 §4.2.3.9, RFC 5927).
struct IcmpErrorInfo {
  std::uint8_t type = 0;
  std::uint8_t code = 0;
  std::uint16_t next_hop_mtu = 0;  // type 3 code 4 (RFC 1191)
  Endpoint local;                  // from the quoted header: our side
  Endpoint remote;
  SeqNum seq;  // quoted sequence number
};

struct TcpStats {
  std::uint64_t rx_segments = 0;
  std::uint64_t rx_bad_checksum = 0;
  std::uint64_t rx_malformed = 0;
  std::uint64_t rx_not_unicast = 0;  // sent to a broadcast/multicast address: dropped
  // Segments with a broken option list, a known option of the wrong length, or an out-of-range
  // value (window scale > 14, MSS below the floor): the option is ignored or clamped.
  std::uint64_t rx_bad_options = 0;
  std::uint64_t rx_no_connection = 0;   // answered with RST
  std::uint64_t rx_out_of_window = 0;   // unacceptable segments (ACKed and dropped)
  std::uint64_t rx_ack_unsent = 0;      // SEG.ACK > SND.NXT: ACKed and dropped (RFC 9293)
  std::uint64_t rx_out_of_order = 0;
  std::uint64_t rx_duplicate = 0;
  std::uint64_t rx_no_room = 0;  // in-window data with no room (out-of-order islands full)
  std::uint64_t rx_direct_bytes = 0;    // copied straight into a waiting reader's buffer
  std::uint64_t rx_held_bytes = 0;      // kept in their packets until read (no ring copy)
  std::uint64_t rx_ring_bytes = 0;      // copied into the receive ring (read out: a 2nd copy)
  std::uint64_t rst_in_time_wait_ignored = 0;  // RFC 1337
  std::uint64_t rx_after_close = 0;     // data for a closed handle: answered with RST
  std::uint64_t rx_memory_drops = 0;    // segments dropped at the per-core receive memory cap
  std::uint64_t tx_zero_copy_bytes = 0;  // sent as views of the send buffer
  std::uint64_t tx_view_exhausted = 0;   // no view descriptor: payload copied instead
  std::uint64_t send_memory_waits = 0;   // writes that waited for the per-core send pool
  std::uint64_t tx_segments = 0;
  std::uint64_t tx_retransmits = 0;
  std::uint64_t tx_rst = 0;
  std::uint64_t tx_no_buffer = 0;
  std::uint64_t fast_retransmits = 0;
  std::uint64_t recoveries = 0;        // fast recovery episodes (RFC 6675 / RFC 6582)
  std::uint64_t rescue_retransmits = 0;  // RFC 6675 NextSeg rule 4
  std::uint64_t rack_losses = 0;         // segments RACK deemed lost (RFC 8985 §6.2 step 5)
  std::uint64_t rack_reorder_timeouts = 0;  // RACK reordering timer expiries
  std::uint64_t rack_reordering_seen = 0;   // connections that saw reordering
  std::uint64_t tlp_probes = 0;          // RFC 8985 §7.3 loss probes sent
  std::uint64_t tlp_new_data = 0;        // ... of which carried new data
  std::uint64_t tlp_loss_repaired = 0;   // §7.4: a probe repaired a loss (cwnd reduced)
  std::uint64_t dsacks_received = 0;     // RFC 2883 duplicate reports
  std::uint64_t dsacks_sent = 0;
  std::uint64_t tx_log_full = 0;         // new data held back: max_segments_in_flight reached
  std::uint64_t paws_rejected = 0;     // RFC 7323 §5: old timestamps dropped
  std::uint64_t ts_missing = 0;        // RFC 7323 §3.2: segments without the negotiated option
  std::uint64_t sack_blocks_sent = 0;
  std::uint64_t sack_blocks_invalid = 0;  // received blocks empty or beyond SND.MAX: ignored
  std::uint64_t challenge_acks_suppressed = 0;  // over the RFC 5961 §7 rate limit
  std::uint64_t syn_cookies_sent = 0;
  std::uint64_t syn_cookies_accepted = 0;
  std::uint64_t time_wait_reused = 0;        // RFC 6191: TIME-WAIT ended by a newer SYN
  std::uint64_t time_wait_reused_active = 0;  // our connect() took over a TIME-WAIT 4-tuple
  std::uint64_t user_timeouts = 0;           // RFC 5482 / RFC 9293 §3.8.4
  std::uint64_t rto_expiries = 0;
  std::uint64_t challenge_acks = 0;
  std::uint64_t syn_dropped_backlog = 0;
  std::uint64_t accept_overflow = 0;
  std::uint64_t time_wait_recycled = 0;
  std::uint64_t icmp_errors = 0;
  std::uint64_t icmp_soft_errors = 0;   // remembered for the connection (RFC 1122 §4.2.3.9)
  std::uint64_t icmp_errors_ignored = 0;  // no connection, or quoted seq not in flight (RFC 5927)
  std::uint64_t pmtu_reductions = 0;    // RFC 1191: MSS lowered by "fragmentation needed"
  std::uint64_t keepalive_probes = 0;
  std::uint64_t persist_probes = 0;  // zero-window probes (RFC 9293 §3.8.6.1)
  std::uint64_t nagle_delays = 0;  // small segments held back until an ACK (RFC 896)
  std::uint64_t sws_delays = 0;    // window-limited small segments held back (RFC 1122 §4.2.3.4)
  std::uint64_t keepalive_timeouts = 0;
  std::uint64_t fin_wait_2_timeouts = 0;  // closed connections whose peer never sent its FIN
  std::uint64_t connections_opened = 0;   // active + passive, reached ESTABLISHED
  std::uint64_t connections_reset = 0;
  std::uint64_t connections_timed_out = 0;
  std::uint64_t live_tcbs = 0;
  std::uint64_t time_wait = 0;
};

// A listening port: embryonic connections (SYN-RECEIVED) and the accept queue, both bounded.
class ListenerState {
 public:
  std::uint16_t port = 0;
  std::size_t backlog = 128;
  BufferSizes buffers;        // for accepted connections
  std::size_t embryonic = 0;  // SYN-RECEIVED children
  std::size_t queued = 0;     // established, waiting for accept()
  Tcb* accept_head = nullptr;
  Tcb* accept_tail = nullptr;
  coro::WaitQueue acceptors;
  bool closed = false;
};

// Errc::kInvalidArgument for sizes outside 1 KiB - 64 MiB (0 means "the default").
Result<void> check_buffer_sizes(BufferSizes sizes);

class TcpLayer {
 public:
  explicit TcpLayer(Engine& engine, TcpConfig config = {});
  ~TcpLayer();
  TcpLayer(const TcpLayer&) = delete;
  TcpLayer& operator=(const TcpLayer&) = delete;

  // --- engine side ---
  void input(nic::Packet* p, const IpRxInfo& info);
  void icmp_error(const IcmpErrorInfo& info);
  void flush();

  // --- socket side (socket.cc) ---
  // Port 0: an unused port of the dynamic range (see ListenerState::port).
  Result<ListenerState*> listen(std::uint16_t port, std::size_t backlog, BufferSizes sizes = {});
  void close_listener(ListenerState* l);
  Tcb* pop_accepted(ListenerState* l);
  // Starts an active open (SYN-SENT). local_port 0 picks an ephemeral port.
  Result<Tcb*> open(Endpoint remote, std::uint16_t local_port, BufferSizes sizes = {});
  // Queues our FIN after the buffered data (RFC 9293 §3.10.4 CLOSE / shutdown of sending).
  void shutdown_send(Tcb* t);
  // Sends RST and forgets the connection (RFC 9293 §3.10.5 ABORT).
  void abort(Tcb* t, Errc reason);
  // The user's handle is gone: close if still open, free once the connection is done.
  void release(Tcb* t);
  // Something for the peer is due on `t` (data written, window opened): sent at the next flush.
  void mark_output(Tcb* t);

  Engine& engine() { return engine_; }
  // Multi-queue devices steer flows by RSS: with a selector, connect() picks local ports whose
  // replies land on this engine's queue. The selector must outlive the layer (or be reset).
  void set_port_selector(const nic::rss::PortSelector* selector) { port_selector_ = selector; }
  // The per-core pool send buffers take their chunks from.
  nic::PacketPool& send_chunks() { return *chunks_; }
  // Writers wait here when the send pool is empty; woken at a flush once chunks are back.
  coro::WaitQueue& send_memory_waiters() { return send_memory_waiters_; }
  // Receive rings allocated on this core, against TcpConfig::recv_memory_limit.
  MemoryBudget& recv_memory() { return recv_memory_; }
  const TcpConfig& config() const { return config_; }
  const TcpStats& stats() const { return stats_; }
  std::size_t connection_count() const { return table_.size(); }
  // Calls f(const Tcb&) for every connection in the table (tests, fuzzing, diagnostics).
  template <typename F>
  void for_each_connection(F&& f) const {
    for (const auto& entry : table_) f(static_cast<const Tcb&>(*entry.second));
  }

  // Internal (input.cc / output.cc / timers): public for those translation units.
  void output(Tcb& t);
  void send_syn(Tcb& t);
  void send_ack(Tcb& t);
  void send_rst(Endpoint local, Endpoint remote, SeqNum seq, SeqNum ack, bool with_ack);
  void send_control(Endpoint local, Endpoint remote, const TcpHeader& h);
  void on_rexmit_timeout(Tcb& t);
  void on_persist_timeout(Tcb& t);
  void on_rack_timeout(Tcb& t);  // RACK reordering timer or TLP probe timer (RFC 8985)
  void on_keepalive_timeout(Tcb& t);
  // Keepalive (RFC 1122 §4.2.3.6): idle zero turns it off.
  void set_keepalive(Tcb& t, coro::Duration idle, coro::Duration interval, unsigned count);
  void send_window_probe(Tcb& t);
  void enter_time_wait(Tcb& t);
  // A user-closed connection in FIN-WAIT-2 gets TcpConfig::fin_wait_2_timeout (on the TIME-WAIT
  // timer, which FIN-WAIT-2 does not otherwise use).
  void arm_fin_wait_2_timeout(Tcb& t);
  void set_closed(Tcb& t, std::optional<Errc> error);
  void established(Tcb& t);
  std::uint16_t advertised_window(Tcb& t, bool syn);
  void arm_rexmit(Tcb& t);
  void update_rtt(Tcb& t, coro::Duration sample);
  SeqNum rcv_nxt(const Tcb& t) const;
  TcpStats& mutable_stats() { return stats_; }

 private:
  struct Key {
    std::uint32_t remote_ip;
    std::uint16_t remote_port;
    std::uint16_t local_port;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  static Key key_of(const Tcb& t) { return {t.remote.addr.raw(), t.remote.port, t.local.port}; }

  Tcb* lookup(const Key& k);
  Tcb* new_tcb(Endpoint local, Endpoint remote, BufferSizes sizes);
  void insert(Tcb* t);
  void remove(Tcb* t);
  SeqNum generate_isn(Endpoint local, Endpoint remote);
  // RFC 7323 §5.4 timestamp offset: a keyed hash of the 4-tuple, the same for every incarnation.
  std::uint32_t ts_offset_for(Endpoint local, Endpoint remote) const;
  void listen_input(ListenerState& l, const TcpHeader& h, const IpRxInfo& info,
                    std::uint32_t seg_len);
  void syn_sent_input(Tcb& t, const TcpHeader& h);
  void segment_input(Tcb& t, const TcpHeader& h, std::span<const std::byte> payload);
  bool process_ack(Tcb& t, const TcpHeader& h, std::uint32_t payload_len);
  void process_data(Tcb& t, const TcpHeader& h, std::span<const std::byte> payload);
  void process_fin(Tcb& t);
  void ack_in_order_data(Tcb& t, bool immediately);
  bool try_hold(Tcb& t, SeqNum seq, std::span<const std::byte> payload);
  void challenge_ack(Tcb& t);
  // RFC 2883 §4: [left, right) arrived again; the next ACK carries it as a D-SACK block.
  void note_duplicate(Tcb& t, SeqNum left, SeqNum right);
  // SYN cookies (syn_cookie.cc).
  std::uint32_t cookie_hash(Endpoint local, Endpoint remote, SeqNum client_isn,
                            std::uint32_t counter) const;
  void send_syn_cookie(ListenerState& l, const TcpHeader& syn, const IpRxInfo& info);
  // The connection an ACK with a valid cookie opens (SYN-RECEIVED, in the table), or null.
  // *consumed: the cookie was valid (even if no connection could be made): send no RST.
  Tcb* cookie_ack_input(ListenerState& l, const TcpHeader& h, const IpRxInfo& info,
                        bool* consumed);
  bool time_wait_reusable(const Tcb& t, const TcpHeader& syn) const;
  // A connect() may take over this TIME-WAIT 4-tuple (TcpConfig::reuse_time_wait_after).
  bool time_wait_takeover(const Tcb& t) const;
  // True when the ACK gave a valid RTT sample.
  bool take_rtt_sample(Tcb& t, const TcpHeader& h);
  void enter_recovery(Tcb& t);
  void prr_update(Tcb& t, std::uint32_t delivered);
  std::uint32_t pipe(const Tcb& t) const;
  // Resends up to max_len bytes at `seq` (with the FIN if it is next); counted. False when
  // there was nothing to send there.
  bool retransmit(Tcb& t, SeqNum seq, std::uint32_t max_len);
  // RFC 6675 NextSeg rules 3 and 4 during SACK recovery; true when something was sent.
  bool recovery_extra(Tcb& t);
  // NextSeg rule 1 (resend what is deemed lost, lowest first) while pipe < cwnd; with RACK the
  // log's marks say what is lost, otherwise the scoreboard's DupThresh rule.
  bool retransmit_lost(Tcb& t);
  // RACK-TLP (recovery.cc): the ACK's deliveries into the log and RACK's state, DSACKs, the TLP
  // episode and loss detection; the number of segments newly deemed lost.
  std::uint32_t rack_on_ack(Tcb& t, const TcpHeader& h, std::uint32_t acked, std::uint32_t plen);
  std::uint32_t rack_detect_and_arm(Tcb& t);
  void schedule_tlp(Tcb& t);
  void send_tlp_probe(Tcb& t);
  void rack_on_timeout_expiry(Tcb& t);
  // The RFC 7323 timestamp clock for `t`: milliseconds plus the connection's offset.
  std::uint32_t ts_clock(const Tcb& t) const;
  // `base` doubled `times` times, at most max_rto (RFC 6298 §5.5).
  coro::Duration backed_off(coro::Duration base, unsigned times) const;
  void reset_answer(const TcpHeader& h, const IpRxInfo& info, std::uint32_t seg_len);
  void send_segment(Tcb& t, SeqNum seq, std::uint32_t len, std::uint8_t flags);
  void fill_sack_blocks(Tcb& t, TcpOptions& o, std::uint32_t payload);
  void apply_syn_options(Tcb& t, const TcpHeader& h);
  void free_tcb(Tcb* t);

  Engine& engine_;
  TcpConfig config_;
  TcpStats stats_;
  std::unordered_map<Key, Tcb*, KeyHash> table_;
  std::unordered_map<std::uint16_t, ListenerState*> listeners_;
  Tcb* pending_head_ = nullptr;  // connections owing output at the next flush
  Tcb* tw_head_ = nullptr;       // TIME-WAIT list, oldest first
  Tcb* tw_tail_ = nullptr;
  std::uint16_t next_ephemeral_ = 32768;
  std::uint32_t next_listen_port_ = 0;  // listen(0): the next port of the dynamic range to try
  unsigned char isn_key_[16];
  unsigned char cookie_key_[16];
  coro::TimePoint challenge_window_start_{};
  std::uint32_t challenge_acks_in_window_ = 0;
  std::uint32_t challenge_budget_ = 0;   // this second's challenge ACKs (randomised)
  std::uint64_t challenge_windows_ = 0;  // seconds with challenge ACKs so far
  std::vector<std::byte> scratch_ = std::vector<std::byte>(65536);  // chained segments
  std::unique_ptr<nic::PacketPool> chunks_;
  coro::WaitQueue send_memory_waiters_;
  MemoryBudget recv_memory_;
  // The segment being processed while input() still owns it: process_data may take it (held
  // in the receive buffer), leaving null.
  nic::Packet* rx_packet_ = nullptr;
  const nic::rss::PortSelector* port_selector_ = nullptr;
};

}  // namespace coronet::stack::tcp
