#include "coro/cancellation.h"

namespace coronet::coro {

bool CancellationRegistration::attach(CancellationState* state, Callback cb) {
  reset();
  if (state == nullptr || state->requested_) return false;
  state_ = state;
  cb_ = cb;
  prev_ = state->tail_;
  next_ = nullptr;
  if (state->tail_ != nullptr) {
    state->tail_->next_ = this;
  } else {
    state->head_ = this;
  }
  state->tail_ = this;
  return true;
}

void CancellationRegistration::reset() {
  if (state_ == nullptr) return;
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else {
    state_->head_ = next_;
  }
  if (next_ != nullptr) {
    next_->prev_ = prev_;
  } else {
    state_->tail_ = prev_;
  }
  state_ = nullptr;
  prev_ = next_ = nullptr;
}

CancellationState::~CancellationState() {
  // Registrations that outlive their source must not point at freed memory.
  while (head_ != nullptr) head_->reset();
}

Result<void> CancellationState::request() {
  if (requested_) return Error(Errc::kAlreadyCancelled);
  requested_ = true;
  // Pop one at a time: a callback may reset or destroy other registrations.
  while (CancellationRegistration* r = head_) {
    CancellationRegistration::Callback cb = r->cb_;
    r->reset();
    cb(r);
  }
  return {};
}

LinkedSource::LinkedSource(CancellationState* parent) {
  if (parent != nullptr && parent->requested()) {
    (void)source_.cancel();
    return;
  }
  link_.target = &source_;
  link_.attach(parent, [](CancellationRegistration* r) {
    (void)static_cast<Link*>(r)->target->cancel();
  });
}

}  // namespace coronet::coro
