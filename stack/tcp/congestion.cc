#include "stack/tcp/congestion.h"

#include <algorithm>
#include <cmath>

namespace coronet::stack::tcp {
namespace {

constexpr double kCubicC = 0.4;     // RFC 9438 §5.1
constexpr double kCubicBeta = 0.7;  // RFC 9438 §4.6 multiplicative decrease factor
// RFC 9438 §4.3: the additive increase that makes CUBIC as aggressive as Reno on average.
constexpr double kCubicAlpha = 3.0 * (1.0 - kCubicBeta) / (1.0 + kCubicBeta);

double seconds(coro::Duration d) { return std::chrono::duration<double>(d).count(); }

void reno_avoidance(CongestionState& c, std::uint32_t acked, std::uint32_t smss) {
  // RFC 5681 §3.1: about one SMSS per RTT, counted in bytes acknowledged (eqn. 3 with byte
  // counting), so stretch ACKs and ACK loss do not slow growth.
  c.bytes_acked += acked;
  if (c.bytes_acked >= c.cwnd) {
    c.bytes_acked -= c.cwnd;
    c.cwnd += smss;
  }
}

void cubic_avoidance(CongestionState& c, std::uint32_t acked, std::uint32_t smss,
                     coro::TimePoint now, coro::Duration rtt) {
  const double cwnd = static_cast<double>(c.cwnd) / smss;  // segments
  if (!c.epoch_valid) {
    // RFC 9438 §4.2: a new epoch starts on the first ACK of congestion avoidance.
    c.epoch = now;
    c.epoch_valid = true;
    if (c.w_max < cwnd) {  // no earlier loss (or we already grew past it): plateau is here
      c.w_max = cwnd;
      c.k = 0;
    } else {
      c.k = std::cbrt((c.w_max - cwnd) / kCubicC);  // §4.2 eqn. 2
    }
    c.w_est = cwnd;
  }
  const double t = seconds(now - c.epoch);
  const double target_t = t + seconds(rtt);
  double target = kCubicC * std::pow(target_t - c.k, 3) + c.w_max;  // §4.2 eqn. 1
  // §4.4/4.5: the target stays within [cwnd, 1.5 * cwnd].
  target = std::clamp(target, cwnd, 1.5 * cwnd);
  const double segs = static_cast<double>(acked) / smss;
  // §4.3: the Reno-friendly estimate grows by alpha segments per window acknowledged; alpha
  // becomes 1 once the estimate has regained the window of the last reduction.
  const double alpha = c.w_est >= c.cwnd_prior ? 1.0 : kCubicAlpha;
  c.w_est += alpha * segs / cwnd;
  double next;
  if (c.w_est > kCubicC * std::pow(t - c.k, 3) + c.w_max) {
    next = std::max(cwnd, c.w_est);  // Reno-friendly region
  } else {
    next = cwnd + (target - cwnd) / cwnd * segs;  // concave / convex region
  }
  const auto bytes = static_cast<std::uint64_t>(next * smss);
  c.cwnd = static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes, 0x7fffffff));
}

}  // namespace

const char* cc_name(CcAlgorithm a) {
  switch (a) {
    case CcAlgorithm::kNewReno: return "newreno";
    case CcAlgorithm::kCubic: return "cubic";
  }
  return "?";
}

void cc_on_ack(CongestionState& c, std::uint32_t acked, std::uint32_t smss, coro::TimePoint now,
               coro::Duration rtt) {
  if (c.cwnd < c.ssthresh) {
    // RFC 5681 §3.1 slow start: up to one SMSS per ACK (RFC 3465 L = 1 SMSS).
    c.cwnd += std::min(acked, smss);
    return;
  }
  if (c.algo == CcAlgorithm::kCubic) {
    cubic_avoidance(c, acked, smss, now, rtt);
  } else {
    reno_avoidance(c, acked, smss);
  }
}

std::uint32_t cc_on_loss(CongestionState& c, std::uint32_t flight, std::uint32_t smss) {
  c.bytes_acked = 0;
  if (c.algo == CcAlgorithm::kCubic) {
    // RFC 9438 §4.6-4.7: remember the plateau (lowered further when losses come before it is
    // regained: fast convergence), shrink by beta.
    const double cwnd = static_cast<double>(c.cwnd) / smss;
    c.w_max = (cwnd < c.w_max) ? cwnd * (1.0 + kCubicBeta) / 2.0 : cwnd;
    c.cwnd_prior = cwnd;
    c.epoch_valid = false;
    const auto reduced = static_cast<std::uint32_t>(static_cast<double>(c.cwnd) * kCubicBeta);
    c.ssthresh = std::max(reduced, 2 * smss);
  } else {
    c.ssthresh = std::max(flight / 2, 2 * smss);  // RFC 5681 §3.1 eqn. 4
  }
  return c.ssthresh;
}

void cc_on_timeout(CongestionState& c, std::uint32_t flight, std::uint32_t smss) {
  if (c.algo == CcAlgorithm::kCubic) {
    cc_on_loss(c, flight, smss);
    // RFC 9438 §4.8: the first avoidance stage after a timeout starts a fresh curve (K = 0,
    // W_max = the window at that time): forgetting W_max here does that at the next epoch.
    c.w_max = 0;
  } else {
    c.ssthresh = std::max(flight / 2, 2 * smss);
    c.bytes_acked = 0;
  }
  c.cwnd = smss;  // the loss window
}

void cc_after_idle(CongestionState& c, std::uint32_t initial_window) {
  c.cwnd = std::min(c.cwnd, initial_window);
  c.epoch_valid = false;
}

}  // namespace coronet::stack::tcp
