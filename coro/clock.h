// Injectable clocks. A reactor reads time once per loop iteration through a Clock, so the same
// engine runs on the real monotonic clock or on virtual time that a test (or the reactor itself,
// when idle) advances.
#pragma once

#include <chrono>

namespace coronet::coro {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // Virtual clocks let an idle reactor jump straight to its next deadline.
  virtual bool is_virtual() const { return false; }
  virtual void advance_to(TimePoint) {}
};

// CLOCK_MONOTONIC (vDSO; no system call).
class MonotonicClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
  static MonotonicClock& instance();
};

// Virtual time: starts at `start` and moves only when told. Never goes backwards.
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(TimePoint start = TimePoint{}) : now_(start) {}
  TimePoint now() const override { return now_; }
  bool is_virtual() const override { return true; }
  void advance_to(TimePoint t) override {
    if (t > now_) now_ = t;
  }
  void advance(Duration d) { advance_to(now_ + d); }

 private:
  TimePoint now_;
};

}  // namespace coronet::coro
