#include "coro/waiter.h"

namespace coronet::coro {

Suspension::~Suspension() { unlink(); }

bool Suspension::watch(CancellationState* state) {
  reg_.owner = this;
  if (state == nullptr) return true;
  if (state->requested()) {
    done_ = true;
    cancelled_ = true;
    return false;
  }
  reg_.attach(state, &Suspension::on_cancel);
  return true;
}

void Suspension::unlink() {
  if (queue_ != nullptr) queue_->remove(*this);
}

bool Suspension::complete() {
  if (done_) return false;
  done_ = true;
  reg_.reset();
  unlink();
  detail::schedule_on(*reactor_, *this);
  return true;
}

void Suspension::on_cancel(CancellationRegistration* r) {
  Suspension* s = static_cast<Reg*>(r)->owner;
  if (s->done_) return;  // completion won the race: it resumes with its result
  s->done_ = true;
  s->cancelled_ = true;
  if (s->hook_ != nullptr) s->hook_(s, s->hook_ctx_);
  s->unlink();
  detail::schedule_on(*s->reactor_, *s);
}

WaitQueue::~WaitQueue() {
  while (pop_front() != nullptr) {
  }
}

void WaitQueue::push_back(Suspension& s) {
  if (s.queue_ != nullptr) s.queue_->remove(s);
  s.queue_ = this;
  s.prev_ = tail_;
  s.next_ = nullptr;
  if (tail_ != nullptr) {
    tail_->next_ = &s;
  } else {
    head_ = &s;
  }
  tail_ = &s;
  ++size_;
}

Suspension* WaitQueue::pop_front() {
  Suspension* s = head_;
  if (s != nullptr) remove(*s);
  return s;
}

void WaitQueue::remove(Suspension& s) {
  if (s.queue_ != this) return;
  if (s.prev_ != nullptr) {
    s.prev_->next_ = s.next_;
  } else {
    head_ = s.next_;
  }
  if (s.next_ != nullptr) {
    s.next_->prev_ = s.prev_;
  } else {
    tail_ = s.prev_;
  }
  s.prev_ = s.next_ = nullptr;
  s.queue_ = nullptr;
  --size_;
}

std::size_t WaitQueue::wake_all() {
  std::size_t n = 0;
  // complete() unlinks the head, so this terminates even if a waiter re-queues elsewhere.
  while (Suspension* s = head_) {
    if (s->complete()) ++n;
    else remove(*s);
  }
  return n;
}

bool WaitQueue::wake_one() {
  while (Suspension* s = head_) {
    if (s->complete()) return true;
    remove(*s);
  }
  return false;
}

}  // namespace coronet::coro
