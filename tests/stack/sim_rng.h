// Reproducible randomness for simulation workloads (tcp_random_sim_test, the soak): everything
// derives from std::mt19937_64 (its output is fixed by the standard); integer ranges use
// multiply-shift rather than std::uniform_int_distribution, whose algorithm differs between
// standard libraries, so a seed means the same run everywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "coro/clock.h"

namespace coronet::testing {

class SimRng {
 public:
  explicit SimRng(std::uint64_t seed) : gen_(seed) {}
  std::uint64_t next() { return gen_(); }
  // Uniform in [0, n).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(gen_()) * n) >> 64);
  }
  // Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  double unit() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  bool chance(double p) { return unit() < p; }
  // Log-uniform in [lo, hi]: small values as likely per octave as large ones.
  std::uint64_t log_between(std::uint64_t lo, std::uint64_t hi) {
    double v = std::exp(
        uniform(std::log(static_cast<double>(lo)), std::log(static_cast<double>(hi) + 1.0)));
    return std::clamp(static_cast<std::uint64_t>(v), lo, hi);
  }
  // Uniform in [lo, hi].
  coro::Duration duration(coro::Duration lo, coro::Duration hi) {
    return coro::Duration(static_cast<coro::Duration::rep>(
        between(static_cast<std::uint64_t>(lo.count()), static_cast<std::uint64_t>(hi.count()))));
  }
  // Log-uniform in [lo, hi].
  coro::Duration log_duration(coro::Duration lo, coro::Duration hi) {
    return coro::Duration(static_cast<coro::Duration::rep>(log_between(
        static_cast<std::uint64_t>(lo.count()), static_cast<std::uint64_t>(hi.count()))));
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace coronet::testing
