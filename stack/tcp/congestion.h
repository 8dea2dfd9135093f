// Congestion control as a per-connection policy: NewReno (RFC 5681, RFC 6582) or CUBIC
// (RFC 9438). The policy is a value chosen per connection and dispatched with a switch, not a
// virtual call, so the ACK path stays branch-predictable. Loss recovery itself (which segments
// to resend, PRR pacing) lives in the TCP layer; the policy only answers "how big is cwnd".
#pragma once

#include <cstdint>

#include "coro/clock.h"

namespace coronet::stack::tcp {

enum class CcAlgorithm : std::uint8_t { kNewReno, kCubic };
const char* cc_name(CcAlgorithm a);

struct CongestionState {
  CcAlgorithm algo = CcAlgorithm::kCubic;
  std::uint32_t cwnd = 0;
  std::uint32_t ssthresh = 0xffffffff;
  std::uint32_t bytes_acked = 0;  // RFC 5681 §3.1 appropriate byte counting in avoidance
  // CUBIC (RFC 9438 §4): in segments (doubles, off the per-packet hot path only on ACKs).
  double w_max = 0;            // window before the last reduction
  double k = 0;                // seconds to climb back to w_max
  double w_est = 0;            // Reno-friendly estimate (§4.3)
  double cwnd_prior = 0;       // cwnd when ssthresh was last set (§4.3 alpha switch)
  coro::TimePoint epoch{};     // start of the current avoidance epoch
  bool epoch_valid = false;
};

// Growth on an ACK that acknowledged `acked` new bytes, outside recovery. `rtt` is the smoothed
// RTT (CUBIC's target looks one RTT ahead, RFC 9438 §4.2).
void cc_on_ack(CongestionState& c, std::uint32_t acked, std::uint32_t smss, coro::TimePoint now,
               coro::Duration rtt);
// A loss detected by duplicate ACKs or SACK (entering fast recovery): sets ssthresh, returns it.
// `flight` is FlightSize (RFC 5681 §3.1 eqn. 4).
std::uint32_t cc_on_loss(CongestionState& c, std::uint32_t flight, std::uint32_t smss);
// A retransmission timeout: ssthresh as for a loss, cwnd one segment (RFC 5681 §3.1,
// RFC 9438 §4.8).
void cc_on_timeout(CongestionState& c, std::uint32_t flight, std::uint32_t smss);
// RFC 5681 §4.1 / RFC 9438 §5.8: after an idle period longer than the RTO, restart from the
// initial window.
void cc_after_idle(CongestionState& c, std::uint32_t initial_window);

}  // namespace coronet::stack::tcp
