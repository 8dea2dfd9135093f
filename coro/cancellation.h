// Cooperative cancellation. A CancellationSource owns the "cancel requested" flag; tokens observe
// it; registrations are intrusive callbacks run exactly once when cancellation is requested.
//
// Every coronet Task carries the token of whoever awaits it (inherited down the await chain), and
// every suspending awaitable in coro/ (sleep, events, cross-core submit, ...) registers with it, so
// cancelling a source resumes the coroutines waiting under it, each exactly once, with
// Errc::kCancelled. Callbacks only schedule work; they never resume a coroutine inline.
//
// Sources, tokens and registrations are core-local (not thread-safe), like everything a reactor
// owns. A source must outlive the tasks that use its token: with_timeout()/when_any() guarantee it
// by awaiting their children to completion.
#pragma once

#include "coro/result.h"

namespace coronet::coro {

class CancellationState;

// An intrusive callback hooked on a CancellationState. Detaches itself on destruction.
class CancellationRegistration {
 public:
  using Callback = void (*)(CancellationRegistration*);

  CancellationRegistration() = default;
  ~CancellationRegistration() { reset(); }
  CancellationRegistration(const CancellationRegistration&) = delete;
  CancellationRegistration& operator=(const CancellationRegistration&) = delete;

  // Hooks `cb` on `state`. Returns false (and hooks nothing) when `state` is null or cancellation
  // was already requested: the caller then handles cancellation itself, synchronously.
  bool attach(CancellationState* state, Callback cb);
  // Unhooks; no-op when not attached.
  void reset();
  bool attached() const { return state_ != nullptr; }

 private:
  friend class CancellationState;
  CancellationState* state_ = nullptr;
  CancellationRegistration* prev_ = nullptr;
  CancellationRegistration* next_ = nullptr;
  Callback cb_ = nullptr;
};

class CancellationState {
 public:
  CancellationState() = default;
  ~CancellationState();
  CancellationState(const CancellationState&) = delete;
  CancellationState& operator=(const CancellationState&) = delete;

  bool requested() const { return requested_; }
  // Sets the flag and runs every registration's callback once, in registration order (each is
  // detached before its callback runs). A second request changes nothing and reports
  // Errc::kAlreadyCancelled.
  Result<void> request();

 private:
  friend class CancellationRegistration;
  bool requested_ = false;
  CancellationRegistration* head_ = nullptr;
  CancellationRegistration* tail_ = nullptr;
};

// A cheap, copyable view of a source. A default token can never be cancelled.
class CancellationToken {
 public:
  CancellationToken() = default;
  explicit CancellationToken(CancellationState* s) : state_(s) {}
  bool can_be_cancelled() const { return state_ != nullptr; }
  bool cancellation_requested() const { return state_ != nullptr && state_->requested(); }
  CancellationState* state() const { return state_; }

 private:
  CancellationState* state_ = nullptr;
};

class CancellationSource {
 public:
  CancellationSource() = default;
  CancellationSource(const CancellationSource&) = delete;
  CancellationSource& operator=(const CancellationSource&) = delete;

  CancellationToken token() { return CancellationToken(&state_); }
  // Requests cancellation. Cancelling twice is harmless and reported: Errc::kAlreadyCancelled.
  Result<void> cancel() { return state_.request(); }
  bool cancelled() const { return state_.requested(); }

 private:
  CancellationState state_;
};

// A source that is also cancelled when a parent state is (the parent may be null). The building
// block of with_timeout/when_any: their children observe this source, which the caller's own
// token still reaches.
class LinkedSource {
 public:
  explicit LinkedSource(CancellationState* parent);
  LinkedSource(const LinkedSource&) = delete;
  LinkedSource& operator=(const LinkedSource&) = delete;

  CancellationSource& source() { return source_; }
  CancellationToken token() { return source_.token(); }
  Result<void> cancel() { return source_.cancel(); }
  bool cancelled() const { return source_.cancelled(); }

 private:
  struct Link : CancellationRegistration {
    CancellationSource* target = nullptr;
  };
  CancellationSource source_;
  Link link_;  // destroyed first: detaches from the parent before the source goes away
};

}  // namespace coronet::coro
