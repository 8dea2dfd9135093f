// Event: a manual-reset event for coroutines on one reactor. set() wakes every waiter (each
// resumes once, in the next batch) and stays set until reset().
#pragma once

#include "coro/reactor.h"

namespace coronet::coro {

class Event {
 public:
  Event() = default;
  explicit Event(bool initially_set) : set_(initially_set) {}

  void set() {
    set_ = true;
    waiters_.wake_all();
  }
  void reset() { set_ = false; }
  bool is_set() const { return set_; }
  std::size_t waiters() const { return waiters_.size(); }

  class Awaiter {
   public:
    explicit Awaiter(Event& e) : e_(e) {}
    bool await_ready() const noexcept { return e_.set_; }
    template <typename P>
    bool await_suspend(std::coroutine_handle<P> h) {
      reactor_ = Reactor::current();
      if (reactor_ == nullptr) {
        off_reactor_ = true;
        return false;
      }
      if (!s_.prepare(h, *reactor_)) return false;
      e_.waiters_.push_back(s_);
      return true;
    }
    Result<void> await_resume() const {
      if (off_reactor_) return Error(Errc::kNotOnReactor, "Event::wait outside a reactor thread");
      return s_.result();
    }

   private:
    Event& e_;
    Reactor* reactor_ = nullptr;
    Suspension s_;
    bool off_reactor_ = false;
  };
  // co_await e.wait(): ok once set, Errc::kCancelled if the waiter's token is cancelled first.
  Awaiter wait() { return Awaiter(*this); }

 private:
  bool set_ = false;
  WaitQueue waiters_;
};

}  // namespace coronet::coro
